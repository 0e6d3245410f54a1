"""Budgets: the limits a spec must keep, and their evaluation against an analysis report.

A budget comes from the spec's `budget:` section and from `convcalc check`'s flags; a flag
wins over the spec's entry of the same name. Limits are exact integers: '25.6M' is
25,600,000 and '1.5GiB' is 1,610,612,736, never a float on the way.

Pure, like `analysis`: nothing here reads a file or prints. `spec` calls `parse_budget` on
the `budget:` section, so this module imports neither `spec` nor `analysis` at run time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from convcalc import figures
from convcalc.errors import ConvCalcError, option
from convcalc.field import FieldKind
from convcalc.text import shown

if TYPE_CHECKING:
    from convcalc.analysis import Report, Row

# SI prefixes for counts and bytes; K is accepted for k, as in '100K params'.
# The largest limit: past it no network's figure could reach, and a bound keeps every
# figure printable (a limit of 1e999 has 1,000 digits).
MAX_LIMIT = 10**60
SI_PREFIXES = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}
# Byte units: decimal (kB, MB, ...) and binary (KiB, MiB, ...), after IEC 80000-13.
BYTE_UNITS = {
    "B": 1,
    "kB": 10**3,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "PB": 10**15,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
    "PiB": 2**50,
}
_QUANTITY = re.compile(
    r"(?P<number>[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})"
    r"(?:[eE](?P<exponent>[+-]?[0-9]{1,3}))?\s*(?P<unit>[A-Za-z]{0,3})"
)
_PERCENT = re.compile(r"(?P<number>[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})\s*%")
_SIZES = re.compile(r"[0-9]{1,10}(?:[x,][0-9]{1,10}){0,3}")  # 1000, 64x7x7, 64,7,7

TOP_LAYERS = 3  # contributing layers named with each violation


@dataclass(frozen=True)
class FieldLimit:
    """A smallest receptive field, at one layer or at the last layer with spatial dims."""

    size: tuple[int, ...]  # one value for every spatial dim, or one per dim
    at: str | None = None


@dataclass(frozen=True)
class Budget:
    """The limits one spec is checked against; None (or no growth entry): not checked."""

    # Metric -> its largest value; the metrics are the totals marked `budget` in
    # figures.TOTALS, each written `max_<metric>` in a spec (max_params: 25.6M).
    maxima: Mapping[str, int] = field(default_factory=dict)
    min_receptive_field: FieldLimit | None = None
    output_shape: tuple[int, ...] | None = None
    max_growth: Mapping[str, Fraction] = field(default_factory=dict)  # metric -> 1/20 for 5%
    # Where each entry is written: 'max_params' or 'max_growth.params' -> spec line.
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)
    from_flags: frozenset[str] = frozenset()  # entries set on the command line

    def entries(self) -> list[str]:
        """The names of the entries set, as in the spec ('max_growth.params' for growth)."""
        names = [f"max_{metric}" for metric in metrics() if metric in self.maxima]
        names += [name for name in OTHER_ENTRIES if getattr(self, name) is not None]
        return names + [f"max_growth.{metric}" for metric in self.max_growth]


def merge(spec_budget: Budget | None, flags: Budget) -> Budget:
    """The spec's budget with every entry the flags set replaced by the flag's."""
    base = spec_budget or Budget()
    changes: dict[str, Any] = {
        name: getattr(flags, name) for name in OTHER_ENTRIES if getattr(flags, name) is not None
    }
    changes["maxima"] = {**base.maxima, **flags.maxima}
    changes["max_growth"] = {**base.max_growth, **flags.max_growth}
    overridden = set(flags.entries())
    changes["lines"] = {key: line for key, line in base.lines.items() if key not in overridden}
    changes["from_flags"] = frozenset(overridden)
    return replace(base, **changes)


# Parsing: the spec's values (YAML/JSON scalars and lists) and the flags' strings.


def parse_quantity(value: Any, units: Mapping[str, int] = SI_PREFIXES) -> int:
    """25600000, '25.6M', '4.1G', '100MB' or '1.5GiB' (with byte units) -> an exact int >= 0."""
    if isinstance(value, bool):
        raise ConvCalcError(f"a number such as {_examples(units)}, got {shown(value)}")
    if isinstance(value, int):
        amount, text = Fraction(value), str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ConvCalcError(f"a number such as {_examples(units)}, got {shown(value)}")
        # JSON and YAML floats (2.56e+7): their shortest repr is the number the user wrote.
        amount, text = Fraction(Decimal(repr(value))), repr(value)
    elif isinstance(value, str):
        text = value.strip()
        found = _QUANTITY.fullmatch(text)
        if not found:
            raise ConvCalcError(f"{shown(value)} is not a number such as {_examples(units)}")
        if found["unit"] in BYTE_UNITS and found["unit"] not in units:
            raise ConvCalcError(
                f"{shown(value)}: byte units are for the byte budgets, this is a count"
            )
        if found["unit"] not in units:
            raise ConvCalcError(
                f"unknown unit {shown(found['unit'])} in {shown(value)}"
                f" (known: {', '.join(unit for unit in units if unit)})"
            )
        amount = (
            Fraction(Decimal(found["number"]))
            * Fraction(10) ** int(found["exponent"] or 0)
            * units[found["unit"]]
        )
    else:
        raise ConvCalcError(f"a number such as {_examples(units)}, got {shown(value)}")
    if amount < 0:
        raise ConvCalcError(f"a limit of 0 or more, got {shown(text)}")
    if amount > MAX_LIMIT:
        raise ConvCalcError(f"a limit of at most 1e60, got {shown(text)}")
    if amount.denominator != 1:
        raise ConvCalcError(f"{shown(text)} is not a whole number ({float(amount):,})")
    return amount.numerator


def parse_bytes(value: Any) -> int:
    """A byte count: a number with an SI prefix or a byte unit ('100MB', '1.5GiB') -> int."""
    return parse_quantity(value, {**SI_PREFIXES, **BYTE_UNITS})


def parse_percent(value: Any) -> Fraction:
    """'5%' or '2.5%' -> the exact fraction (1/20, 1/40)."""
    found = _PERCENT.fullmatch(value.strip()) if isinstance(value, str) else None
    if not found:
        raise ConvCalcError(f"a percentage such as 5% or 2.5%, got {shown(value)}")
    return Fraction(Decimal(found["number"])) / 100


def parse_growth(value: Any) -> dict[str, Fraction]:
    """{params: 5%, macs: 10%} (spec) or 'params=5%,macs=10%' (flag) -> metric -> fraction."""
    if isinstance(value, str):
        pairs = []
        for item in value.split(","):
            metric, equals, limit = item.partition("=")
            if not equals:
                raise ConvCalcError(f"{shown(item.strip())} is not METRIC=PERCENT, as in params=5%")
            pairs.append((metric.strip(), limit))
    elif isinstance(value, dict) and value:
        pairs = list(value.items())
    else:
        raise ConvCalcError(
            f"a mapping of metric to percentage, as in {{params: 5%}}, got {shown(value)}"
        )
    growth = {}
    for metric, limit in pairs:
        if metric not in metrics():
            known = ", ".join(metrics())
            raise ConvCalcError(f"unknown metric {shown(metric)} (known: {known})")
        try:
            growth[metric] = parse_percent(limit)
        except ConvCalcError as error:
            raise ConvCalcError(f"{metric}: {error.message}") from None
    return growth


def parse_field_limit(value: Any) -> FieldLimit:
    """200, [200, 200] or {size: 200, at: layer4} (spec); '200', '200x200@layer4' (flag)."""
    if isinstance(value, str):
        size, at_sign, at = value.strip().partition("@")
        if not _SIZES.fullmatch(size) or (at_sign and not at):
            raise ConvCalcError(
                f"{shown(value)} is not SIZE[xSIZE...][@LAYER], as in 200 or 96x96@conv5"
            )
        return FieldLimit(_field_sizes(_split_sizes(size), value), at or None)
    if isinstance(value, dict):
        if set(value) - {"size", "at"} or "size" not in value:
            raise ConvCalcError(f"{{size: ..., at: LAYER}} (at is optional), got {shown(value)}")
        at = value.get("at")
        if at is not None and (not isinstance(at, str) or not at):
            raise ConvCalcError(f"at: a layer name, got {shown(at)}")
        return FieldLimit(_field_sizes(value["size"], value["size"]), at)
    return FieldLimit(_field_sizes(value, value))


def parse_shape(value: Any) -> tuple[int, ...]:
    """[1000] or [64, 7, 7] (spec); '1000', '64x7x7' (flag): channels first, no batch."""
    if isinstance(value, str):
        if not _SIZES.fullmatch(value.strip()):
            raise ConvCalcError(f"{shown(value)} is not C[xH[xW[xD]]], as in 1000 or 64x7x7")
        value = _split_sizes(value.strip())
    if not isinstance(value, list) or not 1 <= len(value) <= 4:
        raise ConvCalcError(f"[channels, *spatial] as in [1000], got {shown(value)}")
    return tuple(_positive(size, value) for size in value)


def _split_sizes(text: str) -> list[int]:
    return [int(size) for size in re.split("[x,]", text)]


def _field_sizes(value: Any, given: Any) -> tuple[int, ...]:
    """One size for every spatial dim, or one per dim."""
    sizes = value if isinstance(value, list) else [value]
    if not 1 <= len(sizes) <= 3:
        raise ConvCalcError(f"one size, or one per spatial dim (up to 3), got {shown(given)}")
    return tuple(_positive(size, given) for size in sizes)


def _positive(size: Any, given: Any) -> int:
    if type(size) is not int or size < 1:
        raise ConvCalcError(f"sizes are whole numbers of 1 or more, got {shown(given)}")
    return size


def _examples(units: Mapping[str, int]) -> str:
    return "100MB, 1.5GiB or 4G" if "B" in units else "25600000, 25.6M or 4.1G"


def metrics() -> tuple[str, ...]:
    """The whole-network figures a budget can cap or a baseline can bound the growth of:
    the totals marked `budget` in figures.TOTALS."""
    return figures.budget_metrics()


# The entries besides the maxima of the metrics, each a field of Budget, with its parser.
OTHER_PARSERS: dict[str, Callable[[Any], Any]] = {
    "min_receptive_field": parse_field_limit,
    "output_shape": parse_shape,
}
OTHER_ENTRIES = tuple(OTHER_PARSERS)
OTHER_FIELDS = (*OTHER_ENTRIES, "max_growth")


def entry_parsers() -> dict[str, Callable[[Any], Any]]:
    """Budget entry -> its parser: the spec's keys and the options' names (max_params)."""
    maxima = {
        f"max_{metric}": parse_bytes
        if figures.total(metric).unit == figures.BYTES
        else parse_quantity
        for metric in metrics()
    }
    return {**maxima, **OTHER_PARSERS, "max_growth": parse_growth}


def _budget(values: Mapping[str, Any], **extra: Any) -> Budget:
    """A Budget of parsed entries (entry name -> value)."""
    maxima = {
        entry.removeprefix("max_"): value
        for entry, value in values.items()
        if entry.removeprefix("max_") in metrics()
    }
    others = {entry: value for entry, value in values.items() if entry in OTHER_FIELDS}
    return Budget(maxima=maxima, **others, **extra)


def parse_budget(raw: Any) -> Budget:
    """The spec's `budget:` mapping -> a Budget; errors name the entry and its spec line."""
    if not isinstance(raw, dict):
        raise ConvCalcError(
            "a mapping of budget name to limit, as in {max_params: 25.6M}", field="budget"
        )
    key_lines = getattr(raw, "key_lines", {})
    parsers = entry_parsers()
    values, lines = {}, {}
    for key, value in raw.items():
        line = key_lines.get(key)
        try:
            if key not in parsers:
                raise ConvCalcError(f"unknown budget {shown(key)} (known: {', '.join(parsers)})")
            values[key] = parsers[key](value)
        except ConvCalcError as error:
            raise error.add_context(field=f"budget.{key}", line=line) from None
        if line:
            lines[key] = line
        if key == "max_growth":
            for metric, metric_line in getattr(value, "key_lines", {}).items():
                lines[f"max_growth.{metric}"] = metric_line
    return _budget(values, lines=lines)


def parse_limits(given: Mapping[str, Any]) -> Budget:
    """Limits of a call, over the spec's budget (entry -> limit as a spec writes it, None
    where not given) -> a Budget; errors name the entry as an option of the call."""
    parsers = entry_parsers()
    values = {}
    for entry, text in given.items():
        if text is None:
            continue
        try:
            if entry not in parsers:
                raise ConvCalcError(f"unknown budget (known: {', '.join(parsers)})")
            values[entry] = parsers[entry](text)
        except ConvCalcError as error:
            raise error.add_context(field=option(entry)) from None
    return _budget(values)


# Evaluation.


@dataclass(frozen=True)
class Contribution:
    """A layer's part in a figure: its own amount, or (growth) how much it added."""

    name: str
    value: int
    line: int | None


@dataclass(frozen=True)
class Outcome:
    """One budget entry checked against a report.

    `kind` says what the values are: 'count' or 'bytes' (ints), 'field' (per-dim tuples of
    Fractions), 'shape' (int tuples) or 'growth' (Fractions: 1/20 is 5%; actual is None
    when the baseline's figure is 0).
    """

    budget: str  # the entry: 'max_params', 'min_receptive_field', 'max_growth.macs'
    kind: str
    limit: Any
    actual: Any
    ok: bool
    excess: Any  # past the limit (a field: short of it, per dim); None when ok or not a number
    line: int | None  # spec line: of the entry, else of the layer that counts most
    from_flag: bool
    layer: str | None = None  # the layer measured: receptive field, output shape
    layers: tuple[Contribution, ...] = ()  # the most contributing first
    baseline: int | None = None  # growth: the figure of the baseline
    value: int | None = None  # growth: the figure of this spec


@dataclass(frozen=True)
class Evaluation:
    """The budget entries checked, and why any set entry could not be."""

    outcomes: list[Outcome]
    notes: tuple[str, ...] = ()


def evaluate(
    budget: Budget,
    report: Report,
    layer_lines: Mapping[str, int],
    baseline: Report | None = None,
) -> Evaluation:
    """Check every entry of `budget`; growth entries only against a baseline report."""
    outcomes = []
    notes = []
    for metric in metrics():
        limit = budget.maxima.get(metric)
        if limit is not None:
            outcomes.append(_maximum(budget, metric, limit, report, layer_lines))
    if budget.min_receptive_field is not None:
        field = _receptive_field(budget, budget.min_receptive_field, report, layer_lines)
        if isinstance(field, Outcome):
            outcomes.append(field)
        else:
            notes.append(field)
    if budget.output_shape is not None:
        # The network's first output (the only one, unless the spec lists `outputs:`).
        last = report.output_row
        outcomes.append(
            _outcome(
                budget,
                "output_shape",
                "shape",
                budget.output_shape,
                last.output_shape,
                last.output_shape == budget.output_shape,
                None,
                layer_lines,
                layer=last.name,
            )
        )
    if baseline is not None:
        for metric, limit in budget.max_growth.items():
            outcomes.append(_growth(budget, metric, limit, report, baseline, layer_lines))
    return Evaluation(outcomes, tuple(notes))


def _maximum(
    budget: Budget, metric: str, limit: int, report: Report, layer_lines: Mapping[str, int]
) -> Outcome:
    actual = getattr(report.totals, metric)
    ranked = sorted(
        ((row.name, _layer_amount(metric, row, report)) for row in report.layers),
        key=lambda pair: -pair[1],
    )
    return _outcome(
        budget,
        f"max_{metric}",
        figures.total(metric).unit,
        limit,
        actual,
        actual <= limit,
        actual - limit,
        layer_lines,
        contributions=[(name, amount) for name, amount in ranked if amount > 0],
    )


def _growth(
    budget: Budget,
    metric: str,
    limit: Fraction,
    report: Report,
    baseline: Report,
    layer_lines: Mapping[str, int],
) -> Outcome:
    before = getattr(baseline.totals, metric)
    after = getattr(report.totals, metric)
    growth = Fraction(after - before, before) if before else None
    old = {row.name: _layer_amount(metric, row, baseline) for row in baseline.layers}
    added = [
        (row.name, _layer_amount(metric, row, report) - old.get(row.name, 0))
        for row in report.layers
    ]
    added.sort(key=lambda pair: -pair[1])
    return _outcome(
        budget,
        f"max_growth.{metric}",
        "growth",
        limit,
        growth,
        after <= before * (1 + limit),
        None if growth is None else growth - limit,
        layer_lines,
        contributions=[(name, amount) for name, amount in added if amount > 0],
        baseline=before,
        value=after,
    )


def _receptive_field(
    budget: Budget, limit: FieldLimit, report: Report, layer_lines: Mapping[str, int]
) -> Outcome | str:
    """The outcome of a smallest receptive field; a note instead when the field measured
    depends on the data, so that no size can be held to the limit."""
    entry = "min_receptive_field"
    where = option(entry) if entry in budget.from_flags else f"budget.{entry}"
    try:
        row = _field_row(report, limit.at)
        if row.field_kind is FieldKind.DATA_DEPENDENT:
            return (
                f"{entry} not checked: the receptive field of {shown(row.name)} depends on the data"
            )
        dims = len(row.receptive_field)
        if len(limit.size) not in (1, dims):
            raise ConvCalcError(
                f"{len(limit.size)} sizes for the {dims}-d field of {shown(row.name)}"
                f" (give one size or {dims})"
            )
    except ConvCalcError as error:
        raise error.add_context(field=where, line=budget.lines.get(entry)) from None
    minimum = limit.size * dims if len(limit.size) == 1 else limit.size
    actual = row.receptive_field
    return _outcome(
        budget,
        entry,
        "field",
        minimum,
        actual,
        all(size >= least for size, least in zip(actual, minimum, strict=True)),
        tuple(max(least - size, 0) for size, least in zip(actual, minimum, strict=True)),
        layer_lines,
        layer=row.name,
    )


def _field_row(report: Report, at: str | None) -> Row:
    """The layer a receptive-field limit is checked at.

    By default the layer read by the first global or adaptive pool or flatten, where there
    is one: the field of the pool itself is the whole padded input (619 on ResNet-50), so
    any limit would pass. Otherwise the last layer with spatial dims. A name may also be
    that of a block or a repeated layer, meaning its last output, as in a spec's `inputs`.
    """
    if at is None:
        from convcalc.layers import LAYER_TYPES

        by_name = {row.name: row for row in report.layers}
        summary = next((row for row in report.layers if LAYER_TYPES[row.type].summarizes_map), None)
        before = summary and by_name.get(summary.inputs[0])
        if before is not None and _has_field(before):
            return before
        row = report.last_spatial_row()
        if row is None:
            raise ConvCalcError(
                "no layer has spatial dims, so there is no receptive field to check"
            )
        return row
    for row in reversed(report.layers):
        if row.name == at or row.name.startswith(f"{at}."):
            if not _has_field(row):
                raise ConvCalcError(f"layer {shown(at)} has no receptive field (no spatial dims)")
            return row
    raise ConvCalcError(f"at: no layer {shown(at)}")


def _has_field(row: Row) -> bool:
    """Whether a layer has a receptive field to hold to a limit: one with spatial dims, or
    one that depends on the data (said so rather than checked)."""
    return bool(row.receptive_field) or row.field_kind is FieldKind.DATA_DEPENDENT


def _outcome(
    budget: Budget,
    entry: str,
    kind: str,
    limit: Any,
    actual: Any,
    ok: bool,
    excess: Any,
    layer_lines: Mapping[str, int],
    layer: str | None = None,
    contributions: list[tuple[str, int]] | None = None,
    baseline: int | None = None,
    value: int | None = None,
) -> Outcome:
    layers = tuple(
        Contribution(name, amount, layer_lines.get(name))
        for name, amount in (contributions or [])[:TOP_LAYERS]
    )
    pointed = layer or (layers[0].name if layers else None)
    return Outcome(
        budget=entry,
        kind=kind,
        limit=limit,
        actual=actual,
        ok=ok,
        excess=None if ok else excess,
        line=budget.lines.get(entry) or layer_lines.get(pointed),
        from_flag=entry in budget.from_flags,
        layer=layer,
        layers=() if ok else layers,
        baseline=baseline,
        value=value,
    )


def _layer_amount(metric: str, row: Row, report: Report) -> int:
    """What one layer adds to a whole-network figure (README 'Conventions')."""
    return figures.total(metric).layer_amount(row, report.totals.figures)
