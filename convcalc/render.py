"""Reports to text: rich tables, JSON, markdown and CSV. The only place output is formatted."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from convcalc.analysis import Report, Row
from convcalc.errors import ConvCalcError

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


def print_tables(reports: list[Report], columns: tuple[str, ...]) -> None:
    """Rich tables on the terminal: one per spec, parts indented beneath their layer."""
    import sys

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(width=None if sys.stdout.isatty() else 200, highlight=False)
    for report in reports:
        rows = []
        for row in report.layers:
            rows.append(([COLUMNS[key].text(row, report) for key in columns], None))
            rows.extend((_part_cells(part, columns), "dim") for part in row.parts)
        table = Table(title=title(report), title_justify="left")
        for position, key in enumerate(columns):
            column = COLUMNS[key]
            # Fixed widths spare rich from measuring every cell (most of its time).
            width = max(len(column.header), *(len(cells[position]) for cells, _ in rows))
            table.add_column(
                column.header,
                justify="right" if column.numeric else "left",
                width=width,
                no_wrap=True,
            )
        for cells, style in rows:
            table.add_row(*(Text(cell) for cell in cells), style=style)
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
