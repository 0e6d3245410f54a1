"""Normalizations: layer, group and instance norm, and local response normalization.

Layer, group and instance norm divide every value by statistics of its group of values
(PyTorch nn.LayerNorm, nn.GroupNorm, nn.InstanceNormNd; torchvision's LayerNorm2d). Unlike
batchnorm, whose running statistics fold into a scale and a shift for inference, they
compute their mean and variance from the data at inference too, and that is counted:

- FLOPs over a group of m values: the mean, m - 1 adds and a divide (1 per value); the
  variance, centre, square and m - 1 adds and a divide (3 per value); eps added, a sqrt and a
  reciprocal once per group (3); the centred value times that reciprocal (1 per value); and
  the affine weight and bias, 1 each per value: 5 per value + 3 per group, + 2 with affine;
- connections: each output is computed from every value of its group: m per output value.
  The affine weight and bias rescale within a unit, as batchnorm's do, and add none;
- receptive field: a group across the spatial dims (group and instance norm, layer norm
  over all) makes every output depend on the whole map, wherever it is. That is a field
  whose start does not move with the output position: stride 0, and the kernel spans the
  input (the union of every input position's field). Every later field is then the whole
  map too, as `convcalc verify` measures. Layer norm over the channels stays at its position.

Local response normalization (Krizhevsky et al. 2012, section 3.3; `lrn`, the name ONNX,
Caffe and TensorFlow give it) divides each value by the energy of the `size` channels
around it; PyTorch's form divides alpha by size. Its spatial
field is one position, but each output reads its neighbouring channels: connections.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from convcalc import dims as dimension
from convcalc.errors import ConvCalcError
from convcalc.field import Step
from convcalc.layers.base import Backward, Cost, Inputs, Layer, PositiveInt, Result, Saved, Shape
from convcalc.layers.elementwise import STATISTICS_BYTES, affine_backward

Epsilon = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Real = Annotated[float, Field(allow_inf_nan=False)]

# FLOPs of normalizing by statistics of the data (see the module docstring).
STATISTICS_FLOPS_PER_VALUE = 5  # mean 1, variance 3, scaling by 1/std 1
STATISTICS_FLOPS_PER_GROUP = 3  # eps add, sqrt, reciprocal
# Folded running statistics (batchnorm, instance norm tracking them): a scale and a shift.
FOLDED_FLOPS_PER_VALUE = 2


@dataclass(frozen=True)
class Grouping:
    """Which values a normalization takes its statistics over, for one sample."""

    groups: int  # groups per sample
    size: int  # values per group
    across_positions: bool  # whether a group spans the spatial dims
    weight_size: int  # values of the affine weight (and of the bias)
    affine_terms: int  # 0, 1 (weight only) or 2 (weight and bias)


def whole_map_steps(shape: Shape) -> tuple[Step | None, ...]:
    """Every output reads the whole map: per dim, a field that does not move (stride 0) and
    spans the input; None for a formula size, known once it is set (like a global pool)."""
    return tuple(
        Step(Fraction(size), Fraction(0), Fraction(0)) if dimension.is_known(size) else None
        for size in shape.spatial
    )


def whole_map(mask):
    """A skeleton mask where each plane reaches every position it reaches anywhere."""
    import numpy as np

    axes = tuple(range(2, mask.ndim))
    return np.broadcast_to(mask.any(axis=axes, keepdims=True), mask.shape)


class _Statistics(Layer):
    """What layer, group and instance norm share: statistics of groups of values."""

    eps: Epsilon = 1e-5

    def grouping(self, shape: Shape) -> Grouping:
        """The groups the statistics are taken over, and the affine weights' size."""
        raise NotImplementedError

    def grouped(self, values):
        """A view of [batch, channels, *spatial] values and the axes of one group in it."""
        raise NotImplementedError

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        grouping = self.grouping(shape)
        cost = Cost(
            params=grouping.affine_terms * grouping.weight_size,
            flops=(STATISTICS_FLOPS_PER_VALUE + grouping.affine_terms) * shape.numel
            + STATISTICS_FLOPS_PER_GROUP * grouping.groups,
            connections=shape.numel * grouping.size,
        )
        steps = whole_map_steps(shape) if grouping.across_positions else None
        notes = ()
        if grouping.size == 1:
            notes = ("each group of its statistics holds one value, which normalizes it to 0",)
        return Result(shape, cost, steps, notes)

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """Autograd keeps the input and each group's mean and inverse std, float32
        (native_layer_norm's and native_group_norm's saved mean and rstd); the weight's
        gradient is 2 FLOPs a value, the bias's 1, the input's the forward's FLOPs."""
        grouping = self.grouping(inputs.only)
        saves = (Saved.input(), Saved.new(2 * grouping.groups, STATISTICS_BYTES))
        return affine_backward(result.output, _weight_flops(grouping), result.cost.flops, saves)

    def make_weights(self, inputs: Inputs, rng) -> dict:
        """weight and bias in PyTorch's layout: per channel, or the normalized shape."""
        import numpy as np

        from convcalc import numeric

        grouping = self.grouping(inputs.only)
        if not grouping.affine_terms:
            return {}
        shape = self.weight_shape(inputs.only)
        weights = {"weight": rng.uniform(0.5, 1.5, shape).astype(np.float32)}
        if grouping.affine_terms == 2:
            weights["bias"] = numeric.random_bias(rng, grouping.weight_size)["bias"].reshape(shape)
        return weights

    def weight_shape(self, shape: Shape) -> tuple[int, ...]:
        """The affine weight's shape: one per channel (overridden by layer norm over all)."""
        return (shape.channels,)

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        """(x - mean) / sqrt(var + eps) over each group (biased variance, as PyTorch),
        then times weight plus bias."""
        import numpy as np

        view, axes = self.grouped(values[0])
        mean = view.mean(axis=axes, keepdims=True)
        centred = view - mean
        variance = np.square(centred).mean(axis=axes, keepdims=True)
        normalized = (centred / np.sqrt(variance + np.float32(self.eps))).reshape(values[0].shape)
        return _affine(normalized, weights, self.weight_shape(inputs.only))

    def connections(self, inputs: Inputs, weights: dict, kernels) -> int:
        """Per output, the real values of its group, counted on an all-ones indicator."""
        import numpy as np

        shape = inputs.only
        view, axes = self.grouped(np.ones((1, *shape.as_tuple()), dtype=np.float64))
        reads = np.broadcast_to(view.sum(axis=axes, keepdims=True), view.shape)
        return int(reads.sum())

    def dependency(self, inputs: Inputs, masks: list, kernels):
        if self.grouping(inputs.only).across_positions:
            return whole_map(masks[0])
        return masks[0]


def _weight_flops(grouping: Grouping) -> int:
    """FLOPs per value of the affine weights' gradients: the weight's a product and a sum,
    2; the bias's a sum, 1."""
    return {0: 0, 1: 2, 2: 3}[grouping.affine_terms]


def _affine(values, weights: dict, weight_shape: tuple[int, ...]):
    """values * weight + bias, each of `weight_shape` over the trailing dims after batch."""
    if "weight" not in weights:
        return values
    shape = (1, *weight_shape, *(1,) * (values.ndim - 1 - len(weight_shape)))
    values = values * weights["weight"].reshape(shape)
    if "bias" in weights:
        values = values + weights["bias"].reshape(shape)
    return values


class LayerNorm(_Statistics):
    """Layer normalization (Ba et al. 2016) over the channels at each position
    (torchvision's LayerNorm2d, ConvNeXt; on a flat input, over its features), or over the
    channels and spatial dims together (nn.LayerNorm([C, *spatial])).

    With elementwise_affine, a weight and (with bias) a bias of the normalized shape: 2*C
    params over the channels, 2*C*prod(spatial) over all. No buffers.
    """

    type: Literal["layer_norm"] = "layer_norm"
    over: Literal["channels", "all"] = "channels"
    elementwise_affine: bool = True
    bias: bool = True

    def grouping(self, shape: Shape) -> Grouping:
        terms = (1 + self.bias) if self.elementwise_affine else 0
        if self.over == "channels":
            return Grouping(shape.positions, shape.channels, False, shape.channels, terms)
        return Grouping(1, shape.numel, bool(shape.spatial), shape.numel, terms)

    def analyze(self, inputs: Inputs) -> Result:
        result = super().analyze(inputs)
        shape = inputs.only
        if self.over == "all" and self.elementwise_affine and not dimension.is_known(shape.numel):
            note = (
                f"its affine weights have the input's shape ({shape.numel} values each):"
                " they grow with the input size"
            )
            return Result(result.output, result.cost, result.steps, (*result.notes, note))
        return result

    def weight_shape(self, shape: Shape) -> tuple[int, ...]:
        return shape.as_tuple() if self.over == "all" else (shape.channels,)

    def grouped(self, values):
        if self.over == "channels":
            return values, (1,)
        return values, tuple(range(1, values.ndim))


class GroupNorm(_Statistics):
    """Group normalization (Wu and He 2018): statistics over each of `num_groups` groups of
    channels and all positions. With affine, a weight and a bias per channel (2*C params).
    No buffers."""

    type: Literal["group_norm"] = "group_norm"
    num_groups: PositiveInt
    affine: bool = True

    def grouping(self, shape: Shape) -> Grouping:
        if shape.channels % self.num_groups:
            raise ConvCalcError(
                f"channels {shape.channels} are not divisible by num_groups {self.num_groups}",
                field="num_groups",
            )
        size = shape.channels // self.num_groups * shape.positions
        terms = 2 if self.affine else 0
        return Grouping(self.num_groups, size, bool(shape.spatial), shape.channels, terms)

    def grouped(self, values):
        batch, channels, *spatial = values.shape
        view = values.reshape(batch, self.num_groups, channels // self.num_groups, *spatial)
        return view, tuple(range(2, view.ndim))


class InstanceNorm(_Statistics):
    """Instance normalization (Ulyanov et al. 2016): statistics of each channel's map.

    As in PyTorch, affine and track_running_stats are off by default. With affine, a weight
    and a bias per channel (2*C params). With track_running_stats, the running mean and
    variance are 2*C buffers (the batch counter left out, as for batchnorm), and PyTorch's
    eval mode uses them instead of the data's: it is then batchnorm at inference, a folded
    scale and shift of 2 FLOPs per value that joins no values and keeps the field.
    """

    type: Literal["instance_norm"] = "instance_norm"
    affine: bool = False
    track_running_stats: bool = False

    spatial = True
    buffer_names: ClassVar[tuple[str, ...]] = ("running_mean", "running_var")

    def grouping(self, shape: Shape) -> Grouping:
        terms = 2 if self.affine else 0
        return Grouping(shape.channels, shape.positions, True, shape.channels, terms)

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        if self.track_running_stats:
            params = 2 * shape.channels if self.affine else 0
            cost = Cost(
                params=params,
                buffers=2 * shape.channels,
                flops=FOLDED_FLOPS_PER_VALUE * shape.numel,
            )
            return Result(shape, cost)
        conditions = dimension.Conditions()
        if conditions.violated(dimension.compare(shape.positions, ">=", 2), "type"):
            raise ConvCalcError(
                f"instance_norm of a single position ({shape}) normalizes every value to 0;"
                " PyTorch refuses it",
                field="type",
            )
        result = super().analyze(inputs)
        return Result(
            result.output, result.cost, result.steps, result.notes, conditions=conditions.found
        )

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """Training normalizes by each instance's statistics, whether or not running ones
        are tracked: PyTorch runs batchnorm on the input viewed as one sample of N x C
        channels, which keeps the input, a mean and an inverse std per (sample, channel),
        and, with affine, the weight repeated over the batch, a tensor of its own."""
        channels = inputs.only.channels
        grouping = self.grouping(inputs.only)
        saves = (
            Saved.input(),
            Saved.new(2 * channels, STATISTICS_BYTES),
            *((Saved.new(channels),) if self.affine else ()),
        )
        return affine_backward(result.output, _weight_flops(grouping), result.cost.flops, saves)

    def make_weights(self, inputs: Inputs, rng) -> dict:
        import numpy as np

        weights = super().make_weights(inputs, rng)
        if self.track_running_stats:
            channels = inputs.only.channels
            weights["running_mean"] = rng.standard_normal(channels, dtype=np.float32) * 0.1
            weights["running_var"] = rng.uniform(0.5, 1.5, channels).astype(np.float32)
        return weights

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        """With track_running_stats, PyTorch's eval mode: the running statistics."""
        if not self.track_running_stats:
            return super().forward(inputs, values, weights, kernels, context)
        import numpy as np

        shape = (1, -1, *(1,) * (values[0].ndim - 2))
        scale = 1 / np.sqrt(weights["running_var"] + np.float32(self.eps))
        centred = values[0] - weights["running_mean"].reshape(shape)
        return _affine(centred * scale.reshape(shape), weights, (inputs.only.channels,))

    def grouped(self, values):
        return values, tuple(range(2, values.ndim))

    def connections(self, inputs: Inputs, weights: dict, kernels) -> int:
        return 0 if self.track_running_stats else super().connections(inputs, weights, kernels)

    def dependency(self, inputs: Inputs, masks: list, kernels):
        return masks[0] if self.track_running_stats else whole_map(masks[0])


class LocalResponseNorm(Layer):
    """Local response normalization across channels (Krizhevsky et al. 2012, PyTorch
    nn.LocalResponseNorm): b_c = a_c / (k + alpha/size * sum of a_j^2)^beta over the
    channels j from c - size//2 to c + (size-1)//2 that exist. No params, no buffers.

    FLOPs per value: a square, size - 1 adds (the nominal window, as pools count), the
    alpha/size multiply, the k add, the pow and the divide: size + 4. Connections: the real
    channels of each output's window. The spatial field is one position.
    """

    type: Literal["lrn"] = "lrn"
    size: PositiveInt
    alpha: Real = 1e-4
    beta: Real = 0.75
    k: Real = 1.0

    spatial = True

    def window(self) -> dimension.Window:
        """The window over the channels: PyTorch pads size//2 before and (size-1)//2 after."""
        return dimension.Window(self.size, 1, self.size // 2, (self.size - 1) // 2)

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        channel_taps = self.window().real_taps(shape.channels, shape.channels)
        cost = Cost(flops=(self.size + 4) * shape.numel, connections=channel_taps * shape.positions)
        return Result(shape, cost)

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """PyTorch computes it from functions (square, pad, avg_pool3d, mul, add, pow,
        div), whose autograd keeps: the input; the squares zero-padded over the channels,
        C + size - 1 channels; the denominator before and after its pow. Its gradient
        costs the forward's FLOPs again (the convention for layers without MACs)."""
        shape = inputs.only
        padded_squares = (shape.channels + self.size - 1) * shape.positions
        saves = (
            Saved.input(),
            Saved.new(padded_squares),
            Saved.new(shape.numel),
            Saved.new(shape.numel),
        )
        return Backward(flops=result.cost.flops, saves=saves)

    def channel_sums(self, values):
        """Each channel's window sum over the channels, zero beyond the first and last."""
        import numpy as np

        window = self.window()
        widths = [(0, 0)] * values.ndim
        widths[1] = (window.pad_before, window.pad_after)
        padded = np.pad(values, widths)
        channels = values.shape[1]
        total = np.zeros_like(values)
        for tap in range(self.size):
            total += padded[:, tap : tap + channels]
        return total

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        import numpy as np

        x = values[0]
        energy = self.channel_sums(np.square(x))
        scale = np.float32(self.alpha / self.size)
        return x / (np.float32(self.k) + scale * energy) ** np.float32(self.beta)

    def connections(self, inputs: Inputs, weights: dict, kernels) -> int:
        """The window sums of an all-ones indicator of the channels at every real position."""
        import numpy as np

        ones = np.ones((1, *inputs.only.as_tuple()), dtype=np.float64)
        return int(self.channel_sums(ones).sum())
