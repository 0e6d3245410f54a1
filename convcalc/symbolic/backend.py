"""sympy, imported once for the symbolic package: None when it is not installed.

A symbolic spec then says how to install it (require_sympy) rather than fail to import.
"""

from __future__ import annotations

try:
    import sympy
    from sympy.core.mul import _keep_coeff
    from sympy.printing.precedence import PRECEDENCE, precedence
    from sympy.printing.str import StrPrinter
except ImportError:  # pragma: no cover - depends on the install
    sympy = None
    StrPrinter = object
    _keep_coeff = precedence = PRECEDENCE = None

from convcalc.errors import ConvCalcError


def require_sympy() -> None:
    """Refuse a symbolic spec when sympy is not installed, saying how to get it."""
    if sympy is None:
        raise ConvCalcError(
            "symbolic sizes need sympy: pip install sympy (or 'convcalc[symbolic]')", field="input"
        )
