"""`convcalc sizes`: the input sizes a symbolic spec accepts, as text or JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

from convcalc.render.encoding import to_json
from convcalc.render.shapes import inputs_text

if TYPE_CHECKING:
    from convcalc.commands import SizesResult
    from convcalc.render import View

REASONS_SHOWN = 3  # excluded sizes explained in the text output
RUNS_SHOWN = 8  # runs of consecutive sizes listed in the text output


def compact_sizes(sizes: list[int]) -> str:
    """[16, 32, 48, 64] -> '16, 32, 48, 64'; runs as '224-255'; a long even-spaced list
    as '32, 48, 64, ..., 1024 (every 16)'."""
    if not sizes:
        return "none"
    steps = {second - first for first, second in zip(sizes, sizes[1:], strict=False)}
    if len(sizes) > 6 and len(steps) == 1 and steps != {1}:
        return f"{sizes[0]}, {sizes[1]}, {sizes[2]}, ..., {sizes[-1]} (every {steps.pop()})"
    from convcalc.symbolic.scan import consecutive_runs  # loaded already by `convcalc sizes`

    runs = consecutive_runs(sizes)
    texts = [str(low) if low == high else f"{low}-{high}" for low, high in runs]
    if len(texts) > RUNS_SHOWN:  # the JSON format lists them all
        return f"{', '.join(texts[: RUNS_SHOWN - 1])}, ..., {texts[-1]} ({len(runs)} runs)"
    return ", ".join(texts)


def write_table(result: SizesResult, view: View) -> str:
    """Per symbol: the rule, the sizes in the range, and why the first excluded ones fail."""
    report, scans = result.report, result.scans
    out = [f"{report.name}: {inputs_text(report)}"]
    for scan in scans:
        mode = ""
        if scan.exact:
            mode = ", none dropping rows or columns or cropping off centre (--exact)"
        out.append(f"{scan.dim}{mode}:")
        out.append(f"  rule: {scan.rule or 'no rule of the form multiple / remainder / bounds'}")
        out.append(
            f"  sizes in {scan.low}..{scan.high} ({len(scan.sizes)}): {compact_sizes(scan.sizes)}"
        )
        # The failures just past the least valid size say most (a skip that does not line
        # up); below it, every size fails for being too small.
        least = scan.least or 0
        shown = sorted(scan.reasons.items(), key=lambda item: (item[0] < least, item[0]))
        for size, (layer, condition) in shown[:REASONS_SHOWN]:
            out.append(f"  {scan.dim}={size} fails at {layer}: {condition}")
    return "\n".join(out) + "\n"


def write_json(result: SizesResult, view: View) -> str:
    """{"dim", "sizes", "rule", ...} for one symbol; a list of them for several."""
    data = [
        {
            "dim": scan.dim,
            "range": [scan.low, scan.high],
            "exact": scan.exact,
            "sizes": scan.sizes,
            "rule": scan.rule,
        }
        for scan in result.scans
    ]
    return to_json(data[0] if len(data) == 1 else data)
