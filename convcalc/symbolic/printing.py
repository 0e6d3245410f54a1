"""Size formulas as text: floor((H - 1)/2) + 1."""

from __future__ import annotations

from convcalc.symbolic.arithmetic import is_unknown
from convcalc.symbolic.backend import StrPrinter, sympy


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
