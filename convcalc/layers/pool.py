"""Sliding-window pooling: max, average, and LeNet-5's trainable subsampling."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

from convcalc.dims import Conditions, Window, compare, larger
from convcalc.errors import ConvCalcError
from convcalc.layers.base import (
    Backward,
    Cost,
    Inputs,
    Layer,
    PaddingArg,
    Result,
    Saved,
    Shape,
    SizeArg,
    kernel_volume,
    make_windows,
    real_taps,
    window_notes,
    window_steps,
    windowed_output,
)
from convcalc.layers.elementwise import (
    INDEX_BYTES,
    Function,
    activation_flops,
    activation_saves,
    affine_backward,
    apply_activation,
)


class _Pool(Layer):
    """Fields every sliding-window pool shares; stride defaults to the kernel size."""

    spatial = True

    kernel_size: SizeArg
    stride: SizeArg | None = None
    padding: PaddingArg = 0
    ceil_mode: bool = False

    def strides(self) -> int | list[int]:
        """The stride as given, or the kernel size (PyTorch's default)."""
        return self.kernel_size if self.stride is None else self.stride

    def pool(
        self, inputs: Inputs, dilation: int | list[int] = 1
    ) -> tuple[Shape, tuple, Shape, Conditions]:
        """Input shape, windows, output shape and the conditions they rely on."""
        shape = inputs.only
        conditions = Conditions()
        windows = make_windows(
            shape, self.kernel_size, self.strides(), self.padding, dilation, self.ceil_mode
        )
        for window in windows:
            # PyTorch: "pad should be at most half of kernel size" (the undilated kernel);
            # 'same' padding with a dilation can break it for some sizes only.
            widest = larger(window.pad_before, window.pad_after)
            if conditions.violated(compare(widest * 2, "<=", window.kernel), "padding"):
                raise ConvCalcError(
                    f"padding {widest} exceeds half the kernel {window.kernel}", field="padding"
                )
        out = windowed_output(shape, shape.channels, windows, conditions)
        return shape, windows, out, conditions

    def result(
        self,
        shape: Shape,
        windows: tuple[Window, ...],
        out: Shape,
        cost: Cost,
        conditions: Conditions,
    ) -> Result:
        """The shared result of a pool with the given cost."""
        notes = tuple(window_notes(shape, windows, out, conditions))
        return Result(out, cost, window_steps(windows), notes, conditions=conditions.found)

    def connections(self, inputs: Inputs, weights: dict, kernels) -> int:
        """Real taps: the window sums of the real input's indicator, for every channel."""
        return inputs.only.channels * window_taps(
            inputs, self.pool(inputs, self.dilation)[1], kernels
        )

    def dependency(self, inputs: Inputs, masks: list, kernels):
        """Every tap of the window reaches (a max's winner depends on all of them)."""
        return kernels.pool(masks[0], self.pool(inputs, self.dilation)[1], "sum")


def window_taps(inputs: Inputs, windows: tuple[Window, ...], kernels) -> int:
    """Real input positions read, summed over one channel's windows, on an indicator."""
    from convcalc import numeric

    return int(kernels.pool(numeric.indicator(inputs.only.spatial), windows, "sum").sum())


class MaxPool(_Pool):
    """Max pooling (PyTorch MaxPool semantics, ceil_mode included)."""

    # Its argmax, as PyTorch's return_indices gives it: a later layer that needs them
    # (max_unpool) reads its windows from kernel_size, strides() and padding.
    provides = ("indices",)

    type: Literal["max_pool"] = "max_pool"
    dilation: SizeArg = 1

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        """Window maxima; their argmax is saved when a later layer needs it (max_unpool)."""
        windows = self.pool(inputs, self.dilation)[1]
        if not context.wanted(self.name, "indices"):
            return kernels.pool(values[0], windows, "max")
        result, indices = kernels.pool(values[0], windows, "max", return_indices=True)
        context.save(self.name, "indices", indices)
        return result

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """Autograd keeps the input and the argmax, int64 indices of the output's size
        (max_pool2d_with_indices); the gradient is one add per output value, scattered to
        its argmax."""
        values = result.output.numel
        return Backward(
            flops=values, saves=(Saved.input(), Saved.new(values, INDEX_BYTES, key="indices"))
        )

    def analyze(self, inputs: Inputs) -> Result:
        shape, windows, out, conditions = self.pool(inputs, self.dilation)
        # One comparison per tap after the first.
        cost = Cost(
            flops=(kernel_volume(windows) - 1) * out.numel,
            connections=shape.channels * real_taps(shape, windows, out),
        )
        return self.result(shape, windows, out, cost, conditions)


class AvgPool(_Pool):
    """Average pooling; count_include_pad divides by the whole window, padding included."""

    type: Literal["avg_pool"] = "avg_pool"
    count_include_pad: bool = True
    dilation: ClassVar[int] = 1  # PyTorch's AvgPool has none

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        windows = self.pool(inputs)[1]
        return kernels.pool(values[0], windows, "mean", self.count_include_pad)

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """Autograd keeps the input (avg_pool2d_backward takes it); each output's gradient
        is spread over its window: the forward's FLOPs again."""
        return Backward(flops=result.cost.flops, saves=(Saved.input(),))

    def analyze(self, inputs: Inputs) -> Result:
        shape, windows, out, conditions = self.pool(inputs)
        # k-1 additions and one division per output value.
        cost = Cost(
            flops=kernel_volume(windows) * out.numel,
            connections=shape.channels * real_taps(shape, windows, out),
        )
        result = self.result(shape, windows, out, cost, conditions)
        wider = [
            f"{window.kernel} > {size}"
            for window, size in zip(windows, shape.spatial, strict=True)
            if isinstance(size, int) and isinstance(window.kernel, int) and window.kernel > size
        ]
        if len(shape.spatial) == 3 and wider:
            # Well defined over the padded input, and PyTorch's 2-d pool computes it, but
            # its avg_pool3d refuses a kernel larger than the unpadded input.
            note = (
                f"a kernel larger than the unpadded input ({', '.join(wider)}): PyTorch's"
                " avg_pool3d refuses it"
            )
            result = dataclasses.replace(result, notes=(*result.notes, note))
        return result


class Subsample(Layer):
    """LeNet-5's subsampling: window sum times a trainable coefficient plus a trainable bias.

    Two params per channel; each output value connects to its window and the bias
    (LeCun et al. 1998: S2 has 12 params and 5,880 connections).
    """

    spatial = True

    type: Literal["subsample"] = "subsample"
    kernel_size: SizeArg
    stride: SizeArg | None = None
    activation: Function | None = None  # LeNet-5's units squash their result

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        windows = self.windows(shape)
        conditions = Conditions()
        out = windowed_output(shape, shape.channels, windows, conditions)
        cost = Cost(
            params=2 * shape.channels,
            # k-1 additions, one multiply, one bias add per output value.
            flops=(kernel_volume(windows) + 1) * out.numel
            + activation_flops(self.activation, out.numel),
            connections=shape.channels * real_taps(shape, windows, out) + out.numel,
        )
        notes = tuple(window_notes(shape, windows, out, conditions))
        return Result(out, cost, window_steps(windows), notes, conditions=conditions.found)

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """As a window sum times a coefficient plus a bias: the sum keeps its input, the
        product the sums (for the coefficient's gradient), a fused activation its own."""
        values = result.output.numel
        saves = (
            Saved.input(),
            Saved.new(values),
            *activation_saves(self.activation, values, own_layer=False),
        )
        return affine_backward(result.output, 3, result.cost.flops, saves)

    def windows(self, shape: Shape) -> tuple[Window, ...]:
        """The per-dim windows over `shape` (no padding)."""
        stride = self.kernel_size if self.stride is None else self.stride
        return make_windows(shape, self.kernel_size, stride, 0)

    def make_weights(self, inputs: Inputs, rng) -> dict:
        """One coefficient and one bias per channel, [channels] each."""
        import numpy as np

        channels = inputs.only.channels
        return {
            "weight": rng.uniform(0.5, 1.5, channels).astype(np.float32),
            "bias": rng.standard_normal(channels, dtype=np.float32) * np.float32(0.1),
        }

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        summed = kernels.pool(values[0], self.windows(inputs.only), "sum")
        shape = (1, -1, *(1,) * (summed.ndim - 2))
        result = summed * weights["weight"].reshape(shape) + weights["bias"].reshape(shape)
        return apply_activation(result, self.activation)

    def connections(self, inputs: Inputs, weights: dict, kernels) -> int:
        """Real window taps of every channel, plus one per output value for a non-zero bias."""
        import numpy as np

        from convcalc import numeric

        counted = kernels.pool(
            numeric.indicator(inputs.only.spatial), self.windows(inputs.only), "sum"
        )
        bias_terms = int(np.count_nonzero(weights["bias"])) * counted.size
        return inputs.only.channels * int(counted.sum()) + bias_terms

    def dependency(self, inputs: Inputs, masks: list, kernels):
        return kernels.pool(masks[0], self.windows(inputs.only), "sum")
