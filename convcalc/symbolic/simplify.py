"""Size formulas simplified by what the network's own conditions require of the sizes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from convcalc.errors import ConvCalcError
from convcalc.spec import SizeRule
from convcalc.symbolic.arithmetic import settle, symbol
from convcalc.symbolic.backend import sympy
from convcalc.symbolic.scan import scan

if TYPE_CHECKING:
    from convcalc.analysis import Report  # annotations only: the analysis imports this


def by_residues(
    report: Report, stated: dict[str, SizeRule]
) -> tuple[Callable | None, tuple[str, ...]]:
    """A rewrite of the report's figures, with each symbol that the conditions pin to one
    residue r modulo a period P written as P*k + r (floor((H - 1)/2) + 1 becomes H/2 when H
    must be a multiple of 16), and the assumptions it makes; None when no symbol is pinned.

    Conditions tying several symbols together are left out of this. The analysis applies
    the rewrite to its rows and totals (see analysis.map_figures).
    """
    replacements = {}
    assumptions = []
    for name in report.symbols:
        try:
            # Sizes at least 1 and other bounds only move the least size: the remainders
            # come from the equalities (skips that must line up) and the stated rule.
            result = scan(
                report, name, 1, 1, stated=stated.get(name), rule_limit=1024, equalities_only=True
            )
        except ConvCalcError:  # tied to another symbol
            continue
        if result.rule is not None and len(result.residues) == 1 and result.period > 1:
            target = symbol(name)
            period, residue = result.period, result.residues[0]
            step = sympy.Dummy("k", integer=True, nonnegative=True)
            replacements[target] = (period * step + residue, {step: (target - residue) / period})
            assumptions.append(
                f"{name} is a multiple of {period}"
                if residue == 0
                else f"{name} leaves {residue} when divided by {period}"
            )
    if not replacements:
        return None, ()

    def rewrite(value):
        if not isinstance(value, sympy.Basic):
            return value
        for target, (written, back) in replacements.items():
            value = value.xreplace({target: written}).xreplace(back)
        return settle(sympy.expand(value))

    return rewrite, tuple(assumptions)
