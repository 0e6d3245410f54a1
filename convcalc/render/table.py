"""The table value every command's output is made of, and its writers: a plain box (pipes,
files, CI logs), rich (a terminal), markdown and CSV.

A command's module builds `Table`s and `Line`s of display text; a writer only lays them out.
Cells are text already made printable by the builder (a name from a spec never holds a
control character here); the markdown writer escapes the columns marked `spec_text`, and
rich is given every cell as a `Text`, never as markup.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from convcalc.render.values import csv_cell, markdown_text

Align = Literal["left", "right", "center"]


class Styled(str):
    """Text with a rich style ('green', 'bold red') for a terminal; plain text elsewhere."""

    style: str

    def __new__(cls, text: str, style: str) -> Styled:
        styled = super().__new__(cls, text)
        styled.style = style
        return styled


# A line of text: one string, or segments of which some are Styled ("note" in yellow, then
# the note).
Line = str | tuple[str, ...]


@dataclass(frozen=True)
class Column:
    """A column's header, how its cells line up, and what it holds."""

    header: str
    align: Align = "left"
    # On a terminal too narrow for the table, a foldable column's cells go on over more
    # lines; the others keep their width (numbers are never cut).
    foldable: bool = False
    spec_text: bool = False  # text from a spec (names, paths): escaped in markdown


@dataclass(frozen=True)
class Row:
    """One row's cells, under the columns; None is a cell with nothing to say (not
    applicable), which markdown writes as one space."""

    cells: Sequence[object]
    dim: bool = False  # a sub-row (a layer's part), drawn dim on a terminal


@dataclass(frozen=True)
class Table:
    """A title, the columns and rows, and the lines written after the table. The title is a
    line of its own above a plain box; rich sets it in italics over the table's width."""

    title: Line | None
    columns: Sequence[Column]
    rows: Sequence[Row]
    lines: Sequence[Line] = field(default_factory=tuple)


Block = Table | Line  # what a command's output is: tables, and lines between them


def text_of(line: Line) -> str:
    """A line's text without its styles."""
    return line if isinstance(line, str) else "".join(line)


def widths(table: Table) -> list[int]:
    """Each column's width: its widest cell or header."""
    found = [len(column.header) for column in table.columns]
    for row in table.rows:
        for position, cell in enumerate(row.cells):
            if cell is not None and len(cell) > found[position]:
                found[position] = len(cell)
    return found


def _center(text: str, width: int) -> str:
    """`text` centred as rich centres it: the odd space on the right."""
    left = (width - len(text)) // 2
    return " " * left + text + " " * (width - len(text) - left)


_JUSTIFY = {"left": str.ljust, "right": str.rjust, "center": _center}


# Plain box


def plain(blocks: Iterable[Block]) -> str:
    """The blocks as text, tables in rich's heavy-head box, as rich draws it on a terminal
    (rich's layout engine would be a third of the run time of `shapes`)."""
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Table):
            out.extend(_plain_table(block))
        else:
            out.append(text_of(block))
    return "".join(f"{line}\n" for line in out)


def _plain_table(table: Table) -> list[str]:
    sizes = widths(table)
    justify = [_JUSTIFY[column.align] for column in table.columns]

    def line(left: str, fill: str, middle: str, end: str) -> str:
        return left + middle.join(fill * (width + 2) for width in sizes) + end

    def cells(texts: Sequence[object], bar: str) -> str:
        padded = (
            place(text or "", width)
            for text, width, place in zip(texts, sizes, justify, strict=True)
        )
        return bar + bar.join(f" {text} " for text in padded) + bar

    out = [] if table.title is None else [text_of(table.title)]
    headers = [column.header for column in table.columns]
    out += [line("┏", "━", "┳", "┓"), cells(headers, "┃"), line("┡", "━", "╇", "┩")]
    out.extend(cells(row.cells, "│") for row in table.rows)
    out.append(line("└", "─", "┴", "┘"))
    out.extend(text_of(text) for text in table.lines)
    return out


# Rich, for a terminal


def rich(blocks: Iterable[Block], width: int, color_system: str | None) -> str:
    """The blocks drawn by rich for a terminal of `width` columns and `color_system`
    (rich's name for it, None for no colour), as text with its escape codes."""
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=True,
        color_system=color_system,
        highlight=False,
    )
    for block in blocks:
        if isinstance(block, Table):
            console.print(_rich_table(block))
            for text in block.lines:
                console.print(_rich_line(text))
        else:
            console.print(_rich_line(block))
    return buffer.getvalue()


def _rich_line(line: Line, style: str = ""):
    from rich.text import Text

    segments = (line,) if isinstance(line, str) else line
    return Text.assemble(
        *((segment, getattr(segment, "style", None)) for segment in segments), style=style
    )


def _rich_table(table: Table):
    from rich.table import Table as RichTable
    from rich.text import Text

    # The title as rich writes one: in italics, folded to the table's width.
    title = None if table.title is None else _rich_line(table.title, "table.title")
    drawn = RichTable(title=title, title_justify="left")
    for column, width in zip(table.columns, widths(table), strict=True):
        # Fixed widths spare rich from measuring every cell (most of its time); a foldable
        # column is measured, and folds onto more lines when space is short.
        drawn.add_column(
            Text(column.header),
            justify=column.align,
            width=None if column.foldable else width,
            no_wrap=not column.foldable,
            overflow="fold",
        )
    for row in table.rows:
        drawn.add_row(
            *(Text(cell or "", getattr(cell, "style", "")) for cell in row.cells),
            style="dim" if row.dim else None,
        )
    return drawn


# Markdown

_MARKDOWN_ALIGN = {"left": "---", "right": "---:", "center": ":---:"}


def markdown(table: Table) -> list[str]:
    """The table's lines in GitHub-flavoured markdown (its title and lines are the
    command's to write: a heading, a list)."""
    escape = [markdown_text if column.spec_text else _pipes_escaped for column in table.columns]
    out = [
        _markdown_row([column.header or None for column in table.columns]),
        "|" + "|".join(_MARKDOWN_ALIGN[column.align] for column in table.columns) + "|",
    ]
    for row in table.rows:
        out.append(
            _markdown_row(
                [
                    None if cell is None else way(cell)
                    for cell, way in zip(row.cells, escape, strict=True)
                ]
            )
        )
    return out


def _pipes_escaped(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown_row(cells: Sequence[str | None]) -> str:
    return "|" + "|".join(" " if cell is None else f" {cell} " for cell in cells) + "|"


# CSV


def csv_rows(table: Table) -> str:
    """The table as CSV: a header row, then the rows; text quoted where a spreadsheet would
    run it as a formula, formulas as convcalc prints them, an unknown figure empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([column.header for column in table.columns])
    writer.writerows([csv_cell(cell) for cell in row.cells] for row in table.rows)
    return buffer.getvalue()


def write(blocks: Sequence[Block], terminal) -> str:
    """The blocks as a plain box off a terminal (`terminal` None: pipes, files, CI logs),
    drawn by rich for a terminal (a render.Terminal)."""
    if terminal is None:
        return plain(blocks)
    return rich(blocks, terminal.width, terminal.color_system)
