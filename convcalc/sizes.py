"""`convcalc sizes`: the input sizes a symbolic spec accepts, for a range of sizes.

The scan itself, and the rule it reads off the sizes, are convcalc.symbolic.scan's; this
module loads the spec, analyzes it and scans each symbol asked for.
"""

from __future__ import annotations

import re

from convcalc.analysis import Report, analyze
from convcalc.dims import MAX_SPATIAL
from convcalc.errors import ConvCalcError
from convcalc.spec import load_path, set_sizes
from convcalc.symbolic.scan import SizeScan, consecutive_runs, scan
from convcalc.text import shown

__all__ = ["MAX_SCAN", "SizeScan", "consecutive_runs", "parse_range", "scan", "scan_path"]

MAX_SCAN = 2**16  # sizes one scan may list
RANGE = re.compile(r"([0-9]{1,9})\.\.([0-9]{1,9})")


def parse_range(text: str) -> tuple[int, int]:
    """'32..1024' -> (32, 1024)."""
    match = RANGE.fullmatch(text)
    if not match:
        raise ConvCalcError(f"{shown(text)} is not LOW..HIGH, e.g. 32..1024", field="--range")
    low_size, high_size = int(match[1]), int(match[2])
    if not 1 <= low_size <= high_size <= MAX_SPATIAL:
        raise ConvCalcError(
            f"{shown(text)}: need 1 <= LOW <= HIGH <= {MAX_SPATIAL}", field="--range"
        )
    if high_size - low_size >= MAX_SCAN:
        raise ConvCalcError(f"{shown(text)} spans more than {MAX_SCAN} sizes", field="--range")
    return low_size, high_size


def scan_path(
    path: str,
    dims: list[str] | None,
    low: int,
    high: int,
    exact: bool = False,
    values: dict[str, int] | None = None,
) -> tuple[Report, list[SizeScan]]:
    """The spec at `path`'s report and one scan per symbol in `dims` (default: each)."""
    network = load_path(path)
    values = values or {}
    try:
        report = analyze(set_sizes(network, values) if values else network)
        if not report.symbols:
            if network.symbols:
                raise ConvCalcError(
                    "gives every symbol a size: leave the one to scan unset",
                    field="--set",
                )
            raise ConvCalcError(
                "its sizes are all numbers: write the sizes to scan as symbols,"
                " e.g. input: [3, H, W]",
                field="input",
            )
        scans = [
            scan(report, name, low, high, exact, network.constraints.get(name), values)
            for name in (dims or report.symbols)
        ]
    except ConvCalcError as error:
        raise error.add_context(file=str(path)) from None
    return report, scans
