"""Size formulas: the symbols of the input's sizes and the arithmetic built on them.

Expressions are built from validated identifiers and integers with sympy's constructors;
no user text ever reaches `sympify`, `parse_expr` or `eval`.
"""

from __future__ import annotations

from fractions import Fraction

from convcalc.errors import ConvCalcError, option
from convcalc.symbolic.backend import require_sympy, sympy


def symbol(name: str):
    """The symbol of one input size: a positive integer."""
    require_sympy()
    return sympy.Symbol(name, integer=True, positive=True)


# Connections and similar counts that depend on the size modulo the strides are not given
# as formulas: sympy's nan stands for them and absorbs any arithmetic done on it.
def unknown():
    """The value of a figure given only once the sizes are set."""
    return sympy.nan


def is_unknown(value) -> bool:
    """True for a figure given only once the sizes are set."""
    return value is sympy.nan or (
        isinstance(value, sympy.Basic) and value.has(sympy.nan, sympy.zoo)
    )


def _rounded_inside(value, rounding):
    """(y, m) when value = rounding(y) + m with m integer-valued, else None."""
    if isinstance(value, rounding):
        return value.args[0], 0
    if isinstance(value, sympy.Add):
        rounded = [term for term in value.args if isinstance(term, rounding)]
        if len(rounded) == 1:
            rest = value - rounded[0]
            if rest.is_integer:
                return rounded[0].args[0], rest
    return None


def floor_div(value, divisor: int):
    """floor(value / divisor), folding floor((floor(y) + m) / s) into floor((y + m) / s).

    The identity holds for integer m and positive integer s (Graham, Knuth and Patashnik,
    Concrete Mathematics, eq. 3.11), and keeps stacked pools readable: floor(H/4), not
    floor(floor(H/2)/2).
    """
    if divisor == 1 and value.is_integer:  # a size: nothing to round (sympy's floor is slow)
        return value
    inside = _rounded_inside(value, sympy.floor)
    if inside is not None:
        return sympy.floor((inside[0] + inside[1]) / divisor)
    return sympy.floor(sympy.Rational(1, divisor) * value)


def ceil_div(value, divisor: int):
    """ceiling(value / divisor), folding nested ceilings like floor_div."""
    if divisor == 1 and value.is_integer:
        return value
    inside = _rounded_inside(value, sympy.ceiling)
    if inside is not None:
        return sympy.ceiling((inside[0] + inside[1]) / divisor)
    return sympy.ceiling(sympy.Rational(1, divisor) * value)


# The most nodes a size formula may have, written out: stacked windows that each read
# their input size twice (ceil_mode pools) double it per layer.
MAX_FORMULA_NODES = 1000


def check_size(value, field: str) -> None:
    """Refuse a size formula too large to print or evaluate in reasonable time."""
    written: dict = {}  # node -> its size written out, over the shared subformulas

    def size_of(node) -> int:
        if node not in written:
            written[node] = 1 + sum(size_of(arg) for arg in node.args)
        return written[node]

    if size_of(value) > MAX_FORMULA_NODES:
        raise ConvCalcError(
            f"its output size's formula grows past {MAX_FORMULA_NODES} terms; give the"
            f" input sizes as numbers ({option('sizes')}) to analyze it",
            field=field,
        )


def total(figures: list):
    """The sum of many formulas, built at once (adding one at a time is quadratic)."""
    return sympy.Add(*figures)


def maximum(first, second):
    """The larger of two sizes."""
    return sympy.Max(first, second)


def minimum(first, second):
    """The smaller of two sizes."""
    return sympy.Min(first, second)


def scaled(size, factor: float):
    """floor(size * factor) for a scale factor that is exact in binary with few digits."""
    exact = Fraction(factor)
    if exact.denominator > 2**20:
        raise ConvCalcError(
            f"scale_factor {factor} is not exact in binary; with symbolic sizes use an"
            " integer or a fraction like 0.5, or give output sizes",
            field="scale_factor",
        )
    return sympy.floor(sympy.Rational(exact.numerator, exact.denominator) * size)


def settle(value):
    """A plain int where an expression is a constant, else the expression."""
    if isinstance(value, sympy.Basic) and value.is_Integer:
        return int(value)
    return value
