"""Size formulas: the symbols of the input's sizes and the arithmetic built on them.

Expressions are built from validated identifiers and integers with sympy's constructors;
no user text ever reaches `sympify`, `parse_expr` or `eval`.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from functools import wraps

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
    return isinstance(value, sympy.Basic) and _has_unknown(value)


def by_identity(function: Callable) -> Callable:
    """function, its results kept for the expressions it was called with, found by
    identity: formulas share their subformulas as objects, and sympy's hashes collide
    (Python's hash of 2**n repeats with period 61, so a chain of stride-2 layers puts every
    61st size in one bucket, compared by sympy's slow ==)."""
    kept: dict[int, tuple] = {}  # id -> (expression, result); holding it keeps its id

    @wraps(function)
    def wrapper(expr):
        found = kept.get(id(expr))
        if found is not None and found[0] is expr:
            return found[1]
        if len(kept) >= 2**16:
            kept.clear()
        result = function(expr)
        kept[id(expr)] = (expr, result)
        return result

    return wrapper


@by_identity
def _has_unknown(expr) -> bool:
    """expr.has(nan, zoo), kept for subformulas: a total holds every row's figures."""
    if expr is sympy.nan or expr is sympy.zoo:
        return True
    return any(_has_unknown(arg) for arg in expr.args)


def _rounded_inside(value, rounding):
    """(y, m) when value = rounding(y) + m with m integer-valued, else None."""
    if isinstance(value, rounding):
        return value.args[0], 0
    if isinstance(value, sympy.Add):
        rounded = [term for term in value.args if isinstance(term, rounding)]
        if len(rounded) == 1:
            # value - rounded[0], without asking sympy to subtract it.
            others = [term for term in value.args if term is not rounded[0]]
            rest = others[0] if len(others) == 1 else sympy.Add(*others)
            if rest.is_integer:
                return rounded[0].args[0], rest
    return None


def linear_parts(value):
    """(a, X, c) for value = a*X + c with rationals a > 0 and c and X an input size's
    symbol (a positive integer), else None: the argument of most floors a network makes."""
    if not isinstance(value, sympy.Expr):
        return None
    constant, linear = sympy.S.Zero, None
    for term in sympy.Add.make_args(value):
        if term.is_Rational:
            constant = term
        elif linear is not None:
            return None
        elif term.is_Symbol:
            linear = (sympy.S.One, term)
        elif term.is_Mul and len(term.args) == 2 and term.args[0].is_Rational:
            linear = term.args
        else:
            return None
    if linear is None or not linear[1].is_Symbol or linear[0].p <= 0:
        return None
    target = linear[1]
    if not (target.is_integer and target.is_positive):
        return None
    return linear[0], target, constant


def _rounded(rounding, value):
    """rounding(value) (sympy's floor or ceiling), as sympy evaluates it.

    For a linear a*X + c (see linear_parts) the result is known without asking sympy,
    which spends milliseconds querying assumptions on each new argument: X unbounded
    above, no bound puts a*X + c in a fixed interval. With a an integer, a*X comes out
    and c is rounded; with c an integer, c comes out; otherwise it stays as it is. The
    same rules as sympy's RoundFunction.eval, which tests/test_symbolic.py holds it to.
    """
    parts = linear_parts(value)
    if parts is None:
        return rounding(value)
    coefficient, target, constant = parts
    if coefficient.is_Integer:
        rounded = constant.floor() if rounding is sympy.floor else constant.ceiling()
        return coefficient * target + rounded
    if constant.is_Integer:
        return constant + rounding(coefficient * target, evaluate=False)
    return rounding(value, evaluate=False)


def _plus(value, number):
    """value + number, without a sympy step for a number 0 (a floor that stacks on one)."""
    return value if number == 0 else value + number


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
        return _rounded(sympy.floor, _plus(*inside) / divisor)
    return _rounded(sympy.floor, sympy.Rational(1, divisor) * value)


def ceil_div(value, divisor: int):
    """ceiling(value / divisor), folding nested ceilings like floor_div."""
    if divisor == 1 and value.is_integer:
        return value
    inside = _rounded_inside(value, sympy.ceiling)
    if inside is not None:
        return _rounded(sympy.ceiling, _plus(*inside) / divisor)
    return _rounded(sympy.ceiling, sympy.Rational(1, divisor) * value)


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
    return _rounded(sympy.floor, sympy.Rational(exact.numerator, exact.denominator) * size)


def settle(value):
    """A plain int where an expression is a constant, else the expression."""
    if isinstance(value, sympy.Basic) and value.is_Integer:
        return int(value)
    return value
