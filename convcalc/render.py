"""Reports to text: rich tables, JSON, markdown and CSV. The only place output is formatted."""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from convcalc.errors import ConvCalcError, option
from convcalc.flags import flag, said
from convcalc.plain import exact, formula, is_formula, report_dict, totals_dict
from convcalc.text import cut, printable, shown

if TYPE_CHECKING:  # `shapes` renders without loading the other commands' machinery
    from convcalc.analysis import Report, Row
    from convcalc.budget import Outcome
    from convcalc.checking import CheckRun, SpecCheck
    from convcalc.comparison import Candidate, Comparison, LayerChange, LayerFigures
    from convcalc.verification import Verification  # loads NumPy: annotations only

FORMATS = ("table", "json", "markdown", "csv")
BAR_WIDTH = 10


UNKNOWN = "?"  # a figure of a symbolic spec given only once its sizes are set


def human(count: int | float | None, binary: bool = False) -> str:
    """25557032 -> '25.6 M'; with binary, bytes in KiB, MiB, GiB. A formula stays a formula,
    and a figure known only once the sizes are set is '?'."""
    if count is None:
        return UNKNOWN
    if is_formula(count):
        return formula(count)
    base, units = (
        (1024, ("B", "KiB", "MiB", "GiB", "TiB"))
        if binary
        else (1000, ("", "k", "M", "G", "T", "P"))
    )
    if abs(count) >= 1000 * base ** (len(units) - 1):  # past the largest unit
        return _scientific(int(count)) + (" B" if binary else "")
    value = float(count)
    unit = 0
    while unit < len(units) - 1 and abs(value) >= base:
        value /= base
        unit += 1
    if unit == 0:
        return f"{int(count):,} {units[0]}".rstrip()
    # Three significant digits; a value that rounds up to the base moves to the next unit
    # (999,999 is '1.00 M', not '1000 k').
    digits = 2 if abs(value) < 9.995 else 1 if abs(value) < 99.95 else 0
    if round(abs(value), digits) >= base and unit < len(units) - 1:
        value /= base
        unit += 1
        digits = 2
    return f"{value:.{digits}f} {units[unit]}"


def _scientific(count: int) -> str:
    """10**999 -> '1.00e999', in integer arithmetic: a float would overflow."""
    magnitude = abs(count)
    exponent = int(math.log10(magnitude))  # a float estimate, corrected exactly:
    while 10**exponent > magnitude:
        exponent -= 1
    while 10 ** (exponent + 1) <= magnitude:
        exponent += 1
    leading = magnitude // 10 ** (exponent - 2)  # the three leading digits
    return f"{'-' if count < 0 else ''}{leading // 100}.{leading % 100:02d}e{exponent}"


def per_dim(values: tuple | None) -> str:
    """(7, 7) -> '7x7'; fractions stay exact ('3/2x3/2'); None (known once the sizes are
    set) is '?'."""
    if values is None:
        return UNKNOWN
    # Formulas are set apart by spaces, sums in parentheses: 64 x floor(H/2) x (W - 4).
    if any(is_formula(value) for value in values):
        return " x ".join(
            f"({formula(value)})" if _is_sum(value) else str(exact(value)) for value in values
        )
    return "x".join(str(exact(value)) for value in values) or "-"


def _is_sum(value: object) -> bool:
    return is_formula(value) and bool(getattr(value, "is_Add", False))


def plain(text: str):
    """Spec text (a name, a path) as a rich Text: never read as markup, one line."""
    from rich.text import Text

    return Text(printable(text))


# Characters that markdown or HTML would read as syntax in a pull-request comment.
_MARKDOWN_SYNTAX = re.compile(r"([\\`*_\[\]|~])")


def markdown_text(text: str) -> str:
    """Text for a markdown cell or line, shown as written: HTML and markdown syntax
    escaped, and `@name` kept from mentioning anyone (a zero-width space after the @, as
    GitHub's own bots write it)."""
    escaped = _MARKDOWN_SYNTAX.sub(r"\\\1", printable(text)).replace("&", "&amp;")
    escaped = escaped.replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace("@", "@&#8203;")


# A cell a spreadsheet would run as a formula (OWASP, "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@")
_NUMBER_TEXT = re.compile(r"-?[0-9]+(/[0-9]+)?(x-?[0-9]+(/[0-9]+)?)*")  # 7x7, -3/2x0


def csv_text(value: object) -> object:
    """A CSV cell: text printable, and quoted with ' where it would start a formula."""
    if not isinstance(value, str):
        return value
    text = printable(value)
    if text.startswith(_FORMULA_START) and not _NUMBER_TEXT.fullmatch(text):
        return "'" + text
    return text


@dataclass(frozen=True)
class Column:
    """One column of the per-layer table: its header, its human text, its exact value, and
    its key in CSV (that of the same figure in JSON)."""

    header: str
    text: Callable[[Row, Report], str]
    value: Callable[[Row, Report], object]
    numeric: bool = False
    key: str = ""
    from_spec: bool = False  # the text is spec text (names), escaped in markdown
    brief: Callable[[Row, Report], str] | None = None  # the markdown text, where shorter


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


COLUMNS: dict[str, Column] = {
    "name": Column(
        "name", lambda row, _: row.name, lambda row, _: row.name, key="name", from_spec=True
    ),
    "type": Column("type", lambda row, _: row.type, lambda row, _: row.type, key="type"),
    "inputs": Column(
        "inputs",
        lambda row, _: "" if row.follows_previous else _listed(row.inputs),
        lambda row, _: " ".join(row.inputs),
        key="inputs",
        from_spec=True,
    ),
    "output": Column(
        "output",
        lambda row, _: per_dim(row.output_shape),
        lambda row, _: per_dim(row.output_shape),
        key="output_shape",
    ),
    "params": Column(
        "params", lambda row, _: human(row.params), lambda row, _: row.params, True, "params"
    ),
    "macs": Column("MACs", lambda row, _: human(row.macs), lambda row, _: row.macs, True, "macs"),
    "flops": Column(
        "FLOPs", lambda row, _: human(row.flops), lambda row, _: row.flops, True, "flops"
    ),
    "connections": Column(
        "connections",
        lambda row, _: human(row.connections),
        lambda row, _: row.connections,
        True,
        "connections",
    ),
    "memory": Column(
        "memory",
        lambda row, _: human(row.output_bytes, True),
        lambda row, _: row.output_bytes,
        True,
        "output_bytes",
    ),
    "rf": Column(
        "RF",
        lambda row, _: per_dim(row.receptive_field),
        lambda row, _: per_dim(row.receptive_field),
        key="receptive_field",
    ),
    "stride": Column(
        "eff. stride",
        lambda row, _: per_dim(row.effective_stride),
        lambda row, _: per_dim(row.effective_stride),
        key="effective_stride",
    ),
    "padding": Column(
        "eff. padding",
        lambda row, _: per_dim(row.effective_padding),
        lambda row, _: per_dim(row.effective_padding),
        key="effective_padding",
    ),
    "share": Column(
        "share of MACs", _share, _share_value, key="share_of_macs", brief=_share_percent
    ),
}
DEFAULT_COLUMNS = ("name", "type", "inputs", "output", "params", "macs", "rf", "share")


def parse_columns(text: str | None) -> tuple[str, ...]:
    """'name,params,macs' -> column keys, checked against the known ones."""
    if not text:
        return DEFAULT_COLUMNS
    keys = tuple(key.strip().lower() for key in text.split(",") if key.strip())
    if not keys:
        raise ConvCalcError("no columns named", field=option("columns"))
    for key in keys:
        if key not in COLUMNS:
            raise ConvCalcError(
                f"unknown column {shown(key)} (known: {', '.join(COLUMNS)})",
                field=option("columns"),
            )
    return keys


def count_text(value: object, units: bool = True) -> str:
    """A total: '25.6 M (25,557,032)' (or '25,557,032' without units), a formula, or
    '? (set the sizes)'."""
    if value is None:
        return f"{UNKNOWN} (set the sizes)"
    if is_formula(value):
        return formula(value)
    return f"{human(value)} ({value:,})" if units else f"{value:,}"


def totals_lines(report: Report) -> list[tuple[str, str]]:
    """(label, human value) pairs of the totals."""
    totals = report.totals
    peak = totals.peak_activation_bytes
    return [
        ("params", count_text(totals.params)),
        ("buffers", count_text(totals.buffers, units=False)),
        ("MACs", count_text(totals.macs)),
        ("FLOPs", count_text(totals.flops)),
        ("connections", count_text(totals.connections)),
        ("peak activation memory", count_text(peak) if peak is None else human(peak, True)),
        ("model size", human(totals.model_bytes, True)),
    ]


def title(report: Report) -> str:
    """'ResNet-50: input 3x224x224, batch 1, float32', and the sizes set or assumed."""
    shape = "x".join(map(str, report.input))
    facts = [f"{name}={size}" for name, size in report.sizes_set]
    if report.assumptions:
        facts.append(f"assuming {' and '.join(report.assumptions)}")
    extra = "".join(f", {fact}" for fact in facts)
    return f"{report.name}: input {shape}, batch {report.batch}, {report.dtype}{extra}"


def render_json(reports: list[Report]) -> str:
    """One object for one spec, a list of objects for several."""
    data = [report_dict(report) for report in reports]
    return json.dumps(data[0] if len(data) == 1 else data, indent=2)


def render_csv(reports: list[Report], columns: tuple[str, ...]) -> str:
    """One row per layer with exact values, then a `total` row of the figures that sum;
    the first column names the network, and the headers are the JSON keys."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["network", *(COLUMNS[key].key for key in columns)])
    for report in reports:
        for row in report.layers:
            values = (COLUMNS[key].value(row, report) for key in columns)
            writer.writerow([csv_text(report.name), *(_csv_cell(value) for value in values)])
        totals = (_csv_total(report, key) for key in columns)
        writer.writerow([csv_text(report.name), *(_csv_cell(value) for value in totals)])
    return buffer.getvalue()


def _csv_total(report: Report, column: str) -> object:
    """A column's cell in the totals row: `total` under name, the figure where it sums."""
    if column == "name":
        return "total"
    # The columns whose key is a field of the totals are those that sum.
    return getattr(report.totals, COLUMNS[column].key, "")


def _csv_cell(value: object) -> object:
    """A formula as convcalc prints it; a figure known only once sizes are set, empty."""
    if value is None:
        return ""
    return formula(value) if is_formula(value) else csv_text(value)


def render_markdown(reports: list[Report], columns: tuple[str, ...]) -> str:
    """GitHub-flavoured markdown: a heading, the layer table, the totals and the notes."""
    out = []
    for report in reports:
        out.append(f"### {markdown_text(title(report))}\n")
        out.append("| " + " | ".join(COLUMNS[key].header for key in columns) + " |")
        out.append(
            "|" + "|".join("---:" if COLUMNS[key].numeric else "---" for key in columns) + "|"
        )
        for row in report.layers:
            cells = (_markdown_cell(COLUMNS[key], row, report) for key in columns)
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
        out.extend(f"- **{label}**: {value}" for label, value in totals_lines(report))
        out.extend(
            f"- note: {markdown_text(layer)}: {markdown_text(note)}" for layer, note in report.notes
        )
        out.append("")
    return "\n".join(out)


def _markdown_cell(column: Column, row: Row, report: Report) -> str:
    text = (column.brief or column.text)(row, report)
    return markdown_text(text) if column.from_spec else text.replace("|", "\\|")


def print_tables(
    reports: list[Report], columns: tuple[str, ...], file=None, width: int | None = None
) -> None:
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

    console = Console(file=file, highlight=False, **({"width": width} if width else {}))
    for report in reports:
        headers, widths, right, rows = _table_layout(report, columns)
        shown, dropped = fitting_columns(columns, widths, console.width)
        table = Table()
        for position in shown:
            key, header, width = columns[position], headers[position], widths[position]
            # Fixed widths spare rich from measuring every cell (most of its time). Numbers
            # are never cut; names and inputs lists fold onto more lines when space is short.
            foldable = COLUMNS[key].from_spec
            table.add_column(
                header,
                justify="right" if right[position] else "left",
                width=None if foldable else width,
                min_width=min(width, FOLDED_WIDTH) if foldable else width,
                max_width=width if foldable else None,
                no_wrap=not foldable,
                overflow="fold",
            )
        for cells, is_part in rows:
            texts = (Text(cells[position]) for position in shown)
            table.add_row(*texts, style="dim" if is_part else None)
        console.print(plain(title(report)))
        console.print(table)
        if dropped:
            console.print(
                f"columns left out to fit {console.width} columns: {', '.join(dropped)}"
                " (widen the terminal, or choose them with --columns)"
            )
        totals = Table.grid(padding=(0, 2))
        totals.add_column()
        totals.add_column(justify="left" if report.symbols else "right")
        for label, value in totals_lines(report):
            totals.add_row(label, value)
        console.print(totals)
        for layer, note in report.notes:
            console.print(Text.assemble(("note", "yellow"), printable(f": {layer}: {note}")))
        console.print()


FOLDED_WIDTH = 12  # the narrowest a folded name or inputs column becomes
# The columns left out first when a terminal is too narrow for the table; name, output,
# params and MACs always stay.
DROP_ORDER = ("share", "padding", "stride", "connections", "flops", "memory", "inputs", "rf")


def fitting_columns(
    columns: tuple[str, ...], widths: list[int], available: int
) -> tuple[list[int], list[str]]:
    """The positions of the columns that fit in `available` characters, with names and
    inputs folded as far as FOLDED_WIDTH, and the keys of those left out, in DROP_ORDER."""

    def needed(positions: list[int]) -> int:
        cells = sum(
            min(widths[position], FOLDED_WIDTH)
            if COLUMNS[columns[position]].from_spec
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


def unclipped(table):
    """`table` with every column folding rather than cutting: a number too wide for its
    column goes on over two lines instead of ending in '…'."""
    for column in table.columns:
        column.overflow = "fold"
    return table


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
    # Formulas read from the left; numbers line up on the right.
    align = "<" if report.symbols else ">"
    out.extend(
        f"{label:<{label_width}}  {value:{align}{value_width}}".rstrip() for label, value in totals
    )
    out.extend(f"note: {layer}: {note}" for layer, note in report.notes)
    return "\n".join(out) + "\n\n"


def _table_layout(
    report: Report, columns: tuple[str, ...]
) -> tuple[list[str], list[int], list[bool], list[tuple[list[str], bool]]]:
    """Headers, widths, right-justification and rows (cells, is a part) of a report's table."""
    rows = []
    for row in report.layers:
        cells = [_table_cell(COLUMNS[key], row, report) for key in columns]
        rows.append((cells, False))
        rows.extend((_part_cells(part, columns), True) for part in row.parts)
    headers = [COLUMNS[key].header for key in columns]
    widths = [
        max(len(header), *(len(texts[position]) for texts, _ in rows))
        for position, header in enumerate(headers)
    ]
    return headers, widths, [COLUMNS[key].numeric for key in columns], rows


NAME_WIDTH = 60  # a name in the table is cut past this (JSON and CSV give it whole)


def _table_cell(column: Column, row: Row, report: Report) -> str:
    text = column.text(row, report)
    return cut(printable(text), NAME_WIDTH) if column.from_spec else text


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
    """One sentence per receptive field that two or more candidates share; for two spec
    files, what the second does to the first."""
    if comparison.diff is not None:
        return [spec_verdict(comparison)]
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


def spec_verdict(comparison: Comparison) -> str:
    """'new.yaml against old.yaml: params +73.03%, MACs +40.01%; 2 layers changed, 2
    affected, 1 added'."""
    from convcalc.comparison import relative

    first, last = comparison.candidates[0], comparison.candidates[-1]
    growth = ", ".join(
        f"{label} {growth_text(relative(getattr(last.report.totals, key), value))}"
        for label, key in (("params", "params"), ("MACs", "macs"))
        for value in [getattr(first.report.totals, key)]
    )
    counts: dict[str, int] = {}
    for change in comparison.diff or []:
        counts[change.change] = counts.get(change.change, 0) + 1
    layers = ", ".join(f"{count} {change}" for change, count in counts.items())
    verdict = f"{last.label} against {first.label}: {growth}"
    return verdict + (f"; layers: {layers}" if layers else "; no layer changed")


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
        data["diff"] = diff_to_list(comparison.diff)
    return data


def render_comparison_json(comparison: Comparison) -> str:
    """The comparison as indented JSON."""
    return json.dumps(comparison_to_dict(comparison), indent=2)


def _console():
    """A rich console for stdout: the terminal's width there, 200 columns in pipes and CI logs."""
    import sys

    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 200, highlight=False)


def print_comparison(comparison: Comparison) -> None:
    """Rich tables: the candidates (stacks) or the totals and the layer diff (spec files)."""
    from rich.text import Text

    console = _console()
    if comparison.diff is None:
        console.print(unclipped(_candidates_table(comparison)))
    else:
        console.print(unclipped(_side_by_side_table(comparison.candidates)))
        if comparison.diff:
            console.print(unclipped(_diff_table(comparison.diff)))
        else:
            console.print("no layer changed")
    for candidate in comparison.candidates:
        for layer, note in candidate.report.notes:
            console.print(
                Text.assemble(
                    ("note", "yellow"), printable(f": {candidate.label}: {layer}: {note}")
                )
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
        data["totals"] = totals_dict(candidate.report.totals)
    return data


def diff_to_list(diff: list[LayerChange]) -> list[dict]:
    """A layer diff as JSON: name, change, and the figures before and after (or null)."""
    return [
        {
            "name": change.name,
            "change": change.change,
            "before": _figures_dict(change.before),
            "after": _figures_dict(change.after),
        }
        for change in diff
    ]


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
            f"{plural(first.input[0], 'input channel')}; MACs per output position of the last"
            " layer, for a large input (give --size for totals)"
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
            plain(candidate.label),
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

    from convcalc.comparison import relative

    first, last = candidates[0], candidates[-1]
    table = Table(title=plain(f"{first.label} vs {last.label}"), title_justify="left")
    table.add_column("")
    for candidate in candidates:
        table.add_column(plain(candidate.label), justify="right")
    table.add_column("change", justify="right")
    table.add_row(
        "layers",
        *(str(candidate.layers) for candidate in candidates),
        f"{last.layers - first.layers:+}",
    )
    for label, key, binary in SIDE_BY_SIDE:
        values = [getattr(candidate.report.totals, key) for candidate in candidates]
        texts = [human(value, True) if binary else f"{value:,}" for value in values]
        table.add_row(label, *texts, percent(relative(values[-1], values[0])))
    table.add_row(
        "receptive field", *(per_dim(candidate.receptive_field) for candidate in candidates), ""
    )
    table.add_row("output", *(shape_text(candidate.output_shape) for candidate in candidates), "")
    return table


def _diff_table(diff: list[LayerChange]):
    from rich.table import Table

    table = Table(
        title="layers added, removed, changed (their own fields, params or MACs) or affected"
        " (their output or field, through a change upstream)",
        title_justify="left",
    )
    for header in DIFF_HEADERS:
        table.add_column(header, justify="right" if header in DIFF_NUMERIC else "left")
    for change in diff:
        table.add_row(*map(plain, diff_cells(change)))
    return table


DIFF_HEADERS = ("change", "layer", "type", "output", "params", "MACs", "memory", "RF")
DIFF_NUMERIC = ("params", "MACs", "memory")
_DIFF_TEXTS = (
    ("type", str),
    ("output_shape", per_dim),
    ("params", lambda value: f"{value:,}"),
    ("macs", lambda value: f"{value:,}"),
    ("output_bytes", lambda value: human(value, True)),
    ("receptive_field", per_dim),
)


def diff_cells(change: LayerChange) -> list[str]:
    """One row of a layer diff, under DIFF_HEADERS: a changed figure reads 'before → after'."""
    cells = [change.change, change.name]
    for key, text in _DIFF_TEXTS:
        before = text(getattr(change.before, key)) if change.before else None
        after = text(getattr(change.after, key)) if change.after else None
        if before is None or after is None or before == after:
            cells.append(after if after is not None else before)
        else:
            cells.append(f"{before} {ARROW} {after}")
    return cells


# `convcalc verify`.

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


def verification_to_dict(verification: Verification) -> dict:
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


def render_verification_json(verification: Verification) -> str:
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


def mismatch_lines(verification: Verification) -> list[str]:
    """'layer 12 (conv3): macs: predicted 1,000, measured 999' for each disagreement."""
    return [
        f"layer {layer.index} ({layer.name}): {name}: predicted"
        f" {check_text(name, check.predicted)}, measured {check_text(name, check.measured)}"
        for layer, name, check in verification.mismatches
    ]


def print_verification(verification: Verification) -> None:
    """A rich table with a tick or a cross per layer and check, then the times (the cli
    names each mismatch on stderr)."""
    from rich.table import Table
    from rich.text import Text

    console = _console()
    table = Table(title=plain(f"verify {title(verification.report)}"), title_justify="left")
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
        table.add_row(str(layer.index), plain(layer.name), layer.type, *marks)
    console.print(unclipped(table))
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


# `convcalc check`.

CHECK_FORMATS = ("table", "json", "markdown", "github")
# The first line of the markdown report, so that a CI job can find and update its comment.
MARKDOWN_MARKER = "<!-- convcalc check -->"


def growth_text(change: Fraction | None) -> str:
    """1/20 -> '+5%', 731/10000 -> '+7.31%': a relative change to two decimals."""
    if change is None:
        return "n/a"
    text = f"{float(round(change * 100, 2)):.2f}".rstrip("0").rstrip(".")
    if text in ("0", "-0"):
        return "0%"
    return f"{'+' if change > 0 else ''}{text}%"


def amount(value: object, kind: str) -> str:
    """A limit or a figure, as text for its kind of budget (see budget.Outcome)."""
    if kind == "count":
        return f"{value:,}"
    if kind == "bytes":
        return human(value, True)
    if kind == "growth":
        return growth_text(value)
    return per_dim(value)


def margin_text(outcome: Outcome) -> str:
    """How far from the limit: what is left of it, or how far past it."""
    kind = outcome.kind
    if kind in ("count", "bytes"):
        if outcome.ok:
            return f"{amount(outcome.limit - outcome.actual, kind)} left"
        return f"{_excess_text(outcome)} over"
    if kind == "field" and not outcome.ok:
        return f"short by {per_dim(outcome.excess)}"
    if kind == "growth" and outcome.excess is not None:
        return f"{growth_text(outcome.excess)} over"
    return ""


def _excess_text(outcome: Outcome) -> str:
    """A count's or a byte size's excess, exact, and relative to the limit: '1,938 (+194%)'."""
    relative = Fraction(outcome.excess, outcome.limit) if outcome.limit else None
    unit = " B" if outcome.kind == "bytes" else ""
    return f"{outcome.excess:,}{unit} ({growth_text(relative)})"


def violation_text(outcome: Outcome) -> str:
    """What an exceeded budget found, and the layers that contribute most."""
    kind, limit, actual = outcome.kind, outcome.limit, outcome.actual
    if kind == "field":
        return (
            f"receptive field {per_dim(actual)} at {outcome.layer} is below the minimum"
            f" {per_dim(limit)} (short by {per_dim(outcome.excess)})"
        )
    if kind == "shape":
        return f"output shape {per_dim(actual)} of {outcome.layer} is not {per_dim(limit)}"
    metric = outcome.budget.split(".")[-1].removeprefix("max_")
    from convcalc.budget import BYTE_METRICS

    unit = "bytes" if metric in BYTE_METRICS else "count"
    if kind == "growth":
        text = (
            f"{metric} grew {growth_text(actual)} ({amount(outcome.baseline, unit)}"
            f" {ARROW} {amount(outcome.value, unit)}), more than the {amount(limit, kind)} allowed"
        )
        label = "grew most"
        layers = [f"{layer.name} +{amount(layer.value, unit)}" for layer in outcome.layers]
    else:
        text = (
            f"{amount(actual, kind)} exceeds the limit {amount(limit, kind)}"
            f" by {_excess_text(outcome)}"
        )
        # The peak is a sum of the outputs live at once: a share of it would mislead.
        peak = metric == "peak_activation_bytes"
        label = "largest outputs" if peak else "most in"
        layers = [
            f"{layer.name} {amount(layer.value, unit)}"
            + ("" if peak else f" ({percent(Fraction(layer.value, actual)).lstrip('+')})")
            for layer in outcome.layers
        ]
    return f"{text}; {label}: {', '.join(layers)}" if layers else text


def check_summary(run: CheckRun) -> str:
    """'2 budgets exceeded in 1 of 3 specs' or 'every budget holds (3 specs)'."""
    if run.ok:
        return f"every budget holds ({plural(len(run.specs), 'spec')})"
    failing = sum(1 for spec in run.specs if not spec.ok)
    return (
        f"{plural(run.violation_count, 'budget')} exceeded in {failing} of"
        f" {plural(len(run.specs), 'spec')}"
    )


def plural(count: int, noun: str) -> str:
    """(1, 'spec') -> '1 spec'; (2, 'spec') -> '2 specs'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def outcome_to_dict(outcome: Outcome) -> dict:
    """The JSON object of one budget checked (keys are a contract, see README)."""

    def value(figure: object) -> object:
        if outcome.kind == "growth":
            return None if figure is None else growth_text(figure)
        if isinstance(figure, tuple):
            return [exact(size) for size in figure]
        return figure

    data = {
        "budget": outcome.budget,
        "limit": value(outcome.limit),
        "actual": value(outcome.actual),
        "excess": value(outcome.excess),
        "ok": outcome.ok,
        "source": "flag" if outcome.from_flag else "spec",
        "line": outcome.line,
        "layer": outcome.layer,
        "layers": [
            {"name": layer.name, "value": layer.value, "line": layer.line}
            for layer in outcome.layers
        ],
    }
    if outcome.kind == "growth":
        data["baseline"] = outcome.baseline
        data["value"] = outcome.value
    return data


def check_to_dict(run: CheckRun) -> dict:
    """The JSON object of a check run (keys are a contract, see README)."""
    specs = []
    for spec in run.specs:
        data = {
            "path": spec.path,
            "name": spec.report.name,
            "ok": spec.ok,
            "violations": [outcome_to_dict(outcome) for outcome in spec.violations],
            "checks": [outcome_to_dict(outcome) for outcome in spec.outcomes],
            "totals": totals_dict(spec.report.totals),
            "baseline": spec.baseline_path,
            "notes": [said(note) for note in spec.notes],
        }
        if spec.diff is not None:
            data["diff"] = diff_to_list(spec.diff)
        specs.append(data)
    return {"ok": run.ok, "specs": specs}


def render_check_json(run: CheckRun) -> str:
    """The check run as indented JSON."""
    return json.dumps(check_to_dict(run), indent=2)


def render_check_github(run: CheckRun) -> str:
    """GitHub Actions workflow commands: one ::error per exceeded budget or invalid spec,
    at the spec line of the budget entry or of the layer that contributes most, so that it
    shows inline on the pull request; a ::warning per note; then a summary line."""
    lines = []
    for error in run.errors:
        message = ConvCalcError(
            error.message,
            layer_index=error.layer_index,
            layer_name=error.layer_name,
            field=error.field,
        ).describe(flag)
        lines.append(_workflow_command("error", error.file, error.line, "convcalc check", message))
    for spec in run.specs:
        for outcome in spec.violations:
            lines.append(
                _workflow_command(
                    "error",
                    spec.path,
                    outcome.line,
                    f"convcalc check: {outcome.budget}",
                    f"{outcome.budget}: {violation_text(outcome)}",
                )
            )
        for note in spec.notes:
            lines.append(
                _workflow_command("warning", spec.path, None, "convcalc check", said(note))
            )
    summary = f"{plural(len(run.errors), 'invalid spec')}" if run.errors else check_summary(run)
    lines.append(f"convcalc check: {summary}")
    return "\n".join(lines)


def _workflow_command(
    command: str, file: str | None, line: int | None, title: str, message: str
) -> str:
    """'::error file=a.yaml,line=3,title=...::message', escaped as the Actions runner reads it
    (actions/toolkit, command.ts: '%', CR and LF in the message; also ':' and ',' in values)."""

    def escape(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    properties = {"file": file, "line": line, "title": title}
    shown = ",".join(
        f"{key}={escape(str(value)).replace(':', '%3A').replace(',', '%2C')}"
        for key, value in properties.items()
        if value is not None
    )
    return f"::{command} {shown}::{escape(message)}"


def render_check_markdown(run: CheckRun) -> str:
    """A compact report to post as a pull-request comment: per spec, each budget, the
    violations and the layers behind them, the totals (against the baseline, when given)
    and the layer diff, folded."""
    mark = "✅" if run.ok else "❌"
    out = [MARKDOWN_MARKER, f"## convcalc check: {mark} {check_summary(run)}", ""]
    for spec in run.specs:
        out.extend(_spec_markdown(spec))
    return "\n".join(out)


def _spec_markdown(spec: SpecCheck) -> list[str]:
    from convcalc.comparison import last_spatial_field

    mark = "✅" if spec.ok else "❌"
    exceeded = len(spec.violations)
    verdict = (
        f"{exceeded} of {plural(len(spec.outcomes), 'budget')} exceeded"
        if exceeded
        else "within budget"
    )
    out = [f"### {mark} {markdown_text(f'{spec.path} ({spec.report.name})')}: {verdict}", ""]
    if spec.outcomes:
        out += ["| budget | limit | actual | margin | |", "|---|---:|---:|---:|:---:|"]
        for outcome in spec.outcomes:
            cells = (
                f"`{outcome.budget}`" + (" (flag)" if outcome.from_flag else ""),
                amount(outcome.limit, outcome.kind),
                amount(outcome.actual, outcome.kind),
                margin_text(outcome),
                "✅" if outcome.ok else "❌",
            )
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    out += [
        f"- ❌ **{outcome.budget}**: {markdown_text(violation_text(outcome))}"
        for outcome in spec.violations
    ]
    out += [f"- note: {markdown_text(said(note))}" for note in spec.notes]
    if spec.violations or spec.notes:
        out.append("")
    reports = [spec.report] if spec.baseline is None else [spec.baseline, spec.report]
    if spec.baseline is None:
        out += ["| total | this spec |", "|---|---:|"]
    else:
        out += ["| total | baseline | this spec | change |", "|---|---:|---:|---:|"]
    for label, key, binary in SIDE_BY_SIDE:
        values = [getattr(report.totals, key) for report in reports]
        texts = [human(value, True) if binary else f"{value:,}" for value in values]
        if spec.baseline is not None:
            # Growth to two decimals, as in the budgets above it.
            change = Fraction(values[1] - values[0], values[0]) if values[0] else None
            texts.append(growth_text(change))
        out.append(f"| {label} | " + " | ".join(texts) + " |")
    for label, texts in (
        ("receptive field", [per_dim(last_spatial_field(report)) for report in reports]),
        ("output", [per_dim(report.layers[-1].output_shape) for report in reports]),
    ):
        out.append(f"| {label} | " + " | ".join(texts) + (" | |" if len(texts) > 1 else " |"))
    out.append("")
    if spec.diff is not None:
        out.extend(_diff_markdown(spec.diff, spec.baseline_path))
    return out


def _diff_markdown(diff: list[LayerChange], baseline_path: str) -> list[str]:
    if not diff:
        return [f"No layer changed against {markdown_text(baseline_path)}.", ""]
    counts = {}
    for change in diff:
        counts[change.change] = counts.get(change.change, 0) + 1
    summary = ", ".join(f"{count} {change}" for change, count in counts.items())
    out = [
        f"<details><summary>Layers against <code>{html.escape(printable(baseline_path))}</code>:"
        f" {summary}</summary>",
        "",
        "| " + " | ".join(DIFF_HEADERS) + " |",
        "|"
        + "|".join("---:" if header in DIFF_NUMERIC else "---" for header in DIFF_HEADERS)
        + "|",
    ]
    for change in diff:
        out.append("| " + " | ".join(markdown_text(cell) for cell in diff_cells(change)) + " |")
    return [*out, "", "</details>", ""]


def print_check(run: CheckRun) -> None:
    """Rich tables: per spec, each budget with its limit, figure, margin and verdict."""
    from rich.table import Table
    from rich.text import Text

    console = _console()
    for spec in run.specs:
        verdict = (
            Text("within budget", "green")
            if spec.ok
            else Text(f"{plural(len(spec.violations), 'budget')} exceeded", "bold red")
        )
        heading = printable(f"{spec.path} ({spec.report.name}): ")
        console.print(Text.assemble((heading, "bold"), verdict))
        if spec.outcomes:
            table = Table(title_justify="left")
            table.add_column("budget")
            for header in ("limit", "actual", "margin"):
                table.add_column(header, justify="right")
            table.add_column("", justify="center")
            for outcome in spec.outcomes:
                table.add_row(
                    outcome.budget + (" (flag)" if outcome.from_flag else ""),
                    amount(outcome.limit, outcome.kind),
                    amount(outcome.actual, outcome.kind),
                    margin_text(outcome),
                    Text("✓", "green") if outcome.ok else Text("✗", "bold red"),
                )
            console.print(unclipped(table))
        for outcome in spec.violations:
            console.print(Text(printable(f"✗ {outcome.budget}: {violation_text(outcome)}"), "red"))
        for note in spec.notes:
            console.print(Text.assemble(("note", "yellow"), printable(f": {said(note)}")))
        if spec.diff:
            console.print(unclipped(_diff_table(spec.diff)))
        console.print()
    style = "bold green" if run.ok else "bold red"
    console.print(Text(f"convcalc check: {check_summary(run)}", style))


# `convcalc sizes`: the input sizes a symbolic spec accepts.

SIZES_FORMATS = ("table", "json")
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


def sizes_text(report: Report, scans: list) -> str:
    """Per symbol: the rule, the sizes in the range, and why the first excluded ones fail."""
    out = [f"{report.name}: input {'x'.join(map(str, report.input))}"]
    for scan in scans:
        mode = ", none dropping rows or columns (--exact)" if scan.exact else ""
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


def render_sizes_json(scans: list) -> str:
    """{"dim", "sizes", "rule", ...} for one symbol; a list of them for several."""
    data = [
        {
            "dim": scan.dim,
            "range": [scan.low, scan.high],
            "exact": scan.exact,
            "sizes": scan.sizes,
            "rule": scan.rule,
        }
        for scan in scans
    ]
    return json.dumps(data[0] if len(data) == 1 else data, indent=2)
