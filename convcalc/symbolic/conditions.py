"""Conditions on the input sizes: relations between size formulas, and choices on them."""

from __future__ import annotations

import dataclasses

from convcalc.dims import Condition
from convcalc.symbolic.backend import sympy


def relation(left, operator: str, right):
    """The condition `left operator right`: sympy's true or false when the two differ by
    a number, else the relation as written (asking sympy to decide more is slow: it queries
    the assumptions of every floor)."""
    if isinstance(right, int) and isinstance(left, sympy.Expr) and not left.is_number:
        # A formula in the symbols and a number never differ by a number: no need to
        # subtract (a sympy operation) to see it.
        return sympy.Rel(left, right, operator, evaluate=False)
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
