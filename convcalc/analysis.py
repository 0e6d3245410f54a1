"""The analysis: shapes, costs, memory and receptive fields of every layer, as plain data.

Pure: it never prints. `spec` feeds it validated layers; `render` turns its report into
tables, JSON, markdown or CSV.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from convcalc import field as receptive
from convcalc import figures as registry
from convcalc.dims import Condition
from convcalc.errors import ConvCalcError, option
from convcalc.layers.base import Cost, Inputs, Layer, Part, Result, Shape, by_dims
from convcalc.spec import INPUT, Network, SizeRule, collector_paused
from convcalc.text import shown
from convcalc.training import Setup, Tracker


@dataclass(frozen=True)
class Row(registry.ByName):
    """One layer's figures, for the whole batch (params and buffers are per network)."""

    index: int
    name: str
    type: str
    inputs: tuple[str, ...]
    follows_previous: bool  # reads just the layer listed before it
    # Every figure of figures.LAYER_FIGURES, by name (row.params, row.receptive_field...).
    # With symbolic input sizes, shapes and costs may be sympy formulas in the symbols;
    # None marks a figure known only once the sizes are set (see Report.symbols).
    figures: Mapping[str, object]
    notes: tuple[str, ...] = ()
    # What the field says of the positions read, through every layer on the way: exact,
    # an envelope (an upsampling or adaptive layer upstream), or data-dependent (unknown).
    field_kind: receptive.FieldKind = receptive.FieldKind.EXACT
    parts: tuple[Part, ...] = ()
    conditions: tuple[Condition, ...] = ()  # on the input sizes, which this layer relies on
    # The layer as the spec gives it (its fields), for diffs of two specs.
    layer: Layer | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Totals(registry.ByName):
    """Whole-network figures: every total of figures.TOTALS, by name (totals.params...)."""

    figures: Mapping[str, object]


@dataclass(frozen=True)
class Report:
    """Everything `shapes` shows for one spec."""

    name: str
    file: str | None
    input: tuple[int, ...]
    batch: int
    dtype: str
    layers: list[Row]
    totals: Totals
    symbols: tuple[str, ...] = ()  # the input's size symbols; () for a concrete input
    # What the formulas assume: the residues the network's own conditions require.
    assumptions: tuple[str, ...] = ()
    # For a symbolic spec run with sizes set: the sizes, and the report of the formulas.
    sizes_set: tuple[tuple[str, int], ...] = ()
    formulas: Report | None = None
    # Every network input, (name, shape), in the spec's order: (("input", input),) for a
    # spec's single `input:`; and the names of the layers that are the network's outputs.
    inputs: tuple[tuple[str, tuple[int, ...]], ...] = ()
    outputs: tuple[str, ...] = ()
    # With training figures (`shapes --train`): how the network is trained; else None.
    training: Setup | None = None

    @property
    def named_inputs(self) -> bool:
        """Whether the spec names its inputs (`inputs:`) rather than giving one `input:`."""
        return [name for name, _ in self.inputs] != [INPUT]

    @property
    def output_rows(self) -> list[Row]:
        """The rows of the network's outputs, in the order the spec lists them."""
        by_name = {row.name: row for row in self.layers}
        return [by_name[name] for name in self.outputs] if self.outputs else self.layers[-1:]

    @property
    def output_row(self) -> Row:
        """The row of the network's first (with one output: only) output."""
        return self.output_rows[0]

    @property
    def rows(self) -> list[Row]:
        """The layers' figures, one Row per layer in execution order."""
        return self.layers

    def to_dict(self) -> dict:
        """The report as plain data: the JSON that `convcalc shapes -f json` writes."""
        from convcalc import plain  # only for this; it imports nothing that imports analysis

        return plain.report_dict(self)

    @property
    def conditions(self) -> list[tuple[Row, object]]:
        """(row, condition) for every condition the layers put on the input sizes."""
        return [(row, condition) for row in self.layers for condition in row.conditions]

    @property
    def notes(self) -> list[tuple[str, str]]:
        """(layer name, note) for every non-fatal oddity found."""
        return [(row.name, note) for row in self.layers for note in row.notes]

    def last_spatial_row(self) -> Row | None:
        """The last layer whose output has spatial dims, up to the first network output;
        None when every output up to it is flat."""
        for row in reversed(self.layers[: self.output_row.index]):
            if len(row.output_shape) > 1:
                return row
        return None


def simplified(report: Report, constraints: dict[str, SizeRule]) -> Report:
    """The report of a symbolic spec with its formulas written for the residues that its
    conditions and the spec's `constraints` require of the sizes (see symbolic.simplify)."""
    from convcalc.symbolic import simplify

    rewrite, assumptions = simplify.by_residues(report, constraints)
    if rewrite is None:
        return report
    return dataclasses.replace(
        report,
        layers=[map_figures(row, rewrite) for row in report.layers],
        totals=map_figures(report.totals, rewrite),
        assumptions=assumptions,
    )


def analyze(
    network: Network,
    input_shape: tuple[int, ...] | None = None,
    batch: int | None = None,
    training: Setup | None = None,
) -> Report:
    """Propagate shapes through the network and tally every figure, layer by layer (and,
    with `training`, what a training step costs: see convcalc.training)."""
    with collector_paused():  # rows, results and fields: many objects, kept and acyclic
        return _analyze(network, input_shape, batch, training)


def _analyze(
    network: Network,
    input_shape: tuple[int, ...] | None,
    batch: int | None,
    training: Setup | None,
) -> Report:
    """`analyze`, with the garbage collector paused."""
    sources = _input_sources(network, input_shape)
    symbols = tuple(
        dict.fromkeys(
            size for shape in sources.values() for size in shape.spatial if isinstance(size, str)
        )
    )
    if symbols:
        sources = {name: _with_symbols(shape) for name, shape in sources.items()}
    source = next(iter(sources.values()))
    batch = batch or network.batch
    value_bytes = network.dtype_bytes * batch
    shapes: dict[str, Shape] = dict(sources)
    fields = {name: receptive.input_field(len(shape.spatial)) for name, shape in sources.items()}
    kinds = dict.fromkeys(sources, receptive.FieldKind.EXACT)
    # Each layer's params and buffers as its own weights count them, for a later sharer.
    own_costs: dict[str, Cost] = {}
    seen: dict[str, tuple[Layer, list[Shape], Shape]] = {}
    # Results by layer settings and input shape; none kept for formula sizes, whose
    # results are rarely repeated and costly to compare.
    results: dict[tuple, Result] | None = None if symbols else {}
    rows = []
    network_inputs = sources
    # With several inputs, the first layer reads one by name: its inputs cell says which.
    previous = next(iter(sources)) if len(sources) == 1 else None
    trained = _trained(network)
    tracker = (
        None
        if training is None
        else Tracker(
            training,
            batch,
            network.dtype_bytes,
            network_inputs,
            network.outputs or (network.layers[-1].name,),
        )
    )
    for index, layer in enumerate(network.layers, start=1):
        sources = layer.inputs or [previous]
        try:
            in_shapes = _input_shapes(layer, sources, shapes)
            inputs = Inputs(in_shapes, sources, seen.get, network_inputs)
            result = _result(layer, inputs, results)
            own_costs[layer.name] = result.cost
            backward = None if tracker is None else layer.backward(inputs, result)
            if layer.shares is not None:
                result = _shared(layer, in_shapes, result, seen, own_costs)
        except ConvCalcError as error:
            line = network.lines.get(layer.name)
            raise error.add_context(layer_index=index, layer_name=layer.name, line=line) from None
        out = result.output
        kind = receptive.combined([layer.field_kind, *(kinds[name] for name in sources)])
        in_field = (
            receptive.union(
                [fields[name] for name in sources], [shape.spatial for shape in in_shapes]
            )
            if len(sources) > 1
            else fields[sources[0]]
        )
        notes = result.notes
        if kind is receptive.FieldKind.DATA_DEPENDENT:
            out_field = None
            if layer.field_kind is kind:
                notes += (_DATA_DEPENDENT_NOTE,)
        else:
            out_field = receptive.through(in_field, result.steps) if result.steps else in_field
        if in_field is not None and out_field is not None:
            notes += _gridding_notes(in_field, out_field, result.steps)
        shapes[layer.name] = out
        fields[layer.name] = out_field
        kinds[layer.name] = kind
        seen[layer.name] = (layer, in_shapes, out)

        train_figures = None
        if tracker is not None:
            trains = layer.name in trained and own_costs[layer.name].params != 0
            train_figures = _batched_training(
                tracker.add(layer, sources, out, backward, trains), batch
            )
        facts = registry.Facts(
            out,
            _batched(result.cost, batch),
            value_bytes,
            _field_figures(out_field),
            train_figures,
        )
        rows.append(
            Row(
                index=index,
                name=layer.name,
                type=layer.type_name(),
                inputs=tuple(sources),
                follows_previous=sources == [previous],
                figures=registry.layer_figures(facts),
                notes=notes,
                field_kind=kind,
                parts=tuple(
                    Part(part.name, part.output, _batched(part.cost, batch))
                    for part in result.parts
                ),
                conditions=_conditions(result, symbols),
                layer=layer,
            )
        )
        previous = layer.name
    rows = _network_notes(network, rows, tuple(network_inputs))
    if symbols:
        rows = [_settled(row) for row in rows]
    input_bytes = {name: shape.numel * value_bytes for name, shape in network_inputs.items()}
    tracker_totals = None
    if tracker is not None:
        params = registry.summed(row.params for row in rows)
        buffers = registry.summed(row.buffers for row in rows)
        trainable = registry.summed(row.params for row in rows if row.name in trained)
        tracker_totals = tracker.totals(params, buffers, trainable, bool(symbols))
    totals = Totals(
        registry.network_totals(
            rows,
            input_bytes,
            network.dtype_bytes,
            symbolic=bool(symbols),
            trained=trained,
            training=tracker_totals,
        )
    )
    if symbols:
        totals = _settled(totals)
    return Report(
        network.name,
        network.file,
        source.as_tuple(),
        batch,
        network.dtype,
        rows,
        totals,
        symbols,
        inputs=tuple((name, shape.as_tuple()) for name, shape in network_inputs.items()),
        outputs=network.outputs,
        training=training,
    )


def _trained(network: Network) -> frozenset[str]:
    """The layers whose weights train: each one `trainable`, a sharer when its owner is
    (the weights are the owner's)."""
    trainable = {layer.name: layer.trainable for layer in network.layers}
    return frozenset(
        layer.name
        for layer in network.layers
        if trainable[layer.shares if layer.shares is not None else layer.name]
    )


def _batched_training(figures: dict[str, object], batch: int) -> dict[str, object]:
    """The Tracker's per-sample MACs and FLOPs for the whole batch (its bytes already are)."""
    if batch == 1:
        return figures
    return {
        name: value * batch if name != "saved_bytes" else value for name, value in figures.items()
    }


def _input_sources(network: Network, input_shape: tuple[int, ...] | None) -> dict[str, Shape]:
    """The network inputs by name, the single input replaced by `input_shape` if given."""
    if input_shape is None:
        return dict(network.inputs)
    if len(network.inputs) > 1:
        raise ConvCalcError(
            f"the network has {len(network.inputs)} inputs"
            f" ({', '.join(network.inputs)}): {option('input_shape')} replaces a single one;"
            " set the sizes in the spec",
            field=option("input_shape"),
        )
    if len(input_shape) != len(network.input.as_tuple()):
        # A 2-d spec given 224x224 would become a 1-d network of 224 channels.
        given, written = (
            "x".join(map(str, input_shape)),
            "x".join(map(str, network.input.as_tuple())),
        )
        raise ConvCalcError(
            f"{given} has {len(input_shape) - 1} spatial dims, the spec's input {written} has"
            f" {len(network.input.spatial)}: give channels and every spatial size",
            field=option("input_shape"),
        )
    return {next(iter(network.inputs)): Shape(input_shape[0], tuple(input_shape[1:]))}


def _shared(
    layer: Layer,
    in_shapes: list[Shape],
    result: Result,
    seen: Mapping[str, tuple[Layer, list[Shape], Shape]],
    own_costs: Mapping[str, Cost],
) -> Result:
    """The result of a layer that uses the weights of `layer.shares`: its params and
    buffers counted there (PyTorch counts a module called twice once), refused unless
    the two are the same layer (type and fields) on inputs of the same channels."""
    owner, owner_inputs, _ = seen[layer.shares]
    if type(owner) is not type(layer):
        raise ConvCalcError(
            f"{shown(layer.shares)} is a {owner.type_name()}, this layer a"
            f" {layer.type_name()}: a layer shares the weights of one of its own type",
            field="shares",
        )
    for key, value in layer.__dict__.items():
        if key not in _WIRING and value != owner.__dict__[key]:
            raise ConvCalcError(
                f"{key} is {shown(value)} here and {shown(owner.__dict__[key])} at"
                f" {shown(layer.shares)}: a layer that shares weights has its owner's fields",
                field="shares",
            )
    mine, theirs = in_shapes[0], owner_inputs[0]
    mine_params, owner_params = own_costs[layer.name], own_costs[layer.shares]
    if mine.channels != theirs.channels or (mine_params.params, mine_params.buffers) != (
        owner_params.params,
        owner_params.buffers,
    ):
        raise ConvCalcError(
            f"its weights would differ from those of {shown(layer.shares)}: its input {mine}"
            f" ({mine_params.params:,} params) against {theirs} ({owner_params.params:,})",
            field="shares",
        )
    unshared = dict(params=0, buffers=0)
    return dataclasses.replace(
        result,
        cost=dataclasses.replace(result.cost, **unshared),
        parts=tuple(
            dataclasses.replace(part, cost=dataclasses.replace(part.cost, **unshared))
            for part in result.parts
        ),
    )


_DATA_DEPENDENT_NOTE = (
    "the input positions it reads depend on the data: its receptive field, and that of every"
    " layer it feeds, is unknown (?)"
)


def _with_symbols(shape: Shape) -> Shape:
    """The input shape with its symbol names made sympy symbols (sympy imported here)."""
    from convcalc import symbolic

    return Shape(
        shape.channels,
        tuple(symbolic.symbol(size) if isinstance(size, str) else size for size in shape.spatial),
    )


def _conditions(result: Result, symbols: tuple[str, ...]) -> tuple[Condition, ...]:
    """The conditions a layer puts on the input's symbols: none for a concrete input
    (where a failed check is an error or a note already)."""
    if not symbols or not result.conditions:
        return ()
    from convcalc import symbolic

    return symbolic.on_symbols(result.conditions)


def _field_figures(field: tuple[receptive.DimField, ...] | None) -> tuple[tuple | None, ...]:
    """A field's size, stride and padding, each one figure per dim; a figure is None when
    it is known only once the sizes are set."""
    if field is None:
        return None, None, None
    figures = (
        tuple(dim.size for dim in field),
        tuple(dim.stride for dim in field),
        tuple(dim.padding for dim in field),
    )
    # `is None`, not `None in`: that would ask each Fraction's __eq__.
    return tuple(None if any(value is None for value in values) else values for values in figures)


# The fields that wire a layer into the network rather than set what it computes.
_WIRING = ("name", "inputs", "shares")


def _result(layer: Layer, inputs: Inputs, results: dict[tuple, Result] | None) -> Result:
    """`layer.analyze(inputs)`, or the result of an earlier layer of the same type and
    settings on the same input shape, kept in `results` (None: keep none).

    Networks repeat layers (a block's, a chain's): a one-input layer that names no other
    layer (none of its `references` set) gets only its input's shape and its own fields,
    so its result follows from those (see Layer.analyze), and the same layer further on
    need not be worked out again.
    """
    names_another = any(getattr(layer, field) is not None for field in type(layer).references)
    if results is None or len(inputs.shapes) != 1 or names_another:
        return layer.analyze(inputs)
    # Field values are numbers, strings, lists of them and None, whose repr tells them apart.
    settings = repr([value for key, value in layer.__dict__.items() if key not in _WIRING])
    key = (type(layer), settings, inputs.shapes[0])
    result = results.get(key)
    if result is None:
        result = results[key] = layer.analyze(inputs)
    return result


def map_figures(record: Row | Totals, function: Callable) -> Row | Totals:
    """A row or totals with `function` applied to each figure (each size of a shape);
    None, a figure known only once the sizes are set, stays None."""

    def apply(value):
        if isinstance(value, tuple):
            return tuple(apply(item) for item in value)
        return None if value is None else function(value)

    changes: dict[str, object] = {
        "figures": {name: apply(value) for name, value in record.figures.items()}
    }
    if isinstance(record, Row) and record.parts:
        changes["parts"] = tuple(
            Part(
                part.name,
                Shape(part.output.channels, apply(part.output.spatial)),
                Cost(
                    **{
                        cost.name: apply(getattr(part.cost, cost.name))
                        for cost in dataclasses.fields(Cost)
                    }
                ),
            )
            for part in record.parts
        )
    return dataclasses.replace(record, **changes)


def _settled(record: Row | Totals) -> Row | Totals:
    """A row or totals with constants as ints and figures known only later as None."""
    from convcalc import symbolic

    def settle(value):
        return None if symbolic.is_unknown(value) else symbolic.settle(value)

    return map_figures(record, settle)


def _input_shapes(layer: Layer, sources: list[str], shapes: dict[str, Shape]) -> list[Shape]:
    if len(sources) < layer.min_inputs or (
        layer.max_inputs is not None and len(sources) > layer.max_inputs
    ):
        wanted = (
            f"at least {layer.min_inputs}"
            if layer.max_inputs is None
            else f"exactly {layer.min_inputs}"
        )
        raise ConvCalcError(
            f"{layer.type_name()} takes {wanted} input(s), got {len(sources)}", field="inputs"
        )
    in_shapes = [shapes[name] for name in sources]
    layer.check_rank(in_shapes[0])
    return in_shapes


def _network_notes(network: Network, rows: list[Row], input_names: tuple[str, ...]) -> list[Row]:
    """The rows with the notes about the network as a whole added to the layers concerned:
    outputs nobody reads (a branch left out of a concat still counts), network inputs
    nobody reads, the layers that use another's weights, and the spec's own notes (an
    input that reads like PyTorch's NCHW with its batch)."""
    read = {name for row in rows for name in row.inputs}
    read |= {
        getattr(layer, reference)
        for layer in network.layers
        for reference in type(layer).references
        if isinstance(getattr(layer, reference, None), str)
    }
    outputs = set(network.outputs)
    added: dict[int, list[str]] = {}
    by_name = {row.name: row for row in rows}
    for row, layer in zip(rows, network.layers, strict=True):
        if row.name not in read and row.name not in outputs:
            added.setdefault(row.index, []).append(
                "nothing reads this output and it is not a network output, yet its params"
                " and MACs count in the totals"
            )
        if layer.shares is not None and by_name[layer.shares].params:
            added.setdefault(row.index, []).append(
                f"uses the weights of {layer.shares}: its params count there, once"
            )
    unread = [name for name in input_names if name not in read]
    if unread and len(input_names) > 1:
        added.setdefault(1, []).append(
            f"nothing reads the network input{'s' if len(unread) > 1 else ''}"
            f" {', '.join(unread)}, yet {'they count' if len(unread) > 1 else 'it counts'}"
            " in the activation memory"
        )
    if network.notes:
        added.setdefault(1, []).extend(network.notes)
    return [
        dataclasses.replace(row, notes=(*row.notes, *added[row.index]))
        if row.index in added
        else row
        for row in rows
    ]


def _batched(cost: Cost, batch: int) -> Cost:
    """A layer's per-sample cost for the whole batch; params and buffers are per network."""
    if batch == 1:
        return cost
    return Cost(
        cost.params, cost.buffers, cost.macs * batch, cost.flops * batch, cost.connections * batch
    )


def _gridding_notes(
    in_field: tuple[receptive.DimField, ...],
    out_field: tuple[receptive.DimField, ...],
    steps: tuple[receptive.Step, ...] | None,
) -> tuple[str, ...]:
    """Stacked dilations whose receptive field keeps holes (Wang et al. 2018, 'gridding')."""
    if not steps or not any(step.taps for step in steps):
        return ()
    found = []
    for axis, (before, after) in enumerate(zip(in_field, out_field, strict=True)):
        if before.has_holes and after.has_holes:
            covered = sum(end - start + 1 for start, end in after.pieces)
            found.append(
                (
                    axis,
                    f"stacked dilations leave {int(after.size) - covered} of {after.size}"
                    " positions of the receptive field unseen (gridding)",
                )
            )
    return tuple(by_dims(found))
