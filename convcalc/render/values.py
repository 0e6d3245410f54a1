"""Values as short text, shared by every command's output: counts with units, per-dim
figures, totals, relative changes, and spec text escaped for markdown and CSV."""

from __future__ import annotations

import math
import re
from fractions import Fraction

from convcalc.plain import exact, formula, is_formula
from convcalc.text import printable

# exact, formula and is_formula are convcalc.plain's, here beside the rest for the renderers.

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


def count_text(value: object, units: bool = True) -> str:
    """A total: '25.6 M (25,557,032)' (or '25,557,032' without units), a formula, or
    '? (set the sizes)'."""
    if value is None:
        return f"{UNKNOWN} (set the sizes)"
    if is_formula(value):
        return formula(value)
    return f"{human(value)} ({value:,})" if units else f"{value:,}"


def percent(change: Fraction | None) -> str:
    """-7/25 -> '-28%': an exact relative change rounded half away from zero; None -> 'n/a'."""
    if change is None:
        return "n/a"
    whole = int(abs(change) * 100 + Fraction(1, 2))
    if whole == 0:
        return "0%"
    return f"{'-' if change < 0 else '+'}{whole}%"


def growth_text(change: Fraction | None) -> str:
    """1/20 -> '+5%', 731/10000 -> '+7.31%': a relative change to two decimals."""
    if change is None:
        return "n/a"
    text = f"{float(round(change * 100, 2)):.2f}".rstrip("0").rstrip(".")
    if text in ("0", "-0"):
        return "0%"
    return f"{'+' if change > 0 else ''}{text}%"


def shape_text(shape: tuple[int | None, ...]) -> str:
    """(128, None, None) -> '128x?x?': '?' for a size that depends on the input."""
    return "x".join("?" if size is None else str(size) for size in shape)


def plural(count: int, noun: str) -> str:
    """(1, 'spec') -> '1 spec'; (2, 'spec') -> '2 specs'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def csv_cell(value: object) -> object:
    """A formula as convcalc prints it; a figure known only once sizes are set, empty."""
    if value is None:
        return ""
    return formula(value) if is_formula(value) else csv_text(value)
