"""The figures convcalc counts, each declared once with the rule that works it out.

A layer figure is one value per layer (params, MACs, the output's bytes, the receptive
field...); a total is one value per network (the params summed, the peak of live
activations). The analysis computes them in this order; the table's columns, JSON, CSV,
budgets, spec diffs and verify's checks all iterate over these lists, so a new figure is
one entry here plus its rule (README 'Architecture').

A figure's value is an int, a tuple (a shape, or one value per spatial dim), a sympy
formula in the input's size symbols, or None: known only once the sizes are set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from convcalc.layers.base import Cost, Shape

if TYPE_CHECKING:
    from convcalc.analysis import Row

# What a figure's values are, which says how each output writes them.
COUNT = "count"  # an int: '25.6 M', and exact in JSON and CSV
BYTES = "bytes"  # an int of bytes: '98.0 MiB'
SHAPE = "shape"  # channels then spatial sizes: 64x56x56
FIELD = "field"  # one exact number (int, or Fraction) per spatial dim: 7x7, 3/2x3/2


@dataclass(frozen=True)
class Facts:
    """What a layer's figures are worked out from: its analysis, for the whole batch."""

    output: Shape
    cost: Cost  # params and buffers per network, the rest for the whole batch
    value_bytes: int  # the bytes of one value, times the batch
    # The receptive field's size, effective stride and effective padding, each one value
    # per spatial dim (None: known once sizes are set); all None for a layer's part.
    field: tuple[tuple[int | Fraction, ...] | None, ...] = (None, None, None)
    # With `--train`: its training figures (training.Tracker.add), by name; else None.
    training: Mapping[str, object] | None = None


@dataclass(frozen=True)
class Figure:
    """One figure of every layer."""

    name: str  # the Row attribute, and the key in JSON and CSV
    header: str  # the table's header
    unit: str  # COUNT, BYTES, SHAPE or FIELD
    rule: Callable[[Facts], object]
    column: str | None = None  # its key in `--columns`; None: JSON only
    of_parts: bool = False  # also given for a layer's parts (a separable conv's two convs)
    # Given as a formula beside its number when a symbolic spec's sizes are set.
    formula: bool = False
    # In a diff of two specs: "own" when a change marks the layer changed (its own
    # settings), "flow" when it only marks it affected (by a change upstream).
    diff: str | None = None
    # The name of verify's re-measurement of it (verification.py measures each), and that
    # check's header.
    check: str | None = None
    check_header: str | None = None
    # Given only when the analysis is asked for training figures (`shapes --train`).
    training: bool = False


class ByName:
    """Figures read as attributes: `row.macs` is `row.figures["macs"]`."""

    figures: Mapping[str, object]

    def __getattr__(self, name: str) -> object:
        try:
            return self.__dict__["figures"][name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no figure {name!r}") from None


def _cost(name: str) -> Callable[[Facts], object]:
    return lambda facts: getattr(facts.cost, name)


def _training(name: str) -> Callable[[Facts], object]:
    return lambda facts: facts.training[name]


LAYER_FIGURES: tuple[Figure, ...] = (
    Figure(
        "output_shape",
        "output",
        SHAPE,
        lambda facts: facts.output.as_tuple(),
        column="output",
        of_parts=True,
        formula=True,
        diff="flow",
        check="shape",
        check_header="shape",
    ),
    Figure(
        "params",
        "params",
        COUNT,
        _cost("params"),
        column="params",
        of_parts=True,
        formula=True,
        diff="own",
        check="params",
        check_header="params",
    ),
    Figure("buffers", "buffers", COUNT, _cost("buffers")),
    Figure(
        "macs",
        "MACs",
        COUNT,
        _cost("macs"),
        column="macs",
        of_parts=True,
        formula=True,
        diff="own",
        check="macs",
        check_header="MACs",
    ),
    Figure("flops", "FLOPs", COUNT, _cost("flops"), column="flops", of_parts=True, formula=True),
    Figure(
        "connections",
        "connections",
        COUNT,
        _cost("connections"),
        column="connections",
        of_parts=True,
        check="connections",
        check_header="connections",
    ),
    Figure(
        "output_bytes",
        "memory",
        BYTES,
        lambda facts: facts.output.numel * facts.value_bytes,
        column="memory",
        formula=True,
        diff="flow",
    ),
    Figure(
        "receptive_field",
        "RF",
        FIELD,
        lambda facts: facts.field[0],
        column="rf",
        diff="flow",
        check="receptive_field",
        check_header="RF",
    ),
    Figure("effective_stride", "eff. stride", FIELD, lambda facts: facts.field[1], column="stride"),
    Figure(
        "effective_padding", "eff. padding", FIELD, lambda facts: facts.field[2], column="padding"
    ),
    Figure(
        "backward_macs",
        "backward MACs",
        COUNT,
        _training("backward_macs"),
        column="backward_macs",
        training=True,
    ),
    Figure(
        "backward_flops",
        "backward FLOPs",
        COUNT,
        _training("backward_flops"),
        column="backward_flops",
        training=True,
    ),
    Figure("saved_bytes", "saved", BYTES, _training("saved_bytes"), column="saved", training=True),
)


@dataclass(frozen=True)
class NetworkFacts:
    """What the totals are worked out from."""

    rows: Sequence[Row]
    input_bytes: Mapping[str, int]  # each network input's bytes, for the whole batch
    dtype_bytes: int
    symbolic: bool  # sizes are formulas: no maximum over layers can be taken
    done: Mapping[str, object]  # the totals listed before this one, by name
    # The layers whose weights train (all but those `trainable: false`), by name.
    trained: frozenset[str] = frozenset()
    # With `--train`: the training totals the Tracker worked out, by name; else None.
    training: Mapping[str, object] | None = None


@dataclass(frozen=True)
class Total:
    """One figure of the whole network."""

    name: str  # the Totals attribute, the key in JSON, and the budget's metric
    unit: str  # COUNT or BYTES
    rule: Callable[[NetworkFacts], object]
    label: str | None = None  # the line under the table; None: JSON only
    sums: str | None = None  # the layer figure it adds up (its cell in CSV's total row)
    scaled: bool = True  # written with its human scale beside it: '25.6 M (25,557,032)'
    # A budget can cap it (`max_<name>`) and bound its growth against a baseline; the
    # example limit is for the option's help.
    budget: bool = False
    example: str = ""
    # What one layer adds to it, for naming the layers that count most against a budget;
    # a sum's is the layer's own figure.
    by_layer: Callable[[Row, Mapping[str, object]], object] | None = None
    training: bool = False  # given only with training figures (`shapes --train`)

    def layer_amount(self, row: Row, totals: Mapping[str, object]) -> object:
        """What `row` adds to this total (README 'Conventions')."""
        if self.by_layer is not None:
            return self.by_layer(row, totals)
        return getattr(row, self.sums)


def summed(figures: Iterable[object]) -> object:
    """The sum of the layers' figures; None when one is known only once sizes are set."""
    figures = list(figures)
    if None in figures:
        return None
    if all(isinstance(figure, int) for figure in figures):
        return sum(figures)
    from convcalc import symbolic  # formulas: one sum, not one per layer

    return symbolic.total(figures)


def _sum(name: str) -> Callable[[NetworkFacts], object]:
    return lambda facts: summed(row.figures[name] for row in facts.rows)


def last_use(rows: Sequence[Row]) -> dict[str, int]:
    """The index (as `Row.index`) of the last layer reading each tensor, by tensor name."""
    return {name: row.index for row in rows for name in row.inputs}


def peak_live(
    input_sizes: Mapping[str, int], rows: Sequence[Row], size: Callable[[Row], int]
) -> int:
    """The largest total `size` of the tensors live at once, the network inputs' being
    `input_sizes` (by input name).

    A layer's output is live from that layer until its last reader has run (both at once
    while the reader runs); an output nobody reads stays live to the end, and so does
    every network input, from the start, until its last reader has run.
    """
    last = last_use(rows)
    live = dict(input_sizes)
    total = peak = sum(live.values())
    for row in rows:
        live[row.name] = size(row)
        total += live[row.name]
        peak = max(peak, total)
        for name in set(row.inputs):
            if last[name] == row.index:
                total -= live.pop(name)
    return peak


def _difference(whole: object, part: object) -> object:
    return None if whole is None or part is None else whole - part


def _sum_of(first: object, second: object) -> object:
    return None if first is None or second is None else first + second


def _trained(name: str) -> Callable[[NetworkFacts], object]:
    return lambda facts: facts.training[name]


def _peak_activation_bytes(facts: NetworkFacts) -> object:
    if facts.symbolic:  # a maximum over layers of formulas has no one formula
        return None
    return peak_live(facts.input_bytes, facts.rows, lambda row: row.figures["output_bytes"])


def _model_bytes(facts: NetworkFacts) -> object:
    params, buffers = facts.done["params"], facts.done["buffers"]
    if params is None or buffers is None:
        return None
    return (params + buffers) * facts.dtype_bytes


def _model_bytes_of(row: Row, totals: Mapping[str, object]) -> int:
    # model_bytes is (params + buffers) x dtype bytes; the division is exact.
    values = totals["params"] + totals["buffers"]
    return (row.params + row.buffers) * (totals["model_bytes"] // values) if values else 0


TOTALS: tuple[Total, ...] = (
    Total("params", COUNT, _sum("params"), "params", sums="params", budget=True, example="25.6M"),
    # Keras's split: the params of the layers whose weights train, and the rest.
    Total(
        "trainable_params",
        COUNT,
        lambda facts: summed(row.params for row in facts.rows if row.name in facts.trained),
    ),
    Total(
        "non_trainable_params",
        COUNT,
        lambda facts: _difference(facts.done["params"], facts.done["trainable_params"]),
    ),
    Total("buffers", COUNT, _sum("buffers"), "buffers", sums="buffers", scaled=False),
    Total("macs", COUNT, _sum("macs"), "MACs", sums="macs", budget=True, example="4.1G"),
    Total("flops", COUNT, _sum("flops"), "FLOPs", sums="flops", budget=True, example="8.2G"),
    Total("connections", COUNT, _sum("connections"), "connections", sums="connections"),
    Total(
        "peak_activation_bytes",
        BYTES,
        _peak_activation_bytes,
        "peak activation memory",
        budget=True,
        example="100MB or 1.5GiB",
        # The peak is a sum of live outputs: the largest outputs are what raises it.
        by_layer=lambda row, totals: row.output_bytes,
    ),
    Total(
        "model_bytes",
        BYTES,
        _model_bytes,
        "model size",
        budget=True,
        example="100MiB",
        by_layer=_model_bytes_of,
    ),
    Total(
        "backward_macs",
        COUNT,
        _sum("backward_macs"),
        "backward MACs",
        sums="backward_macs",
        training=True,
    ),
    Total(
        "train_macs",
        COUNT,
        lambda facts: _sum_of(facts.done["macs"], facts.done["backward_macs"]),
        "training MACs",
        training=True,
    ),
    Total(
        "backward_flops",
        COUNT,
        _sum("backward_flops"),
        "backward FLOPs",
        sums="backward_flops",
        training=True,
    ),
    Total("gradient_bytes", BYTES, _trained("gradient_bytes"), "gradients", training=True),
    Total(
        "optimizer_state_bytes",
        BYTES,
        _trained("optimizer_state_bytes"),
        "optimizer state",
        training=True,
    ),
    Total(
        "saved_activation_bytes",
        BYTES,
        _sum("saved_bytes"),
        "saved activations",
        sums="saved_bytes",
        training=True,
    ),
    Total(
        "backward_transient_bytes",
        BYTES,
        _trained("backward_transient_bytes"),
        "backward transient",
        training=True,
    ),
    Total(
        "train_peak_bytes",
        BYTES,
        _trained("train_peak_bytes"),
        "training peak memory",
        training=True,
    ),
)


def total(name: str) -> Total:
    """The total named `name`."""
    return next(total for total in TOTALS if total.name == name)


def layer_figures(facts: Facts) -> dict[str, object]:
    """Every layer figure of one layer, by name (the training ones with training facts)."""
    return {
        figure.name: figure.rule(facts)
        for figure in LAYER_FIGURES
        if not figure.training or facts.training is not None
    }


def part_figures(output: Shape, cost: Cost) -> dict[str, object]:
    """The figures given for a part of a layer, by name."""
    facts = Facts(output, cost, 0)
    return {figure.name: figure.rule(facts) for figure in LAYER_FIGURES if figure.of_parts}


def network_totals(
    rows: Sequence[Row],
    input_bytes: Mapping[str, int],
    dtype_bytes: int,
    symbolic: bool,
    trained: frozenset[str] = frozenset(),
    training: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """Every total, by name, each rule seeing the totals before it (the training ones
    only with `training`, the Tracker's totals)."""
    done: dict[str, object] = {}
    for total in TOTALS:
        if total.training and training is None:
            continue
        facts = NetworkFacts(rows, input_bytes, dtype_bytes, symbolic, done, trained, training)
        done[total.name] = total.rule(facts)
    return done


def budget_metrics() -> tuple[str, ...]:
    """The totals a budget can cap, in order."""
    return tuple(total.name for total in TOTALS if total.budget)


def checked() -> tuple[Figure, ...]:
    """The layer figures that verify re-measures, in order."""
    return tuple(figure for figure in LAYER_FIGURES if figure.check)


def diffed() -> tuple[Figure, ...]:
    """The layer figures a diff of two specs compares, in order."""
    return tuple(figure for figure in LAYER_FIGURES if figure.diff)
