"""Which input sizes a symbolic network accepts, and the rule they follow: the size scan.

The analysis of a spec with symbolic sizes (`input: [3, H, W]`) records every condition its
layers rely on: sizes at least 1, add/concat inputs equal, a dense layer's in_features met
("valid"), and, for `--exact`, no rows or columns dropped by a stride and every centred crop
exactly centred ("exact"). Here they
are evaluated exactly at each candidate size.

Every size in them is built from floor/ceiling divisions by strides, so whether a condition
holds repeats with a period dividing the lcm of those divisors once the sizes are large
enough for every layer. The rule is read off the sizes from 1 to the top of the range (at
most RULE_SCAN) and two periods past the least valid one: the least size, the residues
modulo the shortest period, and the largest size if the valid sizes stop (an output bound
further up is found by bisection).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from convcalc.dims import MAX_SPATIAL
from convcalc.errors import ConvCalcError, option
from convcalc.spec import SizeRule
from convcalc.symbolic.arithmetic import symbol
from convcalc.symbolic.backend import sympy
from convcalc.symbolic.evaluate import evaluate
from convcalc.symbolic.printing import formula
from convcalc.text import shown

if TYPE_CHECKING:
    from convcalc.analysis import Report  # annotations only: the analysis imports this

FEW_SIZES = 8  # finitely many valid sizes up to this many are listed in the rule
# The rule is read off sizes up to this (and two periods past the least valid size).
RULE_SCAN = 2**12


@dataclass(frozen=True)
class SizeScan:
    """The sizes of one symbol that satisfy every condition, within a range, and the rule."""

    dim: str
    low: int
    high: int
    exact: bool
    sizes: list[int]
    period: int  # the valid sizes repeat with this period from `least` on
    residues: tuple[int, ...]  # the valid sizes modulo the period
    least: int | None  # the smallest valid size (None: none at all)
    most: int | None  # the largest, when the valid sizes stop
    rule: str | None  # None when the valid sizes follow no rule of this form
    # Where each excluded size in the range first fails: size -> (layer, condition text).
    reasons: dict[int, tuple[str, str]] = field(default_factory=dict)


def conditions_on(
    report: Report, name: str, exact: bool, equalities_only: bool = False
) -> list[tuple[str, object]]:
    """(layer name, relation) of every distinct condition involving symbol `name` (only
    the equalities, which fix remainders, with `equalities_only`)."""
    axes = {
        axis
        for _, shape in report.inputs or (("input", report.input),)
        for axis, size in enumerate(shape[1:])
        if str(size) == name
    }
    found: dict[object, str] = {}
    for row, condition in report.conditions:
        if condition.kind == "exact" and not exact:
            continue
        if equalities_only and not isinstance(condition.relation, sympy.Eq):
            continue
        # A condition in no symbol failed at a size given as a number: it holds for no
        # size of the symbols of its axis (of any, if it has none).
        failed_here = not condition.symbols and condition.axis in (None, *axes)
        if name in condition.symbols or failed_here:
            found.setdefault(condition.relation, row.name)
    return [(layer, relation) for relation, layer in found.items()]


def period_of(relations: list[object], name: str) -> int:
    """The lcm of the denominators of the rationals in the relations: their floors and
    ceilings of name repeat with it."""
    period = 1
    for relation in relations:
        for number in relation.atoms(sympy.Rational):
            period = math.lcm(period, int(number.q))
    return period


def scan(
    report: Report,
    name: str,
    low: int,
    high: int,
    exact: bool = False,
    stated: SizeRule | None = None,
    values: dict[str, int] | None = None,
    rule_limit: int = RULE_SCAN,
    equalities_only: bool = False,
) -> SizeScan:
    """The sizes in [low, high] for symbol `name` that satisfy every condition, and the
    rule read off the sizes up to `rule_limit` or two periods past the least valid one."""
    values = dict(values or {})
    if name not in report.symbols:
        known = ", ".join(report.symbols)
        raise ConvCalcError(
            f"{shown(name)} is not a symbol of the input (symbols: {known})", field=option("dim")
        )
    conditions = conditions_on(report, name, exact, equalities_only)
    for layer, relation in conditions:
        unset = sorted(
            symbol.name for symbol in relation.free_symbols if symbol.name not in (name, *values)
        )
        if unset:
            raise ConvCalcError(
                f"layer {layer} ties {name} to {', '.join(unset)}"
                f" ({formula(relation)}): give {option('sizes')} {unset[0]}=N to scan {name}",
                field=option("dim"),
            )
    stated = stated or SizeRule()
    period = math.lcm(period_of([relation for _, relation in conditions], name), stated.multiple_of)
    bound = {symbol(other): size for other, size in values.items()}
    target = symbol(name)

    def failure(size: int) -> tuple[str, str] | None:
        if not stated.admits(size):
            return "constraints", f"{name} must be {stated}"
        bound[target] = size
        shared: dict = {}  # subformulas (floor(H/2), ...) recur across conditions
        for layer, relation in conditions:
            if not evaluate(relation, bound, shared):
                # sympy's false: a failure at a size given as a number, whatever this one.
                text = "at every size" if relation is sympy.false else None
                return layer, text or formula(relation)
        return None

    failures = {size: failure(size) for size in range(low, high + 1)}
    sizes = [size for size, failed in failures.items() if failed is None]
    reasons = {size: failed for size, failed in failures.items() if failed is not None}

    # The rule is read on [1, end]: past the range (up to rule_limit) and two periods past
    # the least valid size, so that the remainders are seen repeating.
    least = sizes[0] if sizes else None
    if period > rule_limit:  # too long a period to read a rule off
        return SizeScan(name, low, high, exact, sizes, period, (), least, None, None, reasons)
    end = min(max(min(high, rule_limit), 64) + 2 * period, MAX_SPATIAL)
    size, valid = 0, []
    while size < end or (not valid and size < rule_limit):
        size += 1
        if (failures[size] if size in failures else failure(size)) is None:
            if not valid:
                end = min(max(end, size + 2 * period), MAX_SPATIAL)
            valid.append(size)
    end = max(end, size)
    if not valid and sizes:  # the least valid size lies past what a rule is read from
        return SizeScan(name, low, high, exact, sizes, period, (), least, None, None, reasons)
    if valid and valid[-1] > end - period:  # the sizes go on: do they stop further up?
        ceiling = _largest_holding(conditions, bound, target, end, period)
    else:
        ceiling = None
    least, most, period, residues, rule = _rule(name, valid, period, end, ceiling)
    return SizeScan(name, low, high, exact, sizes, period, residues, least, most, rule, reasons)


def _largest_holding(conditions: list, bound: dict, target, start: int, period: int) -> int | None:
    """The largest size up to MAX_SPATIAL at which every condition holding at `start` but
    not at the top still holds (an output bound such as 64*H <= 2^20), by bisection: such a
    condition compares a size that grows with the input against a number. The top is the
    largest size up to MAX_SPATIAL with `start`'s remainder modulo `period`, where a
    condition on the remainder (a pool halving an even size) holds again as at `start`.
    None when every condition holding at `start` holds at the top too."""

    def holds(relation, size: int) -> bool:
        bound[target] = size
        return bool(evaluate(relation, bound))

    top = start + (MAX_SPATIAL - start) // period * period
    ceiling = None
    for _, relation in conditions:
        if holds(relation, start) and not holds(relation, top):
            low, high = start, top  # holds at low, fails at high
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if holds(relation, middle) else (low, middle)
            ceiling = low if ceiling is None else min(ceiling, low)
    return ceiling


def _rule(
    name: str, valid: list[int], period: int, end: int, ceiling: int | None
) -> tuple[int | None, int | None, int, tuple[int, ...], str | None]:
    """(least, most, period, residues, rule text) of the valid sizes among [1, end]; the
    period is the shortest one, dividing `period`, with which they repeat. `ceiling`: a
    bound past `end` the sizes do not go beyond."""
    if not valid:
        return None, None, period, (), f"no size of {name} up to {end} satisfies every layer"
    least = valid[0]
    # The valid sizes stop when none falls in the last period scanned.
    most = valid[-1] if valid[-1] <= end - period else None
    if most is not None:  # finitely many: a range or a short list
        if len(valid) == most - least + 1:
            if least == most:
                return least, most, period, (), f"{name} must be {least}"
            text = f"{name} must be at least {least} and at most {most}"
            return least, most, period, (), text
        if len(valid) <= FEW_SIZES:
            listed = ", ".join(map(str, valid[:-1])) + f" or {valid[-1]}"
            return least, most, period, (), f"{name} must be {listed}"
        return least, most, period, (), None
    chosen = set(valid)
    residues = tuple(sorted({size % period for size in valid}))
    if any((size in chosen) != (size % period in residues) for size in range(least, end + 1)):
        return least, most, period, residues, None
    for shorter in sorted(divisor for divisor in range(1, period + 1) if period % divisor == 0):
        kept = {residue % shorter for residue in residues}
        if all((residue % shorter in kept) == (residue in residues) for residue in range(period)):
            period, residues = shorter, tuple(sorted(kept))
            break
    bounds = []  # "be ..." clauses
    if residues == (0,) and period > 1:
        bounds.append(f"a multiple of {period}")
    # The least size is worth stating when it is not the first size of its residues.
    if least > min(residue or period for residue in residues):
        bounds.append(f"at least {least}")
    if ceiling is not None:
        bounds.append(f"at most {ceiling}")
    clauses = [f"be {' and '.join(bounds)}"] if bounds else []
    if len(residues) < period and residues != (0,):
        clauses.append(f"leave a remainder of {_residue_text(residues)} when divided by {period}")
    if not clauses:
        return least, most, period, residues, f"{name} may be any size"
    return least, most, period, residues, f"{name} must {' and '.join(clauses)}"


def consecutive_runs(numbers: list[int] | tuple[int, ...]) -> list[tuple[int, int]]:
    """Sorted numbers as (first, last) runs of consecutive ones: [1, 2, 3, 7] -> (1, 3), (7, 7)."""
    runs: list[list[int]] = []
    for number in numbers:
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return [(first, last) for first, last in runs]


def _residue_text(residues: tuple[int, ...]) -> str:
    """'3', '0 to 7', '0 or 193 to 223', '0, 5 or 9'."""
    runs = consecutive_runs(residues)
    texts = [str(low) if low == high else f"{low} to {high}" for low, high in runs]
    return texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + f" or {texts[-1]}"


MAX_SCAN = 2**16  # sizes one scan may list
RANGE = re.compile(r"([0-9]{1,9})\.\.([0-9]{1,9})")


def parse_range(text: str) -> tuple[int, int]:
    """'32..1024' -> (32, 1024)."""
    match = RANGE.fullmatch(text)
    if not match:
        raise ConvCalcError(
            f"{shown(text)} is not LOW..HIGH, e.g. 32..1024", field=option("size_range")
        )
    return check_range(int(match[1]), int(match[2]), text)


def check_range(low_size: int, high_size: int, text: str | None = None) -> tuple[int, int]:
    """The sizes from `low_size` to `high_size` (written `text`), refused when out of
    bounds or too many."""
    text = text or f"{low_size}..{high_size}"
    if not 1 <= low_size <= high_size <= MAX_SPATIAL:
        raise ConvCalcError(
            f"{shown(text)}: need 1 <= LOW <= HIGH <= {MAX_SPATIAL}", field=option("size_range")
        )
    if high_size - low_size >= MAX_SCAN:
        raise ConvCalcError(
            f"{shown(text)} spans more than {MAX_SCAN} sizes", field=option("size_range")
        )
    return low_size, high_size
