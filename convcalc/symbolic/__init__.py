"""Sizes as formulas: the sympy side of a spec whose input sizes are symbols (`[3, H, W]`).

Imported only when a spec has symbols, so the numeric path never pays sympy's import.
Importing it hands dims the arithmetic of formula sizes (`Formulas`, see dims.Formulas):
every formula starts from `symbol`, so that arithmetic is in use wherever one reaches dims.

- arithmetic: the symbols, floor and ceiling divisions, max and min, sums;
- conditions: relations between sizes and choices on them;
- evaluate: exact values at given sizes; printing: formulas as text;
- simplify and scan: what the conditions a report collects say about the sizes.
"""

from __future__ import annotations

from convcalc import dims
from convcalc.dims import Condition
from convcalc.symbolic.arithmetic import (
    MAX_FORMULA_NODES,
    ceil_div,
    check_size,
    floor_div,
    is_unknown,
    maximum,
    minimum,
    scaled,
    settle,
    symbol,
    total,
    unknown,
)
from convcalc.symbolic.backend import require_sympy, sympy
from convcalc.symbolic.conditions import choose, on_symbols, relation, truth
from convcalc.symbolic.evaluate import evaluate
from convcalc.symbolic.printing import formula

__all__ = [
    "MAX_FORMULA_NODES",
    "Condition",
    "Formulas",
    "ceil_div",
    "check_size",
    "choose",
    "evaluate",
    "floor_div",
    "formula",
    "is_unknown",
    "maximum",
    "minimum",
    "on_symbols",
    "relation",
    "require_sympy",
    "scaled",
    "settle",
    "symbol",
    "sympy",
    "total",
    "truth",
    "unknown",
]


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
    settle = staticmethod(settle)

    @staticmethod
    def is_formula(value: object) -> bool:
        """True for a sympy expression or truth value."""
        return isinstance(value, sympy.Basic)


if sympy is not None:  # without sympy there are no formulas (see require_sympy)
    dims.use_formulas(Formulas())
