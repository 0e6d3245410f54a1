"""Pools whose windows follow from the input size: global and adaptive pooling."""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

from convcalc import dims as dimension
from convcalc.field import FieldKind, Step
from convcalc.layers.base import (
    Backward,
    Cost,
    Inputs,
    Layer,
    Result,
    Saved,
    Shape,
    SizeArg,
    per_dim,
)
from convcalc.layers.elementwise import INDEX_BYTES


def max_backward(result: Result) -> Backward:
    """A max over windows: autograd keeps the input and the argmax, int64 indices of the
    output's size; the gradient is one add per output value, scattered to its argmax."""
    values = result.output.numel
    return Backward(flops=values, saves=(Saved.input(), Saved.new(values, INDEX_BYTES)))


def mean_backward(result: Result, reduces_to_one: bool) -> Backward:
    """A mean over windows: its gradient is spread over each window, the forward's FLOPs
    again. Autograd keeps the input, except for a mean over the whole map (PyTorch's
    adaptive_avg_pool to size 1 is `mean`, whose gradient needs only the sizes)."""
    return Backward(flops=result.cost.flops, saves=() if reduces_to_one else (Saved.input(),))


def _global(inputs: Inputs, flops_per_window: int) -> Result:
    shape = inputs.only
    out = Shape(shape.channels, (1,) * len(shape.spatial))
    steps = tuple(Step.window(dimension.Window(size, size, 0, 0)) for size in shape.spatial)
    cost = Cost(flops=shape.channels * flops_per_window, connections=shape.numel)
    return Result(out, cost, steps)


class _GlobalPool(Layer):
    """What global pools share: each output reads its channel's whole map."""

    spatial = True
    summarizes_map = True

    def connections(self, inputs: Inputs, weights: dict, kernels) -> int:
        """Every real value of every channel, counted on an indicator."""
        from convcalc import numeric

        return inputs.only.channels * int(numeric.indicator(inputs.only.spatial).sum())

    def dependency(self, inputs: Inputs, masks: list, kernels):
        axes = tuple(range(2, masks[0].ndim))
        return masks[0].sum(axis=axes, keepdims=True)


class GlobalAvgPool(_GlobalPool):
    """Mean over all spatial positions; spatial dims become 1."""

    type: Literal["global_avg_pool"] = "global_avg_pool"

    def analyze(self, inputs: Inputs) -> Result:
        return _global(inputs, inputs.only.positions)

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        return mean_backward(result, reduces_to_one=True)

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        return values[0].mean(axis=tuple(range(2, values[0].ndim)), keepdims=True)


class GlobalMaxPool(_GlobalPool):
    """Max over all spatial positions; spatial dims become 1."""

    type: Literal["global_max_pool"] = "global_max_pool"

    def analyze(self, inputs: Inputs) -> Result:
        return _global(inputs, inputs.only.positions - 1)

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        return max_backward(result)

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        return values[0].max(axis=tuple(range(2, values[0].ndim)), keepdims=True)


class _AdaptivePool(Layer):
    spatial = True
    summarizes_map = True
    field_kind = FieldKind.ENVELOPE  # its widest window at a stride of in/out
    output_size: SizeArg

    def adaptive(self, inputs: Inputs, comparisons: bool) -> Result:
        """Windows [floor(i*I/O), ceil((i+1)*I/O)) per dim (PyTorch AdaptiveAvgPool)."""
        shape = inputs.only
        sizes = self.sizes(shape)
        out = Shape(shape.channels, sizes)
        taps_read = 1  # sum over output positions of window size: a product of per-dim sums
        steps = []
        for size, out_size in zip(shape.spatial, sizes, strict=True):
            total, widest = dimension.adaptive_taps(size, out_size)
            taps_read *= total
            if widest is None:  # a formula size: the field is known once it is set
                steps.append(None)
                continue
            steps.append(Step(Fraction(widest), Fraction(size, out_size), Fraction(0)))
        connections = shape.channels * taps_read
        # Max: one comparison per tap after the first; mean: k-1 adds and a division.
        flops = connections - out.numel if comparisons else connections
        return Result(out, Cost(flops=flops, connections=connections), tuple(steps))

    def sizes(self, shape: Shape) -> tuple[int, ...]:
        """The output's spatial sizes."""
        return per_dim(self.output_size, len(shape.spatial), "output_size")

    def connections(self, inputs: Inputs, weights: dict, kernels) -> int:
        """Every channel's window sums of the real input's indicator."""
        from convcalc import numeric

        indicator = numeric.indicator(inputs.only.spatial)
        counted = kernels.adaptive_pool(indicator, self.sizes(inputs.only), "sum")
        return inputs.only.channels * int(counted.sum())

    def dependency(self, inputs: Inputs, masks: list, kernels):
        return kernels.adaptive_pool(masks[0], self.sizes(inputs.only), "sum")


class AdaptiveAvgPool(_AdaptivePool):
    """Average pooling to a fixed output size."""

    type: Literal["adaptive_avg_pool"] = "adaptive_avg_pool"

    def analyze(self, inputs: Inputs) -> Result:
        return self.adaptive(inputs, comparisons=False)

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        return mean_backward(result, reduces_to_one=result.output.positions == 1)

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        return kernels.adaptive_pool(values[0], self.sizes(inputs.only), "mean")


class AdaptiveMaxPool(_AdaptivePool):
    """Max pooling to a fixed output size."""

    type: Literal["adaptive_max_pool"] = "adaptive_max_pool"

    def analyze(self, inputs: Inputs) -> Result:
        return self.adaptive(inputs, comparisons=True)

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        return max_backward(result)

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        return kernels.adaptive_pool(values[0], self.sizes(inputs.only), "max")
