"""Size formulas as text: floor((H - 1)/2) + 1.

Printed as sympy's str prints them, in less time: a long network's totals are sums of
thousands of terms over thousands of floors, which sympy orders and rewrites slowly (see
`ordered_terms` and `over_one_denominator`).
"""

from __future__ import annotations

import math
from fractions import Fraction

from convcalc.symbolic.arithmetic import by_identity, is_unknown, linear_parts
from convcalc.symbolic.backend import PRECEDENCE, StrPrinter, _keep_coeff, precedence, sympy


class _FormulaPrinter(StrPrinter):
    """sympy's str, with the arguments of floor and ceiling over one denominator:
    floor((H - 1)/2) rather than floor(H/2 - 1/2)."""

    def _print(self, expr, **settings) -> str:
        # A subformula's text does not depend on where it stands (its caller adds any
        # parentheses), and the same ones recur: a layer's sizes in its costs, its costs
        # in the totals.
        if settings or not isinstance(expr, sympy.Basic):
            return super()._print(expr, **settings)
        return _text(expr)

    def _print_floor(self, expr) -> str:
        return f"floor({over_one_denominator(expr.args[0])})"

    def _print_ceiling(self, expr) -> str:
        return f"ceil({over_one_denominator(expr.args[0])})"

    def _print_Equality(self, expr) -> str:
        return f"{self._print(expr.lhs)} == {self._print(expr.rhs)}"

    def _print_Unequality(self, expr) -> str:
        return f"{self._print(expr.lhs)} != {self._print(expr.rhs)}"

    def _as_ordered_terms(self, expr, order=None):
        return ordered_terms(expr)

    # StrPrinter's parenthesize and _print_Add (sympy 1.14), with each item's precedence
    # kept: sympy finds a product's by negating it, a new product each time.
    def parenthesize(self, item, level, strict=False) -> str:
        if _precedence(item) < level or (not strict and _precedence(item) <= level):
            return f"({self._print(item)})"
        return self._print(item)

    def _print_Add(self, expr, order=None) -> str:
        level = _precedence(expr)
        pieces = []
        for term in ordered_terms(expr):
            text = self._print(term)
            if text.startswith("-") and not term.is_Add:
                sign, text = "-", text[1:]
            else:
                sign = "+"
            if _precedence(term) < level or term.is_Add:
                text = f"({text})"
            pieces.extend([sign, text])
        sign = pieces.pop(0)
        return ("" if sign == "+" else sign) + " ".join(pieces)

    def _print_Mul(self, expr) -> str:
        # StrPrinter's (sympy 1.14) for a product of powers with positive exponents, with
        # its factors in the order as_ordered_factors gives, found by sort_key below:
        # sympy's own sort keys order every nested sum the slow way. Anything else goes
        # to sympy's.
        args = expr.args
        if args[0] is sympy.S.One or any(
            isinstance(arg, sympy.Number) or arg.is_Pow and all(a.is_Integer for a in arg.args)
            for arg in args[1:]
        ):
            return super()._print_Mul(expr)  # written as it stands: no factors to order
        level = _precedence(expr)
        coefficient, rest = expr.as_coeff_Mul()
        sign = "-" if coefficient < 0 else ""
        numerator, denominator = [], []
        for factor in ordered_factors(_keep_coeff(-coefficient, rest) if sign else expr):
            if factor.is_Pow and factor.exp.as_coeff_Mul()[0] < 0 or not factor.is_commutative:
                return super()._print_Mul(expr)
            if factor.is_Rational and factor is not sympy.S.Infinity:
                if factor.p != 1:
                    numerator.append(sympy.Integer(factor.p))
                if factor.q != 1:
                    denominator.append(sympy.Integer(factor.q))
            else:
                numerator.append(factor)
        top = "*".join(self.parenthesize(item, level) for item in numerator or [sympy.S.One])
        bottom = [self.parenthesize(item, level) for item in denominator]
        if not bottom:
            return sign + top
        if len(bottom) == 1:
            return f"{sign}{top}/{bottom[0]}"
        return f"{sign}{top}/({'*'.join(bottom)})"


def _precedence_of(item) -> int:
    """precedence(item); for a product, without negating it to see whether it could take
    out a minus sign (sympy's could_extract_minus_sign), which a product can exactly when
    its number is negative, unless it holds zoo or nan."""
    if not isinstance(item, sympy.Mul) or any(
        arg is sympy.zoo or arg is sympy.nan for arg in item.args
    ):
        return precedence(item)
    if any(
        hasattr(arg, "precedence")
        and isinstance(arg, sympy.Function)
        and arg.precedence < PRECEDENCE["Mul"]
        for arg in item.args
    ):
        return PRECEDENCE["Mul"]
    number = item.args[0]
    return (
        PRECEDENCE["Add"] if number.is_Number and number.is_extended_negative else PRECEDENCE["Mul"]
    )


_precedence = by_identity(_precedence_of)
if sympy is not None:  # without sympy there are no formulas to print (backend.require_sympy)
    _PRINTER = _FormulaPrinter()


@by_identity
def _text(expr) -> str:
    """The text of one formula or subformula (see _FormulaPrinter._print)."""
    return StrPrinter._print(_PRINTER, expr)


def over_one_denominator(value) -> str:
    """The text of sympy.together(value): at once for a linear a*X + c (see linear_parts),
    which together writes as (A*X + C)/D with the common factor of A and C taken out
    (2*(H + 1)/3, (H - 1)/2), without building it."""
    parts = linear_parts(value)
    if parts is None:
        return _PRINTER._print(sympy.together(value))
    coefficient, target, constant = parts
    denominator = math.lcm(coefficient.q, constant.q)
    if constant == 0 or denominator == 1:  # nothing to bring together
        return _PRINTER._print(sympy.together(value))
    slope, offset = int(coefficient * denominator), int(constant * denominator)
    common = math.gcd(slope, offset)
    slope, offset = slope // common, offset // common
    inner = (target.name if slope == 1 else f"{slope}*{target.name}") + (
        f" + {offset}" if offset > 0 else f" - {-offset}"
    )
    factor = Fraction(common, denominator)  # never whole: a or c is not an integer
    lead = "" if factor.numerator == 1 else f"{factor.numerator}*"
    return f"{lead}({inner})/{factor.denominator}"


def ordered_terms(expr) -> list:
    """expr.as_ordered_terms(): the terms of a sum in the order sympy prints them, in
    O(n log n) for n terms.

    sympy writes each term's powers as a dense vector over every distinct base of the sum
    and sorts the vectors in falling lexicographic order, then by the coefficient as a
    float; a sum over thousands of layers has thousands of bases, so that is quadratic.
    Here each vector is kept sparse, (base index, -exponent) pairs closed by
    (number of bases, 0), which sorts the same way while every exponent is a positive
    integer. Anything else is left to sympy.
    """
    terms = sympy.Add.make_args(expr)
    first = _number_then_negative(terms)
    if first is not None:
        return first
    decomposed = []
    bases = {}  # id -> base: equal bases are merged below, without hashing them
    for term in terms:
        coefficient, rest = term.as_coeff_Mul()
        if not coefficient.is_Rational or term.is_Order:
            return expr.as_ordered_terms()
        powers = []
        for factor in sympy.Mul.make_args(rest) if rest is not sympy.S.One else ():
            base, exponent = factor.as_base_exp()
            if factor.is_number or not factor.is_commutative or not _positive_integer(exponent):
                return expr.as_ordered_terms()
            powers.append((base, int(exponent)))
            bases[id(base)] = base
        decomposed.append((term, powers, _as_float(coefficient)))
    index, distinct = _positions(list(bases.values()))
    end = ((distinct, 0),)

    def key(entry):
        _, powers, coefficient = entry
        monomial = tuple(sorted((index[id(base)], -exponent) for base, exponent in powers))
        # sympy's coefficient key, ((bool(im), im), (re, im)), with im = 0.
        return monomial + end, ((False, 0.0), (coefficient, 0.0))

    return [term for term, _, _ in sorted(decomposed, key=key)]


def _positions(bases: list) -> tuple[dict[int, int], int]:
    """id -> the position of each base among the distinct ones in sort_key order (sympy's
    sorted set of them), and how many distinct ones there are. Equal bases have equal
    keys, so they meet in the sorted list."""
    if len(bases) == 1:  # the sum of a number and one term: nothing to sort
        return {id(bases[0]): 0}, 1
    bases.sort(key=sort_key)
    positions: dict[int, int] = {}
    run: list = []  # the distinct bases of the current key
    previous, distinct = None, 0
    for base in bases:
        key = sort_key(base)
        if key != previous:
            run, previous = [], key
        same = next((other for other in run if other == base), None)
        if same is None:
            run.append(base)
            positions[id(base)] = distinct
            distinct += 1
        else:
            positions[id(base)] = positions[id(same)]
    return positions, distinct


def _number_then_negative(terms: tuple) -> list | None:
    """The order as_ordered_terms gives first, ahead of the general one: a sum a - b*x of
    a number a > 0 and a term whose number -b < 0 is its only other factor, as [a, -b*x];
    None for any other sum."""
    if len(terms) != 2:
        return None
    numbers_first = _numbers_first(terms)
    number, product = numbers_first
    if not (_is_number(number) and isinstance(product, sympy.Mul)):
        return None
    factors = _numbers_first(sympy.Mul.make_args(product))
    if (
        len(factors) == 2
        and isinstance(factors[0], sympy.Number)
        and _sign(number) > 0
        and _sign(factors[0]) < 0
    ):
        return numbers_first
    return None


def _sign(number) -> int:
    """1, 0 or -1 as a number is positive, zero or negative (or neither: 0), read off a
    rational's numerator rather than asked of sympy's assumptions, which are slow to
    set up on each new number."""
    if isinstance(number, sympy.Rational):
        return (number.p > 0) - (number.p < 0)
    return 1 if number.is_positive else -1 if number.is_negative else 0


def _numbers_first(items: tuple) -> list:
    """The numbers among items, then the rest, each in their order (a stable sort)."""
    return [item for item in items if _is_number(item)] + [
        item for item in items if not _is_number(item)
    ]


def _is_number(term) -> bool:
    return isinstance(term, (sympy.Number, sympy.NumberSymbol))


def _positive_integer(exponent) -> bool:
    return bool(exponent.is_Integer and exponent > 0)


def _as_float(coefficient) -> float:
    """complex(coefficient).real, as as_terms takes it, for a rational (both round p/q to
    the nearest float)."""
    try:
        return int(coefficient.p) / int(coefficient.q)
    except OverflowError:  # pragma: no cover - a coefficient past 1e308
        return complex(coefficient).real


@by_identity
def sort_key(expr) -> tuple:
    """expr.sort_key() (sympy's canonical order of expressions), with the terms and
    factors of sums and products ordered by ordered_terms and ordered_factors, and its
    rationals as Fractions, which compare the same way without sympy's arithmetic; kept,
    as the same subformulas are ordered again and again."""
    if not isinstance(expr, sympy.Expr) or expr.is_Atom:
        return _plain(sympy.default_sort_key(expr))
    coefficient, rest = expr.as_coeff_Mul()
    exponent = sympy.S.One
    if rest.is_Pow:
        base, exponent = rest.as_base_exp()
        if base is sympy.S.Exp1:  # sympy sorts E**x as exp(x)
            return _plain(expr.sort_key())
        rest = base
    if rest.is_Dummy:
        args = (_plain(rest.sort_key()),)
    elif rest.is_Atom:
        args = (str(rest),)
    else:
        if rest.is_Add:
            parts = ordered_terms(rest)
        elif rest.is_Mul:
            parts = ordered_factors(rest)
        else:
            parts = rest.args
        args = tuple(sort_key(part) for part in parts)
    return rest.class_key(), (len(args), args), sort_key(exponent), _plain(coefficient)


def _plain(key):
    """A sort key with sympy's rationals as Fractions."""
    if isinstance(key, tuple):
        return tuple(_plain(item) for item in key)
    if isinstance(key, sympy.Rational):
        return Fraction(int(key.p), int(key.q))
    return key


def ordered_factors(expr) -> list:
    """expr.as_ordered_factors(), by sort_key."""
    commutative, others = expr.args_cnc()
    return sorted(commutative, key=sort_key) + others


def formula(value) -> str:
    """A size or count as text: digits for an int, a formula for an expression."""
    if isinstance(value, int):
        return str(value)
    if is_unknown(value):
        return "?"
    return _PRINTER.doprint(value)
