"""Sizes as formulas: the sympy side of a spec whose input sizes are symbols (`[3, H, W]`).

Imported only when a spec has symbols, so the numeric path never pays sympy's import.
Expressions are built from validated identifiers and integers with sympy's constructors;
no user text ever reaches `sympify`, `parse_expr` or `eval`. They are evaluated at given
sizes by `evaluate`, a walk over the expression tree in exact integer arithmetic.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

try:
    import sympy
    from sympy.printing.str import StrPrinter
except ImportError:  # pragma: no cover - depends on the install
    sympy = None
    StrPrinter = object

from convcalc import dims
from convcalc.dims import Condition
from convcalc.errors import ConvCalcError


def require_sympy() -> None:
    """Refuse a symbolic spec when sympy is not installed, saying how to get it."""
    if sympy is None:
        raise ConvCalcError(
            "symbolic sizes need sympy: pip install sympy (or 'convcalc[symbolic]')", field="input"
        )


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
            " input sizes as numbers (--set) to analyze it",
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


def relation(left, operator: str, right):
    """The condition `left operator right`: sympy's true or false when the two differ by
    a number, else the relation as written (asking sympy to decide more is slow: it queries
    the assumptions of every floor)."""
    difference = left - right
    if isinstance(difference, int) or difference.is_Number:
        return sympy.true if sympy.Rel(difference, 0, operator) else sympy.false
    return sympy.Rel(left, right, operator, evaluate=False)


def choose(condition, if_true, otherwise):
    """if_true where condition holds, else otherwise."""
    if condition is sympy.true or condition is sympy.false:
        return if_true if condition is sympy.true else otherwise
    # Unevaluated: deciding a condition on floors and ceilings numerically can fail.
    return sympy.Piecewise((if_true, condition), (otherwise, True), evaluate=False)


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


def truth(relation) -> bool | None:
    """True for a relation that holds at every size (sympy's true), False for one that
    holds at none (sympy's false), None for one that depends on the sizes."""
    if relation is sympy.true or relation is sympy.false:
        return relation is sympy.true
    return None


def on_symbols(conditions: tuple[Condition, ...]) -> tuple[Condition, ...]:
    """A layer's conditions as a formula analysis keeps them: one that failed at sizes
    given as numbers (relation False) becomes sympy's false, a relation no size meets."""
    return tuple(
        dataclasses.replace(condition, relation=sympy.false)
        if condition.relation is False
        else condition
        for condition in conditions
    )


# Exact evaluation at integer sizes. Every node convcalc builds is listed; anything else
# is a bug, not user input, and fails loudly.
_RELATIONS = {
    "Equality": lambda a, b: a == b,
    "Unequality": lambda a, b: a != b,
    "GreaterThan": lambda a, b: a >= b,
    "StrictGreaterThan": lambda a, b: a > b,
    "LessThan": lambda a, b: a <= b,
    "StrictLessThan": lambda a, b: a < b,
}


def evaluate(expr, values: dict, shared: dict | None = None):
    """The value of expr at the sizes `values` (symbol -> int): an int, a Fraction, a bool,
    or None for an unknown figure. `shared` keeps the values of subexpressions, for several
    expressions at the same sizes (a formula may repeat one many times)."""
    if isinstance(expr, (int, Fraction, bool)):
        return expr
    if shared is None:
        shared = {}
    if expr in shared:
        return shared[expr]
    shared[expr] = value = _evaluate(expr, values, shared)
    return value


def _evaluate(expr, values: dict, shared: dict):
    if expr is sympy.nan:
        return None
    if expr.is_Integer:
        return int(expr)
    if expr.is_Rational:
        return Fraction(int(expr.p), int(expr.q))
    if expr.is_Symbol:
        return values[expr]
    if expr is sympy.true or expr is sympy.false:
        return bool(expr)
    name = type(expr).__name__
    if name == "Piecewise":
        for piece, condition in expr.args:
            if evaluate(condition, values, shared):
                return evaluate(piece, values, shared)
        raise ValueError(f"no piece of {expr} holds")  # pragma: no cover
    args = [evaluate(arg, values, shared) for arg in expr.args]
    if any(arg is None for arg in args):
        return None
    if name in _RELATIONS:
        return _RELATIONS[name](*args)
    if name == "Add":
        return _settle(sum(args))
    if name == "Mul":
        return _settle(math.prod(args))
    if name == "Pow":
        return _settle(Fraction(args[0]) ** args[1])
    if name == "floor":
        return math.floor(args[0])
    if name == "ceiling":
        return math.ceil(args[0])
    if name == "Max":
        return max(args)
    if name == "Min":
        return min(args)
    if name == "Mod":
        return _settle(Fraction(args[0]) % args[1])
    if name == "And":
        return all(args)
    if name == "Or":
        return any(args)
    if name == "Not":
        return not args[0]
    if name == "ITE":  # sympy's form of a choice inside a condition
        return args[1] if args[0] else args[2]
    raise ValueError(f"cannot evaluate {name} in {expr}")  # pragma: no cover - a bug


def _settle(value):
    """An int where a Fraction is whole."""
    if isinstance(value, Fraction) and value.denominator == 1:
        return int(value)
    return value


class _FormulaPrinter(StrPrinter):
    """sympy's str, with the arguments of floor and ceiling over one denominator:
    floor((H - 1)/2) rather than floor(H/2 - 1/2)."""

    def _print_floor(self, expr) -> str:
        return f"floor({self._print(sympy.together(expr.args[0]))})"

    def _print_ceiling(self, expr) -> str:
        return f"ceil({self._print(sympy.together(expr.args[0]))})"

    def _print_Equality(self, expr) -> str:
        return f"{self._print(expr.lhs)} == {self._print(expr.rhs)}"

    def _print_Unequality(self, expr) -> str:
        return f"{self._print(expr.lhs)} != {self._print(expr.rhs)}"


def formula(value) -> str:
    """A size or count as text: digits for an int, a formula for an expression."""
    if isinstance(value, int):
        return str(value)
    if is_unknown(value):
        return "?"
    return _FormulaPrinter().doprint(value)


def settle(value):
    """A plain int where an expression is a constant, else the expression."""
    if isinstance(value, sympy.Basic) and value.is_Integer:
        return int(value)
    return value


class Formulas:
    """The arithmetic dims does on formula sizes (see dims.Formulas), with sympy."""

    floor_div = staticmethod(floor_div)
    ceil_div = staticmethod(ceil_div)
    maximum = staticmethod(maximum)
    minimum = staticmethod(minimum)
    relation = staticmethod(relation)
    truth = staticmethod(truth)
    choose = staticmethod(choose)
    unknown = staticmethod(unknown)
    scaled = staticmethod(scaled)
    check_size = staticmethod(check_size)

    @staticmethod
    def is_formula(value: object) -> bool:
        """True for a sympy expression or truth value."""
        return isinstance(value, sympy.Basic)


if sympy is not None:  # without sympy there are no formulas (see require_sympy)
    dims.use_formulas(Formulas())
