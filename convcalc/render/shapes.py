"""`convcalc shapes`: each layer's figures as a table (plain or rich), JSON, markdown or CSV."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from convcalc import figures
from convcalc.errors import ConvCalcError, option
from convcalc.plain import report_dict
from convcalc.render.encoding import to_json
from convcalc.render.table import Block, Column, Styled, Table, csv_rows, markdown, write
from convcalc.render.table import Row as TableRow
from convcalc.render.table import widths as column_widths
from convcalc.render.values import count_text, human, is_formula, markdown_text, per_dim
from convcalc.text import cut, printable, shown

if TYPE_CHECKING:
    from convcalc.analysis import Report, Row
    from convcalc.render import View

BAR_WIDTH = 10


@dataclass(frozen=True)
class LayerColumn:
    """One column of the per-layer table: its header, its human text, its exact value, and
    its key in CSV (that of the same figure in JSON)."""

    header: str
    text: Callable[[Row, Report], str]
    value: Callable[[Row, Report], object]
    numeric: bool = False
    key: str = ""
    from_spec: bool = False  # the text is spec text (names), escaped in markdown
    brief: Callable[[Row, Report], str] | None = None  # the markdown text, where shorter
    figure: figures.Figure | None = None  # the layer figure it shows, if it shows one


def _share_value(row: Row, report: Report) -> float | None:
    """The layer's share of the network's MACs, 0 to 1, to six decimals (0 without MACs;
    None when they are formulas)."""
    total = report.totals.macs
    if is_formula(total):
        return None
    return round(row.macs / total, 6) if total else 0.0


def _share(row: Row, report: Report) -> str:
    total = report.totals.macs
    if not total or is_formula(total):
        return ""
    share = row.macs / total
    return f"{'█' * round(share * BAR_WIDTH):<{BAR_WIDTH}} {share:6.1%}"


INPUTS_SHOWN = 4  # names of a long inputs list shown in the table (JSON and CSV give all)


def _listed(names: tuple[str, ...] | list[str]) -> str:
    """'a, b, c, d, ... (+12 more)': a long inputs list folded, so that one concat of
    10,000 layers cannot widen every row of the table."""
    if len(names) <= INPUTS_SHOWN + 1:
        return ", ".join(names)
    return f"{', '.join(names[:INPUTS_SHOWN])}, ... (+{len(names) - INPUTS_SHOWN} more)"


def _share_percent(row: Row, report: Report) -> str:
    total = report.totals.macs
    return f"{row.macs / total:.1%}" if total and not is_formula(total) else ""


def figure_text(figure: figures.Figure, value: object) -> str:
    """A figure's value in human units: 25.6 M, 98.0 MiB, 64x56x56, 7x7."""
    if figure.unit in (figures.SHAPE, figures.FIELD):
        return per_dim(value)
    return human(value, figure.unit == figures.BYTES)


def _figure_column(figure: figures.Figure) -> LayerColumn:
    """The column of a layer figure: human units in the table, the exact value in CSV."""
    name = figure.name

    def text(row: Row, _: Report) -> str:
        return figure_text(figure, row.figures[name])

    numeric = figure.unit in (figures.COUNT, figures.BYTES)
    return LayerColumn(
        figure.header,
        text,
        (lambda row, _: row.figures[name]) if numeric else text,
        numeric=numeric,
        key=name,
        figure=figure,
    )


_NAME = LayerColumn(
    "name", lambda row, _: row.name, lambda row, _: row.name, key="name", from_spec=True
)
_TYPE = LayerColumn("type", lambda row, _: row.type, lambda row, _: row.type, key="type")
_INPUTS = LayerColumn(
    "inputs",
    lambda row, _: "" if row.follows_previous else _listed(row.inputs),
    lambda row, _: " ".join(row.inputs),
    key="inputs",
    from_spec=True,
)
_SHARE = LayerColumn(
    "share of MACs", _share, _share_value, key="share_of_macs", brief=_share_percent
)


def layer_columns() -> dict[str, LayerColumn]:
    """The `--columns` keys and their columns: the layer's name, type and inputs, then one
    per figure of figures.LAYER_FIGURES that has a column key, then the share of MACs."""
    return {
        "name": _NAME,
        "type": _TYPE,
        "inputs": _INPUTS,
        **{
            figure.column: _figure_column(figure)
            for figure in figures.LAYER_FIGURES
            if figure.column
        },
        "share": _SHARE,
    }


DEFAULT_COLUMNS = ("name", "type", "inputs", "output", "params", "macs", "rf", "share")
# With `--train`: the backward's MACs and the bytes saved for it after the forward's MACs.
TRAINING_COLUMNS = (
    "name",
    "type",
    "inputs",
    "output",
    "params",
    "macs",
    "backward_macs",
    "saved",
    "rf",
    "share",
)


def training_columns() -> tuple[str, ...]:
    """The column keys of the training figures, which need `--train`."""
    return tuple(figure.column for figure in figures.LAYER_FIGURES if figure.training)


def default_columns(reports: list[Report]) -> tuple[str, ...]:
    """The columns shown when none are chosen: the training ones for a training report."""
    return TRAINING_COLUMNS if any(r.training is not None for r in reports) else DEFAULT_COLUMNS


def parse_columns(text: str | None) -> tuple[str, ...]:
    """'name,params,macs' -> column keys, checked against the known ones; () for none
    chosen (each writer then shows `default_columns`)."""
    if not text:
        return ()
    keys = tuple(key.strip().lower() for key in text.split(",") if key.strip())
    if not keys:
        raise ConvCalcError("no columns named", field=option("columns"))
    known = layer_columns()
    for key in keys:
        if key not in known:
            raise ConvCalcError(
                f"unknown column {shown(key)} (known: {', '.join(known)})",
                field=option("columns"),
            )
    return keys


def totals_lines(report: Report, with_outputs: bool = True) -> list[tuple[str, str]]:
    """(label, human value) pairs of the totals that figures.TOTALS gives a label, and
    (with several outputs, `with_outputs`) of the outputs."""
    lines = []
    for total in figures.TOTALS:
        if total.label is None or total.name not in report.totals.figures:
            continue
        value = report.totals.figures[total.name]
        if total.unit == figures.BYTES and value is not None:
            text = human(value, binary=True)
        else:
            text = count_text(value, units=total.scaled)
        lines.append((total.label, text))
    if with_outputs and len(report.output_rows) > 1:  # one: the table's last row says it
        lines.append(("outputs", outputs_text(report)))
    return lines


def inputs_text(report: Report) -> str:
    """'input 3x224x224', or 'inputs image 3x64x64, mask 1x64x64' for named inputs."""
    if not report.named_inputs:
        return f"input {'x'.join(map(str, report.input))}"
    listed = ", ".join(f"{name} {'x'.join(map(str, shape))}" for name, shape in report.inputs)
    return f"input{'s' if len(report.inputs) > 1 else ''} {listed}"


def title(report: Report) -> str:
    """'ResNet-50: input 3x224x224, batch 1, float32', and the sizes set or assumed."""
    facts = [f"{name}={size}" for name, size in report.sizes_set]
    if report.assumptions:
        facts.append(f"assuming {' and '.join(report.assumptions)}")
    extra = "".join(f", {fact}" for fact in facts)
    return f"{report.name}: {inputs_text(report)}, batch {report.batch}, {report.dtype}{extra}"


def outputs_text(report: Report) -> str:
    """'logits 1000, aux 1000': each network output's name and shape."""
    return ", ".join(
        f"{row.name} {'x'.join(map(str, row.output_shape))}" for row in report.output_rows
    )


def write_table(reports: list[Report], view: View) -> str:
    """One table per spec, parts indented and dim beneath their layer, then the totals and
    the notes: a plain box off a terminal, rich on one (with the columns that fit)."""
    columns = view.columns or default_columns(reports)
    terminal = view.terminal
    blocks: list[Block] = []
    for report in reports:
        table = layer_table(report, columns)
        # The title is a line of its own, as long as it is: not the table's, which rich
        # would fold to the table's width.
        blocks.append(printable(title(report)))
        blocks.append(table if terminal is None else fitted(table, columns, terminal.width))
    return write(blocks, terminal)


def layer_table(report: Report, columns: tuple[str, ...]) -> Table:
    """A report's per-layer table, its totals and notes after it."""
    known = layer_columns()
    chosen = [known[key] for key in columns]
    rows = []
    for row in report.layers:
        rows.append(TableRow([_table_cell(column, row, report) for column in chosen]))
        rows.extend(TableRow(_part_cells(part, chosen), dim=True) for part in row.parts)
    totals = totals_lines(report)
    label_width = max(len(label) for label, _ in totals)
    value_width = max(len(value) for _, value in totals)
    # Formulas read from the left; numbers line up on the right.
    align = "<" if report.symbols else ">"
    lines: list = [
        f"{label:<{label_width}}  {value:{align}{value_width}}".rstrip() for label, value in totals
    ]
    lines.extend(
        (Styled("note", "yellow"), printable(f": {layer}: {note}")) for layer, note in report.notes
    )
    lines.append("")
    return Table(None, _table_columns(columns), rows, lines)


def _table_columns(columns: tuple[str, ...]) -> list[Column]:
    known = layer_columns()
    return [
        Column(
            known[key].header,
            "right" if known[key].numeric else "left",
            # Names and inputs lists fold onto more lines when space is short.
            foldable=known[key].from_spec,
            spec_text=known[key].from_spec,
        )
        for key in columns
    ]


FOLDED_WIDTH = 12  # the narrowest a folded name or inputs column becomes
# The columns left out first when a terminal is too narrow for the table; name, output,
# params and MACs always stay.
DROP_ORDER = ("share", "padding", "stride", "connections", "flops", "memory", "inputs", "rf")


def fitted(table: Table, columns: tuple[str, ...], available: int) -> Table:
    """`table` with the columns that fit in `available` characters, and a line after it
    naming those left out."""
    shown, dropped = fitting_columns(columns, column_widths(table), available)
    if not dropped:
        return table
    rows = [TableRow([row.cells[position] for position in shown], row.dim) for row in table.rows]
    left_out = (
        f"columns left out to fit {available} columns: {', '.join(dropped)}"
        " (widen the terminal, or choose them with --columns)"
    )
    return Table(
        table.title,
        [table.columns[position] for position in shown],
        rows,
        [left_out, *table.lines],
    )


def fitting_columns(
    columns: tuple[str, ...], widths: list[int], available: int
) -> tuple[list[int], list[str]]:
    """The positions of the columns that fit in `available` characters, with names and
    inputs folded as far as FOLDED_WIDTH, and the keys of those left out, in DROP_ORDER."""

    known = layer_columns()

    def needed(positions: list[int]) -> int:
        cells = sum(
            min(widths[position], FOLDED_WIDTH)
            if known[columns[position]].from_spec
            else widths[position]
            for position in positions
        )
        return cells + 3 * len(positions) + 1  # a space each side and a border per column

    shown = list(range(len(columns)))
    dropped = []
    for key in DROP_ORDER:
        if needed(shown) <= available:
            break
        if key in columns:
            shown.remove(columns.index(key))
            dropped.append(key)
    return shown, dropped


NAME_WIDTH = 60  # a name in the table is cut past this (JSON and CSV give it whole)


def _table_cell(column: LayerColumn, row: Row, report: Report) -> str:
    text = column.text(row, report)
    return cut(printable(text), NAME_WIDTH) if column.from_spec else text


def _part_cells(part, columns: list[LayerColumn]) -> list[str]:
    """A part's row under its layer: its name, and the figures given for parts."""
    values = figures.part_figures(part.output, part.cost)
    cells = []
    for column in columns:
        if column is _NAME:
            cells.append(f"  └ {part.name}")
        elif column.figure is not None and column.figure.name in values:
            cells.append(figure_text(column.figure, values[column.figure.name]))
        else:
            cells.append("")
    return cells


def write_json(reports: list[Report], view: View) -> str:
    """One object for one spec, a list of objects for several."""
    data = [report_dict(report) for report in reports]
    return to_json(data[0] if len(data) == 1 else data)


def write_markdown(reports: list[Report], view: View) -> str:
    """GitHub-flavoured markdown: a heading, the layer table, the totals and the notes."""
    columns = view.columns or default_columns(reports)
    chosen = [layer_columns()[key] for key in columns]
    out = []
    for report in reports:
        out.append(f"### {markdown_text(title(report))}\n")
        rows = [
            TableRow([(column.brief or column.text)(row, report) for column in chosen])
            for row in report.layers
        ]
        out.extend(markdown(Table(None, _table_columns(columns), rows)))
        out.append("")
        out.extend(
            f"- **{label}**: {value}" for label, value in totals_lines(report, with_outputs=False)
        )
        if len(report.output_rows) > 1:  # layer names: text, escaped
            out.append(f"- **outputs**: {markdown_text(outputs_text(report))}")
        out.extend(
            f"- note: {markdown_text(layer)}: {markdown_text(note)}" for layer, note in report.notes
        )
        out.append("")
    return "\n".join(out) + "\n"


def write_csv(reports: list[Report], view: View) -> str:
    """One row per layer with exact values, then a `total` row of the figures that sum;
    the first column names the network, and the headers are the JSON keys."""
    columns = view.columns or default_columns(reports)
    chosen = [layer_columns()[key] for key in columns]
    rows = []
    for report in reports:
        rows.extend(
            TableRow([report.name, *(column.value(row, report) for column in chosen)])
            for row in report.layers
        )
        rows.append(TableRow([report.name, *(_csv_total(report, column) for column in chosen)]))
    headers = [Column("network"), *(Column(column.key) for column in chosen)]
    return csv_rows(Table(None, headers, rows))


def _csv_total(report: Report, column: LayerColumn) -> object:
    """A column's cell in the totals row: `total` under name, the total of a figure that
    sums (figures.Total.sums), empty elsewhere."""
    if column is _NAME:
        return "total"
    for total in figures.TOTALS:
        if column.figure is not None and total.sums == column.figure.name:
            return report.totals.figures[total.name]
    return ""
