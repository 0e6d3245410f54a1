"""Results as text, one module per command (shapes, sizes, compare, verify, check), each
function returning the text to write and never printing.

The registry below says which formats each command writes; the command line takes its
`--format` choices and their help from it. Every table goes through one table value
(`render.table`), written as a plain box off a terminal, by rich on one, or as markdown or
CSV; every JSON through one encoder (`render.encoding`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

# (command, format) -> the function of convcalc.render.<command> that writes it. A command's
# module is imported only when it renders: `shapes` loads nothing of compare or check.
RENDERERS: dict[tuple[str, str], str] = {
    ("shapes", "table"): "write_table",
    ("shapes", "json"): "write_json",
    ("shapes", "markdown"): "write_markdown",
    ("shapes", "csv"): "write_csv",
    ("sizes", "table"): "write_table",
    ("sizes", "json"): "write_json",
    ("compare", "table"): "write_table",
    ("compare", "json"): "write_json",
    ("verify", "table"): "write_table",
    ("verify", "json"): "write_json",
    ("check", "table"): "write_table",
    ("check", "json"): "write_json",
    ("check", "markdown"): "write_markdown",
    ("check", "github"): "write_github",
}


@dataclass(frozen=True)
class Terminal:
    """The terminal the output goes to: its width in columns, and its colour system as rich
    names it ('standard', '256', 'truecolor'; None for none)."""

    width: int
    color_system: str | None = None


@dataclass(frozen=True)
class View:
    """How to write a result: for a terminal (None: a pipe, a file, a CI log), and the
    columns of the `shapes` table (None: its default ones)."""

    terminal: Terminal | None = None
    columns: tuple[str, ...] | None = None


def formats(command: str) -> tuple[str, ...]:
    """The formats `command` writes, the first its default."""
    return tuple(name for known, name in RENDERERS if known == command)


def format_help(command: str) -> str:
    """'table, json, markdown or csv.': the formats of `command`, for its --format help."""
    names = formats(command)
    return f"{', '.join(names[:-1])} or {names[-1]}." if len(names) > 1 else f"{names[0]}."


def render(command: str, output_format: str, result: object, view: View | None = None) -> str:
    """The text of `command`'s result in `output_format`, to be written as it is."""
    module = importlib.import_module(f"convcalc.render.{command}")
    return getattr(module, RENDERERS[command, output_format])(result, view or View())
