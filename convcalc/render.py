"""Reports to text: rich tables, JSON, markdown and CSV. The only place output is formatted."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from convcalc.analysis import Report, Row
from convcalc.errors import ConvCalcError

if TYPE_CHECKING:  # `shapes` renders without loading the compare machinery
    from convcalc.compare import Candidate, Comparison, LayerChange, LayerFigures

FORMATS = ("table", "json", "markdown", "csv")
BAR_WIDTH = 10


def human(count: int | float, binary: bool = False) -> str:
    """25557032 -> '25.6 M'; with binary, bytes in KiB, MiB, GiB."""
    base, units = (
        (1024, ("B", "KiB", "MiB", "GiB", "TiB"))
        if binary
        else (1000, ("", "k", "M", "G", "T", "P"))
    )
    value = float(count)
    unit = 0
    while abs(value) >= base and unit < len(units) - 1:
        value /= base
        unit += 1
    if unit == 0:
        return f"{int(count):,} {units[0]}".rstrip()
    digits = 2 if abs(value) < 10 else 1 if abs(value) < 100 else 0
    return f"{value:.{digits}f} {units[unit]}"


def exact(value: Fraction | int) -> int | str:
    """An int when whole, else the exact fraction as 'p/q' (JSON and CSV)."""
    value = Fraction(value)
    return value.numerator if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def per_dim(values: tuple) -> str:
    """(7, 7) -> '7x7'; fractions stay exact ('3/2x3/2')."""
    return "x".join(str(exact(value)) for value in values) or "-"


@dataclass(frozen=True)
class Column:
    """One column of the per-layer table: its header, its human text, its exact value."""

    header: str
    text: Callable[[Row, Report], str]
    value: Callable[[Row], object]
    numeric: bool = False


def _share(row: Row, report: Report) -> str:
    total = report.totals.macs
    if not total:
        return ""
    share = row.macs / total
    return f"{'█' * round(share * BAR_WIDTH):<{BAR_WIDTH}} {share:6.1%}"


COLUMNS: dict[str, Column] = {
    "name": Column("name", lambda row, _: row.name, lambda row: row.name),
    "type": Column("type", lambda row, _: row.type, lambda row: row.type),
    "inputs": Column(
        "inputs",
        lambda row, _: "" if row.follows_previous else ", ".join(row.inputs),
        lambda row: " ".join(row.inputs),
    ),
    "output": Column(
        "output", lambda row, _: per_dim(row.output_shape), lambda row: per_dim(row.output_shape)
    ),
    "params": Column("params", lambda row, _: human(row.params), lambda row: row.params, True),
    "macs": Column("MACs", lambda row, _: human(row.macs), lambda row: row.macs, True),
    "flops": Column("FLOPs", lambda row, _: human(row.flops), lambda row: row.flops, True),
    "connections": Column(
        "connections", lambda row, _: human(row.connections), lambda row: row.connections, True
    ),
    "memory": Column(
        "memory", lambda row, _: human(row.output_bytes, True), lambda row: row.output_bytes, True
    ),
    "rf": Column(
        "RF",
        lambda row, _: per_dim(row.receptive_field),
        lambda row: per_dim(row.receptive_field),
    ),
    "stride": Column(
        "eff. stride",
        lambda row, _: per_dim(row.effective_stride),
        lambda row: per_dim(row.effective_stride),
    ),
    "padding": Column(
        "eff. padding",
        lambda row, _: per_dim(row.effective_padding),
        lambda row: per_dim(row.effective_padding),
    ),
    "share": Column("share of MACs", _share, lambda row: row.macs),
}
DEFAULT_COLUMNS = ("name", "type", "inputs", "output", "params", "macs", "rf", "share")


def parse_columns(text: str | None) -> tuple[str, ...]:
    """'name,params,macs' -> column keys, checked against the known ones."""
    if not text:
        return DEFAULT_COLUMNS
    keys = tuple(key.strip().lower() for key in text.split(",") if key.strip())
    if not keys:
        raise ConvCalcError("no columns named", field="--columns")
    for key in keys:
        if key not in COLUMNS:
            raise ConvCalcError(
                f"unknown column {key!r} (known: {', '.join(COLUMNS)})", field="--columns"
            )
    return keys


def totals_lines(report: Report) -> list[tuple[str, str]]:
    """(label, human value) pairs of the totals."""
    totals = report.totals
    return [
        ("params", f"{human(totals.params)} ({totals.params:,})"),
        ("buffers", f"{totals.buffers:,}"),
        ("MACs", f"{human(totals.macs)} ({totals.macs:,})"),
        ("FLOPs", f"{human(totals.flops)} ({totals.flops:,})"),
        ("connections", f"{human(totals.connections)} ({totals.connections:,})"),
        ("peak activation memory", human(totals.peak_activation_bytes, True)),
        ("model size", human(totals.model_bytes, True)),
    ]


def title(report: Report) -> str:
    """'ResNet-50: input 3x224x224, batch 1, float32'."""
    shape = "x".join(map(str, report.input))
    return f"{report.name}: input {shape}, batch {report.batch}, {report.dtype}"


def to_dict(report: Report) -> dict:
    """The JSON object of one report (keys are a contract: scripts depend on them)."""
    return {
        "name": report.name,
        "input": list(report.input),
        "batch": report.batch,
        "dtype": report.dtype,
        "layers": [
            {
                "name": row.name,
                "type": row.type,
                "inputs": list(row.inputs),
                "output_shape": list(row.output_shape),
                "params": row.params,
                "buffers": row.buffers,
                "macs": row.macs,
                "flops": row.flops,
                "connections": row.connections,
                "output_bytes": row.output_bytes,
                "receptive_field": [exact(v) for v in row.receptive_field],
                "effective_stride": [exact(v) for v in row.effective_stride],
                "effective_padding": [exact(v) for v in row.effective_padding],
                "notes": list(row.notes),
                **(
                    {
                        "parts": [
                            {
                                "name": part.name,
                                "output_shape": list(part.output.as_tuple()),
                                "params": part.cost.params,
                                "macs": part.cost.macs,
                                "flops": part.cost.flops,
                                "connections": part.cost.connections,
                            }
                            for part in row.parts
                        ]
                    }
                    if row.parts
                    else {}
                ),
            }
            for row in report.layers
        ],
        "totals": {
            "params": report.totals.params,
            "trainable_params": report.totals.trainable_params,
            "buffers": report.totals.buffers,
            "macs": report.totals.macs,
            "flops": report.totals.flops,
            "connections": report.totals.connections,
            "peak_activation_bytes": report.totals.peak_activation_bytes,
            "model_bytes": report.totals.model_bytes,
        },
    }


def render_json(reports: list[Report]) -> str:
    """One object for one spec, a list of objects for several."""
    data = [to_dict(report) for report in reports]
    return json.dumps(data[0] if len(data) == 1 else data, indent=2)


def render_csv(reports: list[Report], columns: tuple[str, ...]) -> str:
    """One row per layer with exact values; the first column names the network."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["network", *(COLUMNS[key].header for key in columns)])
    for report in reports:
        for row in report.layers:
            writer.writerow([report.name, *(COLUMNS[key].value(row) for key in columns)])
    return buffer.getvalue()


def render_markdown(reports: list[Report], columns: tuple[str, ...]) -> str:
    """GitHub-flavoured markdown: a heading, the layer table, the totals and the notes."""
    out = []
    for report in reports:
        out.append(f"### {title(report)}\n")
        out.append("| " + " | ".join(COLUMNS[key].header for key in columns) + " |")
        out.append(
            "|" + "|".join("---:" if COLUMNS[key].numeric else "---" for key in columns) + "|"
        )
        for row in report.layers:
            cells = (COLUMNS[key].text(row, report).replace("|", "\\|") for key in columns)
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
        out.extend(f"- **{label}**: {value}" for label, value in totals_lines(report))
        out.extend(f"- note: `{layer}`: {note}" for layer, note in report.notes)
        out.append("")
    return "\n".join(out)


def print_tables(reports: list[Report], columns: tuple[str, ...], file=None) -> None:
    """One table per spec, parts indented beneath their layer, then totals and notes.

    On a terminal rich draws it, with colour; elsewhere (pipes, CI logs) the same box is
    written directly: rich's layout engine would be a third of the run time of `shapes`.
    """
    import sys

    file = file or sys.stdout
    if not file.isatty():
        file.write("".join(plain_table(report, columns) for report in reports))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=file, highlight=False)
    for report in reports:
        headers, widths, right, rows = _table_layout(report, columns)
        table = Table()
        for header, width, numeric in zip(headers, widths, right, strict=True):
            # Fixed widths spare rich from measuring every cell (most of its time).
            table.add_column(
                header, justify="right" if numeric else "left", width=width, no_wrap=True
            )
        for cells, is_part in rows:
            table.add_row(*(Text(cell) for cell in cells), style="dim" if is_part else None)
        console.print(Text(title(report)))
        console.print(table)
        totals = Table.grid(padding=(0, 2))
        totals.add_column()
        totals.add_column(justify="right")
        for label, value in totals_lines(report):
            totals.add_row(label, value)
        console.print(totals)
        for layer, note in report.notes:
            console.print(Text.assemble(("note", "yellow"), f": {layer}: {note}"))
        console.print()


def plain_table(report: Report, columns: tuple[str, ...]) -> str:
    """The table of `print_tables` as plain text, in rich's heavy-head box."""
    headers, widths, right, rows = _table_layout(report, columns)

    def line(left: str, fill: str, middle: str, end: str) -> str:
        return left + middle.join(fill * (width + 2) for width in widths) + end

    def cells(texts: list[str], bar: str) -> str:
        padded = (
            text.rjust(width) if numeric else text.ljust(width)
            for text, width, numeric in zip(texts, widths, right, strict=True)
        )
        return bar + bar.join(f" {text} " for text in padded) + bar

    out = [title(report), line("┏", "━", "┳", "┓"), cells(headers, "┃"), line("┡", "━", "╇", "┩")]
    out.extend(cells(texts, "│") for texts, _ in rows)
    out.append(line("└", "─", "┴", "┘"))
    totals = totals_lines(report)
    label_width = max(len(label) for label, _ in totals)
    value_width = max(len(value) for _, value in totals)
    out.extend(f"{label:<{label_width}}  {value:>{value_width}}" for label, value in totals)
    out.extend(f"note: {layer}: {note}" for layer, note in report.notes)
    return "\n".join(out) + "\n\n"


def _table_layout(
    report: Report, columns: tuple[str, ...]
) -> tuple[list[str], list[int], list[bool], list[tuple[list[str], bool]]]:
    """Headers, widths, right-justification and rows (cells, is a part) of a report's table."""
    rows = []
    for row in report.layers:
        rows.append(([COLUMNS[key].text(row, report) for key in columns], False))
        rows.extend((_part_cells(part, columns), True) for part in row.parts)
    headers = [COLUMNS[key].header for key in columns]
    widths = [
        max(len(header), *(len(texts[position]) for texts, _ in rows))
        for position, header in enumerate(headers)
    ]
    return headers, widths, [COLUMNS[key].numeric for key in columns], rows


def _part_cells(part, columns: tuple[str, ...]) -> list[str]:
    cells = {
        "name": f"  └ {part.name}",
        "output": per_dim(part.output.as_tuple()),
        "params": human(part.cost.params),
        "macs": human(part.cost.macs),
        "flops": human(part.cost.flops),
        "connections": human(part.cost.connections),
    }
    return [cells.get(key, "") for key in columns]


# `convcalc compare`: kernel stacks or spec files side by side.

COMPARE_FORMATS = ("table", "json")
ARROW = "→"
# The whole-network figures shown side by side for spec files: label, Totals field, bytes.
SIDE_BY_SIDE = (
    ("params", "params", False),
    ("MACs", "macs", False),
    ("FLOPs", "flops", False),
    ("peak activation memory", "peak_activation_bytes", True),
    ("model size", "model_bytes", True),
)


def percent(change: Fraction | None) -> str:
    """-7/25 -> '-28%': an exact relative change rounded half away from zero; None -> 'n/a'."""
    if change is None:
        return "n/a"
    whole = int(abs(change) * 100 + Fraction(1, 2))
    if whole == 0:
        return "0%"
    return f"{'-' if change < 0 else '+'}{whole}%"


def shape_text(shape: tuple[int | None, ...]) -> str:
    """(128, None, None) -> '128x?x?': '?' for a size that depends on the input."""
    return "x".join("?" if size is None else str(size) for size in shape)


def verdict_lines(comparison: Comparison) -> list[str]:
    """One sentence per receptive field that two or more candidates share."""
    if not comparison.verdict:
        return ["no two candidates share a receptive field, so none is cheapest at equal field"]
    lines = []
    for found in comparison.verdict:
        field = per_dim(found.receptive_field)
        if found.macs_change == 0 and found.params_change == 0:
            lines.append(f"receptive field {field}: the candidates cost the same")
        else:
            lines.append(
                f"receptive field {field}: {found.label} is cheapest, MACs"
                f" {percent(found.macs_change)} and params {percent(found.params_change)}"
                f" against {found.against}"
            )
    return lines


def comparison_to_dict(comparison: Comparison) -> dict:
    """The JSON object of a comparison (keys are a contract: scripts depend on them)."""
    data = {
        "macs_per_output_position": comparison.per_output_position,
        "candidates": [
            _candidate_dict(candidate, with_totals=comparison.diff is not None)
            for candidate in comparison.candidates
        ],
        "verdict": [
            {
                "receptive_field": [exact(value) for value in found.receptive_field],
                "cheapest": found.label,
                "against": found.against,
                "macs_change": percent(found.macs_change),
                "params_change": percent(found.params_change),
            }
            for found in comparison.verdict
        ],
    }
    if comparison.diff is not None:
        data["diff"] = [
            {
                "name": change.name,
                "change": change.change,
                "before": _figures_dict(change.before),
                "after": _figures_dict(change.after),
            }
            for change in comparison.diff
        ]
    return data


def render_comparison_json(comparison: Comparison) -> str:
    """The comparison as indented JSON."""
    return json.dumps(comparison_to_dict(comparison), indent=2)


def print_comparison(comparison: Comparison) -> None:
    """Rich tables: the candidates (stacks) or the totals and the layer diff (spec files)."""
    import sys

    from rich.console import Console
    from rich.text import Text

    console = Console(width=None if sys.stdout.isatty() else 200, highlight=False)
    if comparison.diff is None:
        console.print(_candidates_table(comparison))
    else:
        console.print(_side_by_side_table(comparison.candidates))
        console.print(_diff_table(comparison.diff) if comparison.diff else "no layer changed")
    for candidate in comparison.candidates:
        for layer, note in candidate.report.notes:
            console.print(
                Text.assemble(("note", "yellow"), f": {candidate.label}: {layer}: {note}")
            )
    for line in verdict_lines(comparison):
        console.print(Text.assemble(("verdict", "bold"), f": {line}"))


def _candidate_dict(candidate: Candidate, with_totals: bool) -> dict:
    data = {
        "label": candidate.label,
        "layers": candidate.layers,
        "params": candidate.params,
        "macs": candidate.macs,
        "receptive_field": [exact(value) for value in candidate.receptive_field],
        "output_shape": list(candidate.output_shape),
        "nonlinearities": candidate.nonlinearities,
        "params_vs_first": percent(candidate.params_change),
        "macs_vs_first": percent(candidate.macs_change),
        "notes": [f"{layer}: {note}" for layer, note in candidate.report.notes],
    }
    if with_totals:
        # A spec file: its whole-network totals, as `shapes` gives them.
        data["totals"] = to_dict(candidate.report)["totals"]
    return data


def _figures_dict(figures: LayerFigures | None) -> dict | None:
    if figures is None:
        return None
    return {
        "type": figures.type,
        "output_shape": list(figures.output_shape),
        "params": figures.params,
        "macs": figures.macs,
        "output_bytes": figures.output_bytes,
        "receptive_field": [exact(value) for value in figures.receptive_field],
    }


def _candidates_table(comparison: Comparison):
    from rich.table import Table

    first = comparison.candidates[0].report
    if comparison.per_output_position:
        title = (
            f"{first.input[0]} input channels; MACs per output position of the last layer,"
            " for a large input (give --size for totals)"
        )
    else:
        title = f"input {'x'.join(map(str, first.input))}"
    table = Table(title=title, title_justify="left")
    table.add_column("candidate")
    for header in ("layers", "params", "MACs", "RF", "output", "nonlinearities"):
        table.add_column(header, justify="left" if header in ("RF", "output") else "right")
    table.add_column("params vs first", justify="right")
    table.add_column("MACs vs first", justify="right")
    for candidate in comparison.candidates:
        table.add_row(
            candidate.label,
            str(candidate.layers),
            f"{candidate.params:,}",
            f"{candidate.macs:,}",
            per_dim(candidate.receptive_field),
            shape_text(candidate.output_shape),
            str(candidate.nonlinearities),
            percent(candidate.params_change),
            percent(candidate.macs_change),
        )
    return table


def _side_by_side_table(candidates: list[Candidate]):
    from rich.table import Table

    from convcalc import compare

    first, last = candidates[0], candidates[-1]
    table = Table(title=f"{first.label} vs {last.label}", title_justify="left")
    table.add_column("")
    for candidate in candidates:
        table.add_column(candidate.label, justify="right")
    table.add_column("change", justify="right")
    table.add_row(
        "layers",
        *(str(candidate.layers) for candidate in candidates),
        f"{last.layers - first.layers:+}",
    )
    for label, key, binary in SIDE_BY_SIDE:
        values = [getattr(candidate.report.totals, key) for candidate in candidates]
        texts = [human(value, True) if binary else f"{value:,}" for value in values]
        table.add_row(label, *texts, percent(compare.relative(values[-1], values[0])))
    table.add_row(
        "receptive field", *(per_dim(candidate.receptive_field) for candidate in candidates), ""
    )
    table.add_row("output", *(shape_text(candidate.output_shape) for candidate in candidates), "")
    return table


def _diff_table(diff: list[LayerChange]):
    from rich.table import Table

    table = Table(title="layers added, removed or changed", title_justify="left")
    for header in ("change", "layer", "type", "output", "params", "MACs", "memory", "RF"):
        table.add_column(
            header, justify="right" if header in ("params", "MACs", "memory") else "left"
        )
    texts = (
        ("type", str),
        ("output_shape", per_dim),
        ("params", lambda value: f"{value:,}"),
        ("macs", lambda value: f"{value:,}"),
        ("output_bytes", lambda value: human(value, True)),
        ("receptive_field", per_dim),
    )
    for change in diff:
        cells = [change.change, change.name]
        for key, text in texts:
            before = text(getattr(change.before, key)) if change.before else None
            after = text(getattr(change.after, key)) if change.after else None
            if before is None or after is None or before == after:
                cells.append(after if after is not None else before)
            else:
                cells.append(f"{before} {ARROW} {after}")
        table.add_row(*cells)
    return table


# `convcalc verify`. The Verification type lives in convcalc.verify, which loads NumPy:
# it is only named in annotations here, so that importing render keeps NumPy out.

VERIFY_FORMATS = ("table", "json")
VERIFY_COLUMNS = (
    ("shape", "shape"),
    ("params", "params"),
    ("macs", "MACs"),
    ("connections", "connections"),
    ("receptive_field", "RF"),
)


def _measured_value(value: object) -> object:
    """A check's value as JSON: tuples as lists, fractions exact, unmeasurable as null."""
    if isinstance(value, dict):
        return {key: _measured_value(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return [_measured_value(item) for item in value]
    if isinstance(value, Fraction):
        return exact(value)
    return value


def verification_to_dict(verification: Verification) -> dict:  # noqa: F821
    """The JSON object of one verify run (keys are a contract, see README)."""
    return {
        "name": verification.report.name,
        "ok": verification.ok,
        "seconds": round(verification.seconds, 3),
        "forward_seconds": round(verification.forward_seconds, 3),
        "seed": verification.seed,
        "input": list(verification.report.input),
        "batch": verification.report.batch,
        "layers": [
            {
                "name": layer.name,
                "ok": layer.ok,
                "checks": {
                    name: {
                        "predicted": _measured_value(check.predicted),
                        "measured": _measured_value(check.measured),
                        "ok": check.ok,
                    }
                    for name, check in layer.checks.items()
                },
            }
            for layer in verification.layers
        ],
    }


def render_verification_json(verification: Verification) -> str:  # noqa: F821
    """The verify run as indented JSON."""
    return json.dumps(verification_to_dict(verification), indent=2)


def _field_text(value: dict) -> str:
    """{'size', 'stride', 'padding'} per dim -> '7x7 /2x2 -3x3' ('?' where unmeasurable)."""
    parts = []
    for key, mark in (("size", ""), ("stride", "/"), ("padding", "-")):
        values = value[key]
        parts.append(mark + "x".join("?" if v is None else str(exact(v)) for v in values))
    return " ".join(parts)


def check_text(name: str, value: object) -> str:
    """One predicted or measured value as a short text."""
    if name == "receptive_field":
        return _field_text(value)
    if name == "shape":
        return per_dim(value)
    return f"{value:,}"


def mismatch_lines(verification: Verification) -> list[str]:  # noqa: F821
    """'layer 12 (conv3): macs: predicted 1,000, measured 999' for each disagreement."""
    return [
        f"layer {layer.index} ({layer.name}): {name}: predicted"
        f" {check_text(name, check.predicted)}, measured {check_text(name, check.measured)}"
        for layer, name, check in verification.mismatches
    ]


def print_verification(verification: Verification) -> None:  # noqa: F821
    """A rich table with a tick or a cross per layer and check, then the times."""
    import sys

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(width=None if sys.stdout.isatty() else 200, highlight=False)
    table = Table(title=f"verify {title(verification.report)}", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("layer")
    table.add_column("type")
    for _, header in VERIFY_COLUMNS:
        table.add_column(header, justify="center")
    for layer in verification.layers:
        marks = [
            Text("✓", "green") if layer.checks[key].ok else Text("✗", "bold red")
            for key, _ in VERIFY_COLUMNS
        ]
        table.add_row(str(layer.index), layer.name, layer.type, *marks)
    console.print(table)
    failed = len(verification.mismatches)
    verdict = (
        Text("all checks agree", "green")
        if verification.ok
        else Text(f"{failed} check{'s differ' if failed > 1 else ' differs'}", "bold red")
    )
    console.print(verdict)
    console.print(
        f"{len(verification.layers)} layers, seed {verification.seed}:"
        f" {verification.seconds:.2f} s in all, {verification.forward_seconds:.2f} s forward"
    )
    for line in mismatch_lines(verification):
        console.print(Text(line, "red"))


class verify_progress:  # noqa: N801 (used as a function in a with statement)
    """A transient progress bar on stderr while verify runs (nothing when not a terminal)."""

    def __enter__(self) -> Callable[[int, int], None]:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TimeElapsedColumn

        console = Console(stderr=True)
        self.progress = Progress(
            "verifying",
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self.progress.start()
        self.task = self.progress.add_task("verify", total=None)

        def update(done: int, total: int) -> None:
            self.progress.update(self.task, completed=done, total=total)

        return update

    def __exit__(self, *exc_info) -> None:
        self.progress.stop()
