"""What every layer type shares: the shape and cost records, and the Layer base model.

A layer type is one pydantic model (its spec fields) with one `analyze` method that turns
its input shapes into an output shape, its costs, its receptive-field steps and its notes.
"""

# Not `from __future__ import annotations`: pydantic reads the annotations of a model and
# of all its bases, and as strings it would compile and evaluate Layer's again for every
# layer type.

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from convcalc import dims as dimension
from convcalc.errors import ConvCalcError
from convcalc.field import FieldKind, Step

PositiveInt = Annotated[int, Field(ge=1, le=2**31)]  # channels, features, groups
SpatialInt = Annotated[int, Field(ge=1, le=dimension.MAX_SPATIAL)]  # kernels, strides, sizes
NonNegativeInt = Annotated[int, Field(ge=0, le=dimension.MAX_SPATIAL)]  # paddings
# An int for every spatial dim, or one per dim.
SizeArg = SpatialInt | list[SpatialInt]
# An int for every side, one per dim, one [before, after] pair per dim, 'valid' or 'same'.
PaddingArg = (
    NonNegativeInt
    | list[NonNegativeInt | Annotated[list[NonNegativeInt], Field(min_length=2, max_length=2)]]
    | Literal["valid", "same"]
)
# What padding holds (nn.Conv2d's padding_mode; F.pad's modes, `zeros` being its `constant`
# with value 0): zeros, or copies of real inputs, mirrored without the edge, the edge
# repeated, or wrapped around from the other end.
PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]


INPUT = "input"  # the network input, as layers name it in `inputs`


@dataclass(frozen=True)
class Shape:
    """A tensor's shape for one sample: channels (or features) first, then spatial sizes."""

    channels: int
    spatial: tuple[int, ...] = ()

    # Kept once worked out: a formula's products cost sympy's time, and a layer's
    # costs and the analysis ask for them several times.
    @cached_property
    def numel(self) -> int:
        """Number of values."""
        return self.positions if self.channels == 1 else self.channels * self.positions

    @cached_property
    def positions(self) -> int:
        """Number of spatial positions (1 for a flat tensor)."""
        count = 1
        for size in self.spatial:
            count = size if count == 1 else count * size  # not 1 * a formula: a sympy step
        return count

    def as_tuple(self) -> tuple[int, ...]:
        """(channels, *spatial)."""
        return (self.channels, *self.spatial)

    def __str__(self) -> str:
        return "x".join(str(size) for size in self.as_tuple())


@dataclass(frozen=True)
class Cost:
    """Per-sample figures of one layer; see README 'Conventions' for each definition."""

    params: int = 0
    buffers: int = 0
    macs: int = 0
    flops: int = 0
    connections: int = 0

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(
            self.params + other.params,
            self.buffers + other.buffers,
            self.macs + other.macs,
            self.flops + other.flops,
            self.connections + other.connections,
        )


@dataclass(frozen=True)
class Part:
    """One step of a composite layer, shown beneath it (separable conv: depthwise, pointwise)."""

    name: str
    output: Shape
    cost: Cost


@dataclass(frozen=True)
class Result:
    """What a layer makes of its inputs."""

    output: Shape
    cost: Cost = Cost()
    # How an output position maps to input positions, per spatial dim (a step of None: known
    # once the sizes are set); None: unchanged (several inputs: the union of their fields).
    # What they say of the positions read is the layer's `field_kind`; a data-dependent
    # layer gives none.
    steps: tuple[Step, ...] | None = None
    notes: tuple[str, ...] = ()
    parts: tuple[Part, ...] = ()
    # What the layer relies on of formula sizes (and, for `convcalc sizes --exact`, the
    # rows a stride drops at number sizes): see dims.Conditions.
    conditions: tuple[dimension.Condition, ...] = ()


# What a saved tensor is (Saved.tensor): one of the layer's inputs, its output, a tensor
# the layer makes for its backward (batchnorm's statistics, max_pool's indices), or one
# that another layer made and named (max_unpool's pool's indices).
INPUT_TENSOR, OUTPUT_TENSOR, NEW_TENSOR, NAMED_TENSOR = "input", "output", "new", "named"
# When a layer saves it, given that it has a backward at all: always, only when its own
# weights train (dense's input, for the weight gradient), or only when another of its
# inputs needs a gradient (multiply's operands, each for the other's gradient).
ALWAYS, WEIGHTS_TRAIN, OTHERS_NEED_GRAD = "always", "weights train", "others need grad"


@dataclass(frozen=True)
class Saved:
    """One tensor a layer's forward keeps for its backward, as PyTorch's autograd does."""

    tensor: str  # INPUT_TENSOR, OUTPUT_TENSOR, NEW_TENSOR or NAMED_TENSOR
    index: int = 0  # INPUT_TENSOR: which input
    values: int = 0  # NEW_TENSOR: its values per sample (per batch with `per_batch`)
    value_bytes: int | None = None  # NEW_TENSOR: bytes of a value; None: the activations'
    per_batch: bool = False  # one tensor for the batch (batchnorm's per-channel statistics)
    # NEW_TENSOR: the name later layers save it by (max_pool's "indices"); NAMED_TENSOR:
    # (layer, name) of the tensor an earlier layer made.
    key: str | tuple[str, str] | None = None
    when: str = ALWAYS

    @classmethod
    def input(cls, index: int = 0, when: str = ALWAYS) -> "Saved":
        """The layer's input `index`."""
        return cls(INPUT_TENSOR, index=index, when=when)

    @classmethod
    def output(cls) -> "Saved":
        """The layer's output."""
        return cls(OUTPUT_TENSOR)

    @classmethod
    def new(
        cls,
        values: int,
        value_bytes: int | None = None,
        per_batch: bool = False,
        key: str | None = None,
    ) -> "Saved":
        """A tensor the layer makes for its backward, of `values` values per sample."""
        return cls(NEW_TENSOR, values=values, value_bytes=value_bytes, per_batch=per_batch, key=key)

    @classmethod
    def named(cls, layer: str, key: str) -> "Saved":
        """The tensor `key` that the earlier layer `layer` made."""
        return cls(NAMED_TENSOR, key=(layer, key))


@dataclass(frozen=True)
class Backward:
    """What a layer's backward pass does, per sample, and what its forward keeps for it.

    The MACs of each gradient count only when it is computed: the weights' when they train,
    the input's when an input needs a gradient (see README "Training"). `flops` is the
    elementwise work done whenever the layer has a backward at all.
    """

    weight_macs: int = 0  # the weight gradient (conv, dense: the forward's MACs)
    input_macs: int = 0  # the input gradient (conv, dense: the forward's MACs)
    # Gradients inside the layer, done whenever it has a backward: a separable conv's
    # pointwise input gradient, which its depthwise weight gradient needs.
    inner_macs: int = 0
    weight_flops: int = 0  # beyond 2 per MAC, when the weights train: the bias gradient
    flops: int = 0  # elementwise work, whenever it has a backward
    saves: tuple[Saved, ...] = ()
    # Its output is a view of its first input's storage (flatten, slice, crop): saving
    # the output keeps that storage alive, as in PyTorch.
    view: bool = False


NO_BACKWARD = Backward()  # a layer that moves values: no arithmetic, nothing saved


@dataclass(frozen=True)
class Inputs:
    """The shapes reaching a layer, and a way to look at earlier layers by name."""

    shapes: list[Shape]
    names: list[str]
    # name -> (layer, its input shapes, its output shape); used by max_unpool to find its pool
    lookup: Callable[[str], "tuple[Layer, list[Shape], Shape] | None"] = field(
        default=lambda name: None
    )
    # The network inputs by name (`input` for a spec's single `input:`).
    network_inputs: Mapping[str, Shape] = field(default_factory=dict)

    def output_of(self, name: str) -> Shape | None:
        """The output shape of the earlier layer `name`, or of the network input `name`;
        None when there is none of that name before this layer."""
        if name in self.network_inputs:
            return self.network_inputs[name]
        found = self.lookup(name)
        return None if found is None else found[2]

    @property
    def only(self) -> Shape:
        """The single input of a one-input layer."""
        return self.shapes[0]


class ForwardContext:
    """What the layers of one reference forward pass hand to later layers, by layer name.

    `convcalc verify` makes one per run from what each layer `needs` and passes it to every
    layer's `forward`: a layer saves what a later one asked of it (max_pool its argmax, for
    max_unpool) and the later one reads it back, so that the kernels keep nothing between
    calls.
    """

    def __init__(self, needs: Iterable[tuple[str, str]] = ()) -> None:
        self._wanted = set(needs)
        self._saved: dict[tuple[str, str], object] = {}

    def wanted(self, name: str, key: str) -> bool:
        """Whether a later layer reads `key` of layer `name`: only then is it worth saving."""
        return (name, key) in self._wanted

    def save(self, name: str, key: str, value) -> None:
        """Keep `value` under layer `name` and `key` for the layers after it."""
        self._saved[name, key] = value

    def saved(self, name: str, key: str):
        """What layer `name` saved under `key`."""
        return self._saved[name, key]


class Layer(BaseModel):
    """Base of every layer type: the fields all layers share."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)

    name: str
    inputs: list[str] | None = None
    # An earlier layer whose weights this one uses (PyTorch: the same module called
    # twice); its params count there, once. See README "Conventions".
    shares: str | None = None
    # False: its weights get no gradient (a frozen backbone); see README "Training".
    trainable: bool = True

    # How many inputs the layer takes.
    # Fields that name other layers (resolved like `inputs` when blocks are expanded).
    references: ClassVar[tuple[str, ...]] = ()
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    # Whether the layer needs spatial dims (so `conv2d`-style aliases make sense for it).
    spatial: ClassVar[bool] = False
    # Whether it summarizes the map (global and adaptive pools, flatten): its field is then
    # about the input's size, so receptive-field budgets look at the layer before it.
    summarizes_map: ClassVar[bool] = False
    # What its receptive-field steps say of the positions an output reads: those exact
    # positions, a continuous envelope around them (upsampling, adaptive windows), or
    # nothing, when they depend on the data (see field.FieldKind).
    field_kind: ClassVar[FieldKind] = FieldKind.EXACT
    # What its forward can save in the ForwardContext for a later layer that `needs` it
    # (max_pool: "indices"); a layer naming this one checks it here, not by its class.
    provides: ClassVar[tuple[str, ...]] = ()
    # Weights that are state, not parameters (batchnorm's running mean and variance):
    # `convcalc verify` leaves them out of the params it counts.
    buffer_names: ClassVar[tuple[str, ...]] = ()

    # Spatial rank required by a `conv2d`-style alias; None when the plain type name was used.
    _rank: int | None = PrivateAttr(default=None)

    @classmethod
    def type_name(cls) -> str:
        """The `type:` string of this layer type in a spec."""
        return cls.model_fields["type"].default

    @classmethod
    def expand_parts(cls, raw: dict) -> list[dict] | None:
        """For a layer of several outputs (split), the spec fields of one row per output,
        which the loader names NAME.0, NAME.1, ...; None (here) for a layer of one."""
        return None

    def analyze(self, inputs: Inputs) -> Result:
        """Output shape, costs, receptive-field steps and notes of this layer.

        For a layer of one input and none of its `references` set, the result must follow
        from its fields (but `name` and `inputs`) and the input's shape alone: the analysis
        reuses it for every later layer of the same type and fields on an input of that
        shape.
        """
        raise NotImplementedError

    # The NumPy reference that `convcalc verify` runs. Arrays are [batch, channels, *spatial];
    # `kernels` is a convcalc.numeric.Kernels. NumPy is imported inside these methods only,
    # so that `convcalc shapes` never loads it.

    def make_weights(self, inputs: Inputs, rng) -> dict:
        """Seeded random parameters and buffers, by name, in PyTorch's layouts (none here)."""
        return {}

    def needs(self) -> tuple[tuple[str, str], ...]:
        """(layer name, key) of what earlier layers' forwards must save in the
        ForwardContext for this one's (none here)."""
        return ()

    def forward(
        self, inputs: Inputs, values: list, weights: dict, kernels, context: ForwardContext
    ):
        """The layer's output for its input arrays; `context` holds what earlier layers saved
        and takes what this one saves for later ones."""
        raise NotImplementedError

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """The gradients' MACs and FLOPs and the tensors saved for them (README
        "Training"), given this layer's analysis `result` of `inputs`. Every layer type
        states its own rule."""
        raise NotImplementedError(f"{self.type_name()} states no backward rule")

    def connections(self, inputs: Inputs, weights: dict, kernels) -> int:
        """(output value, real input value or bias) pairs of one sample, counted on indicators.

        None here: a layer that copies, moves or rescales single values joins no units.
        """
        return 0

    def dependency(self, inputs: Inputs, masks: list, kernels):
        """Which input positions reach each output position, on one-channel masks.

        Masks are [planes, 1, *spatial] and non-zero where a plane's input reaches; here each
        output position depends on the same position of the input.
        """
        return masks[0]

    def check_rank(self, shape: Shape) -> None:
        """Refuse a layer that needs spatial dims on a flat input, or an alias of the wrong rank."""
        if self.spatial and not shape.spatial:
            raise ConvCalcError(
                f"{self.type_name()} needs spatial dims, but its input {shape} is flat",
                field="type",
            )
        if self._rank is not None and self._rank != len(shape.spatial):
            raise ConvCalcError(
                f"{self.type_name()}{self._rank}d on a {len(shape.spatial)}-d input {shape}",
                field="type",
            )


def per_dim(value, dims: int, field_name: str) -> tuple:
    """One value for every spatial dim, or a list with one per dim."""
    if not isinstance(value, list):
        return (value,) * dims
    if len(value) != dims:
        raise ConvCalcError(
            f"{len(value)} values for a {dims}-d input (give one int or {dims})", field=field_name
        )
    return tuple(value)


def check_groups(in_channels: int, out_channels: int, groups: int) -> None:
    """Refuse channel counts that `groups` does not divide (PyTorch's grouped conv rule)."""
    for what, channels in (("in", in_channels), ("out", out_channels)):
        if channels % groups:
            raise ConvCalcError(
                f"{what}_channels {channels} is not divisible by groups {groups}", field="groups"
            )


def kernel_volume(windows: tuple[dimension.Window, ...]) -> int:
    """Nominal number of taps in one window: the product of its per-dim kernel sizes."""
    return math.prod(window.kernel for window in windows)


def resolve_padding(
    padding: int | list | str,
    sizes: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> tuple[tuple[int, int], ...]:
    """Per-dim (before, after) padding from any of the spec's padding forms."""
    dims = len(sizes)
    if padding == "valid":
        return ((0, 0),) * dims
    if padding == "same":
        return tuple(map(dimension.same_padding, sizes, kernel, stride, dilation))
    if isinstance(padding, int):
        return ((padding, padding),) * dims
    if len(padding) != dims:
        raise ConvCalcError(
            f"{len(padding)} values for a {dims}-d input (give one int or {dims})", field="padding"
        )
    return tuple((side, side) if isinstance(side, int) else (side[0], side[1]) for side in padding)


def check_padding_mode(
    mode: str,
    shape: Shape,
    pads: tuple[tuple[int, int], ...],
    conditions: dimension.Conditions,
    field_name: str = "padding",
) -> None:
    """Refuse padding that its mode cannot fill, as PyTorch does: reflect padding must be
    less than the input size on its dim (a mirror without the edge has size - 1 values to
    copy), circular padding at most the size (it wraps around once). For formula sizes the
    bound is kept in `conditions`."""
    if mode not in ("reflect", "circular"):
        return
    relation, bound = ("<", "less than") if mode == "reflect" else ("<=", "at most")
    for axis, (size, sides) in enumerate(zip(shape.spatial, pads, strict=True)):
        for side in dict.fromkeys(sides):  # each distinct side once: one condition each
            if conditions.violated(dimension.compare(side, relation, size), field_name):
                raise ConvCalcError(
                    f"{mode} padding {side} must be {bound} the input size {size}"
                    f" in spatial dim {axis + 1} of input {shape}",
                    field=field_name,
                )


def every_tap(windows: tuple[dimension.Window, ...], out: Shape) -> int:
    """Input positions read, summed over output positions, when padding holds copies of
    real inputs (reflect, replicate, circular): every tap reads a real value."""
    return out.positions * kernel_volume(windows)


def make_windows(
    shape: Shape,
    kernel_size: int | list[int],
    stride: int | list[int],
    padding: int | list | str,
    dilation: int | list[int] = 1,
    ceil_mode: bool = False,
) -> tuple[dimension.Window, ...]:
    """The per-dim windows of a sliding-window layer, checked to fit its input."""
    dims = len(shape.spatial)
    kernel = per_dim(kernel_size, dims, "kernel_size")
    strides = per_dim(stride, dims, "stride")
    dilations = per_dim(dilation, dims, "dilation")
    pads = resolve_padding(padding, shape.spatial, kernel, strides, dilations)
    windows = tuple(
        dimension.Window(k, s, before, after, d, ceil_mode, same=padding == "same")
        for k, s, (before, after), d in zip(kernel, strides, pads, dilations, strict=True)
    )
    for axis, (window, size) in enumerate(zip(windows, shape.spatial, strict=True)):
        # With ceil_mode the last window may run past the input (PyTorch pooling). For a
        # formula size the output's `sized` check states the same condition.
        known = dimension.is_known(size, window.pad_before, window.pad_after)
        if known and window.extent > window.padded(size) and not ceil_mode:
            dilated = f" (dilated {window.extent})" if window.dilation > 1 else ""
            raise ConvCalcError(
                f"kernel {window.kernel}{dilated} exceeds padded input {window.padded(size)}"
                f" in spatial dim {axis + 1} of input {shape}",
                field="kernel_size",
            )
    return windows


def by_dims(found: list[tuple[int, str]]) -> list[str]:
    """Notes found per spatial dim (axis, text), the dims sharing a text named once."""
    axes: dict[str, list[str]] = {}
    for axis, text in found:
        axes.setdefault(text, []).append(str(axis + 1))
    return [
        f"{text} (spatial dim{'s' if len(dims) > 1 else ''} {', '.join(dims)})"
        for text, dims in axes.items()
    ]


def window_notes(
    shape: Shape,
    windows: tuple[dimension.Window, ...],
    out: Shape,
    conditions: dimension.Conditions,
) -> list[str]:
    """Non-fatal oddities of a sliding window: trailing rows or columns the stride never reads.

    Only for windows that tile their input (extent >= stride): a 1x1 stride-2 conv skips
    every other position by design, the last one included.
    """
    found = []
    for axis, (window, size, out_size) in enumerate(
        zip(windows, shape.spatial, out.spatial, strict=True)
    ):
        if window.extent < window.stride:
            continue
        # With formula sizes, dropping no row is a condition for `convcalc sizes --exact`;
        # the note stays for rows dropped at every size.
        unread = window.unread(size, out_size)
        exact = dimension.compare(unread, "<=", 0)
        if conditions.violated(exact, "stride", kind="exact", axis=axis):
            found.append(
                (
                    axis,
                    f"stride {window.stride} never reads the last {unread} of {size} input"
                    " positions",
                )
            )
    return by_dims(found)


def window_steps(windows: tuple[dimension.Window, ...]) -> tuple[Step, ...]:
    """Receptive-field steps of a sliding window."""
    return tuple(Step.window(window) for window in windows)


def sized(
    channels: int,
    sizes: tuple[int, ...],
    source: Shape,
    field_name: str,
    conditions: dimension.Conditions,
) -> Shape:
    """An output shape, refusing spatial sizes below 1 or above dims.MAX_SPATIAL (for
    formula sizes, keeping in `conditions` that they are not)."""
    out = Shape(channels, tuple(sizes))
    if dimension.is_known(*sizes):  # the common case, kept quick
        too_small = min(sizes) < 1
        too_large = max(sizes) > dimension.MAX_SPATIAL
    else:
        dimension.check_formulas(sizes, field_name)
        too_small = any(
            conditions.violated(dimension.compare(size, ">=", 1), field_name) for size in sizes
        )
        too_large = not too_small and any(
            conditions.violated(dimension.compare(size, "<=", dimension.MAX_SPATIAL), field_name)
            for size in sizes
        )
    if too_small:
        raise ConvCalcError(f"output {out} below size 1 for input {source}", field=field_name)
    if too_large:
        raise ConvCalcError(
            f"output {out} exceeds {dimension.MAX_SPATIAL} in a spatial dim", field=field_name
        )
    return out


def mismatched(
    first: tuple, second: tuple, field_name: str, conditions: dimension.Conditions
) -> bool:
    """True when two tuples of sizes differ; formulas that differ must be equal for the
    network to run, a condition on the input sizes kept in `conditions`."""
    if len(first) != len(second):
        return True
    return any(
        conditions.violated(dimension.compare(a, "==", b), field_name)
        for a, b in zip(first, second, strict=True)
    )


def windowed_output(
    shape: Shape,
    channels: int,
    windows: tuple[dimension.Window, ...],
    conditions: dimension.Conditions,
) -> Shape:
    """Output shape of a sliding window, refusing an empty output."""
    sizes = tuple(w.output_size(n) for w, n in zip(windows, shape.spatial, strict=True))
    return sized(channels, sizes, shape, "kernel_size", conditions)


def real_taps(shape: Shape, windows: tuple[dimension.Window, ...], out: Shape) -> int:
    """Real (non-padding) input positions read, summed over output positions.

    The count factorizes over dims, since a window's real taps are the product of each dim's.
    """
    total = 1
    for window, size, out_size in zip(windows, shape.spatial, out.spatial, strict=True):
        taps = window.real_taps(size, out_size)
        if not isinstance(taps, int):  # unknown until the sizes are set, and so the product
            return taps
        total *= taps
    return total
