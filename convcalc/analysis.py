"""The analysis: shapes, costs, memory and receptive fields of every layer, as plain data.

Pure: it never prints. `spec` feeds it validated layers; `render` turns its report into
tables, JSON, markdown or CSV.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from convcalc import field as receptive
from convcalc.errors import ConvCalcError
from convcalc.layers.base import Cost, Inputs, Layer, Part, Shape, by_dims
from convcalc.spec import INPUT, Network, load_path


@dataclass(frozen=True)
class Row:
    """One layer's figures, for the whole batch (params and buffers are per network)."""

    index: int
    name: str
    type: str
    inputs: tuple[str, ...]
    follows_previous: bool  # reads just the layer listed before it
    output_shape: tuple[int, ...]
    params: int
    buffers: int
    macs: int
    flops: int
    connections: int
    output_bytes: int
    receptive_field: tuple[Fraction, ...]
    effective_stride: tuple[Fraction, ...]
    effective_padding: tuple[Fraction, ...]
    notes: tuple[str, ...] = ()
    parts: tuple[Part, ...] = ()


@dataclass(frozen=True)
class Totals:
    """Whole-network figures."""

    params: int
    trainable_params: int
    buffers: int
    macs: int
    flops: int
    connections: int
    peak_activation_bytes: int
    model_bytes: int


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

    @property
    def notes(self) -> list[tuple[str, str]]:
        """(layer name, note) for every non-fatal oddity found."""
        return [(row.name, note) for row in self.layers for note in row.notes]

    def last_spatial_row(self) -> Row | None:
        """The last layer whose output has spatial dims; None when every output is flat."""
        for row in reversed(self.layers):
            if len(row.output_shape) > 1:
                return row
        return None


def analyze_path(
    path: str | Path, input_shape: tuple[int, ...] | None = None, batch: int | None = None
) -> Report:
    """Load the spec at `path` and analyze it."""
    network = load_path(path)
    try:
        return analyze(network, input_shape, batch)
    except ConvCalcError as error:
        raise error.add_context(file=str(path)) from None


def analyze(
    network: Network, input_shape: tuple[int, ...] | None = None, batch: int | None = None
) -> Report:
    """Propagate shapes through the network and tally every figure, layer by layer."""
    source = Shape(input_shape[0], tuple(input_shape[1:])) if input_shape else network.input
    batch = batch or network.batch
    value_bytes = network.dtype_bytes * batch
    shapes: dict[str, Shape] = {INPUT: source}
    fields = {INPUT: receptive.input_field(len(source.spatial))}
    seen: dict[str, tuple[Layer, list[Shape], Shape]] = {}
    rows = []
    previous = INPUT
    for index, layer in enumerate(network.layers, start=1):
        sources = layer.inputs or [previous]
        try:
            in_shapes = _input_shapes(layer, sources, shapes)
            result = layer.analyze(Inputs(in_shapes, sources, seen.get))
        except ConvCalcError as error:
            line = network.lines.get(layer.name)
            raise error.add_context(layer_index=index, layer_name=layer.name, line=line) from None
        out = result.output
        in_field = (
            receptive.union([fields[name] for name in sources])
            if len(sources) > 1
            else fields[sources[0]]
        )
        out_field = receptive.through(in_field, result.steps) if result.steps else in_field
        notes = result.notes + _gridding_notes(in_field, out_field, result.steps)
        shapes[layer.name] = out
        fields[layer.name] = out_field
        seen[layer.name] = (layer, in_shapes, out)

        cost = _batched(result.cost, batch)
        rows.append(
            Row(
                index=index,
                name=layer.name,
                type=layer.type_name(),
                inputs=tuple(sources),
                follows_previous=sources == [previous],
                output_shape=out.as_tuple(),
                params=cost.params,
                buffers=cost.buffers,
                macs=cost.macs,
                flops=cost.flops,
                connections=cost.connections,
                output_bytes=out.numel * value_bytes,
                receptive_field=tuple(dim.size for dim in out_field),
                effective_stride=tuple(dim.stride for dim in out_field),
                effective_padding=tuple(dim.padding for dim in out_field),
                notes=notes,
                parts=tuple(
                    Part(part.name, part.output, _batched(part.cost, batch))
                    for part in result.parts
                ),
            )
        )
        previous = layer.name
    params = sum(row.params for row in rows)
    buffers = sum(row.buffers for row in rows)
    totals = Totals(
        params=params,
        trainable_params=params,
        buffers=buffers,
        macs=sum(row.macs for row in rows),
        flops=sum(row.flops for row in rows),
        connections=sum(row.connections for row in rows),
        peak_activation_bytes=peak_live(
            source.numel * value_bytes, rows, lambda row: row.output_bytes
        ),
        model_bytes=(params + buffers) * network.dtype_bytes,
    )
    return Report(network.name, network.file, source.as_tuple(), batch, network.dtype, rows, totals)


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


def last_use(rows: Sequence[Row]) -> dict[str, int]:
    """The index (as `Row.index`) of the last layer reading each tensor, by tensor name."""
    return {name: row.index for row in rows for name in row.inputs}


def peak_live(input_size: int, rows: Sequence[Row], size: Callable[[Row], int]) -> int:
    """The largest total `size` of the tensors live at once, the input's being `input_size`.

    A layer's output is live from that layer until its last reader has run (both at once
    while the reader runs); an output nobody reads stays live to the end.
    """
    last = last_use(rows)
    live = {INPUT: input_size}
    total = peak = input_size
    for row in rows:
        live[row.name] = size(row)
        total += live[row.name]
        peak = max(peak, total)
        for name in set(row.inputs):
            if last[name] == row.index:
                total -= live.pop(name)
    return peak


def _batched(cost: Cost, batch: int) -> Cost:
    """A layer's per-sample cost for the whole batch; params and buffers are per network."""
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
