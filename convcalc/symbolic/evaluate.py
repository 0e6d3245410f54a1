"""Size formulas and conditions evaluated at given sizes, in exact integer arithmetic.

A walk over the expression tree: no text is parsed, and no float rounds a floor.
"""

from __future__ import annotations

import math
from fractions import Fraction

from convcalc.symbolic.backend import sympy

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
