"""Convolutions: standard (grouped, dilated, with a connection table), depthwise, separable."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from pydantic import Field

from convcalc.dims import Conditions, Window
from convcalc.errors import ConvCalcError
from convcalc.layers.base import (
    Backward,
    Cost,
    Inputs,
    Layer,
    PaddingArg,
    PaddingMode,
    Part,
    PositiveInt,
    Result,
    Saved,
    Shape,
    SizeArg,
    by_dims,
    check_groups,
    check_padding_mode,
    every_tap,
    kernel_volume,
    make_windows,
    real_taps,
    window_notes,
    window_steps,
    windowed_output,
)
from convcalc.layers.elementwise import (
    Function,
    activation_flops,
    apply_activation,
    weighted_backward,
)


def convolution_cost(
    out: Shape,
    *,
    channel_pairs: int,
    kernel_taps: int,
    positions: int,
    real_pairs: int,
    bias: bool,
    activation: str | None = None,
) -> Cost:
    """Params, MACs, FLOPs and connections of a convolution, plain or transposed.

    `channel_pairs` counts the (output channel, input channel) pairs joined by a kernel of
    `kernel_taps` taps: out * in / groups, or the length of a connection table. Each tap
    multiplies a value at each of `positions`: the output's for a convolution, the input's
    for a transposed one. MACs count every tap, padding included (the papers' and fvcore's
    convention); connections count the `real_pairs` of one channel pair (a real input
    value and an output value joined by a tap), plus one per output value for the bias
    (LeCun et al. 1998).
    """
    bias_terms = out.numel if bias else 0
    macs = positions * (channel_pairs * kernel_taps)  # ints first: one formula product
    flops = 2 * macs + bias_terms
    if activation:  # no `+ 0`: on a formula, a sympy step
        flops += activation_flops(activation, out.numel)
    return Cost(
        params=channel_pairs * kernel_taps + (out.channels if bias else 0),
        macs=macs,
        flops=flops,
        connections=channel_pairs * real_pairs + bias_terms,
    )


def conv_cost(
    shape: Shape,
    out: Shape,
    windows: tuple[Window, ...],
    channel_pairs: int,
    bias: bool,
    activation: str | None = None,
    padding_mode: str = "zeros",
) -> Cost:
    """The cost of a sliding-window convolution of `shape` to `out` (see convolution_cost).

    Zero padding's taps read no real input; with the other modes every tap reads one, a
    copy in the padding (see README, connections)."""
    copies = padding_mode != "zeros"
    return convolution_cost(
        out,
        channel_pairs=channel_pairs,
        kernel_taps=kernel_volume(windows),
        positions=out.positions,
        real_pairs=every_tap(windows, out) if copies else real_taps(shape, windows, out),
        bias=bias,
        activation=activation,
    )


def even_kernel_notes(shape: Shape, windows: tuple[Window, ...], out: Shape) -> list[str]:
    """An even kernel cannot keep the size with symmetric padding (it shifts by half a step).

    At stride 1 the output is size + 2p - extent + 1, which equals size only for an odd
    extent 2p + 1: with an even extent the size always changes.
    """
    found = []
    for axis, (window, size, out_size) in enumerate(
        zip(windows, shape.spatial, out.spatial, strict=True)
    ):
        symmetric = window.pad_before == window.pad_after > 0
        if window.stride == 1 and symmetric and window.extent % 2 == 0:
            found.append(
                (
                    axis,
                    f"even kernel {window.extent} with symmetric padding {window.pad_before}"
                    f" turns size {size} into {out_size}; no symmetric padding keeps the size",
                )
            )
    return by_dims(found)


def pointwise_windows(dims: int) -> tuple[Window, ...]:
    """The windows of a 1x1 (pointwise) convolution over `dims` spatial dims."""
    return tuple(Window(1, 1, 0, 0) for _ in range(dims))


def padded_first(kernels, values, windows: tuple[Window, ...], padding_mode: str):
    """(values, windows) with the windows' padding filled by `padding_mode` first, as
    PyTorch's ConvNd does for a mode other than zeros (F.pad, then no padding)."""
    if padding_mode == "zeros":
        return values, windows
    widths = [(0, 0), (0, 0), *((w.pad_before, w.pad_after) for w in windows)]
    unpadded = tuple(dataclasses.replace(w, pad_before=0, pad_after=0, same=False) for w in windows)
    return kernels.pad(values, widths, mode=padding_mode), unpadded


def measure_connections(
    kernels,
    shape: Shape,
    windows: tuple[Window, ...],
    weight,
    bias,
    padding_mode: str = "zeros",
) -> int:
    """Real (input value, tap) pairs of one sample's convolution, plus its bias terms.

    The one-channel indicator of the real input, padded by `padding_mode` (zeros stay
    zero, copies of real inputs are ones), convolved with the number of non-zero weights
    at each tap; each non-zero bias adds one per output position.
    """
    import numpy as np

    from convcalc import numeric

    taps = np.count_nonzero(weight, axis=(0, 1)).astype(np.float64)
    indicator, windows = padded_first(
        kernels, numeric.indicator(shape.spatial), windows, padding_mode
    )
    counted = kernels.conv(indicator, taps[None, None], windows)
    bias_terms = np.count_nonzero(bias) * counted.size if bias is not None else 0
    return int(counted.sum()) + bias_terms


class _Convolution(Layer):
    """Fields every convolution shares."""

    spatial = True

    kernel_size: SizeArg
    stride: SizeArg = 1
    padding: PaddingArg = 0
    dilation: SizeArg = 1
    padding_mode: PaddingMode = "zeros"
    bias: bool = True
    activation: Function | None = None

    def windows(self, shape: Shape) -> tuple[Window, ...]:
        """The per-dim sliding windows over `shape`."""
        return make_windows(shape, self.kernel_size, self.stride, self.padding, self.dilation)

    def padded(self, values, shape: Shape, kernels):
        """(values, windows) for the kernels: the padding filled by `padding_mode`."""
        return padded_first(kernels, values, self.windows(shape), self.padding_mode)

    def convolve(
        self, shape: Shape, out_channels: int, channel_pairs: int, activated: bool = True
    ) -> Result:
        """Result of a convolution of `shape` to `out_channels` channels."""
        activation = self.activation if activated else None
        windows = self.windows(shape)
        conditions = Conditions()
        pads = tuple((w.pad_before, w.pad_after) for w in windows)
        check_padding_mode(self.padding_mode, shape, pads, conditions)
        out = windowed_output(shape, out_channels, windows, conditions)
        notes = window_notes(shape, windows, out, conditions)
        notes += even_kernel_notes(shape, windows, out)
        return Result(
            out,
            conv_cost(shape, out, windows, channel_pairs, self.bias, activation, self.padding_mode),
            window_steps(windows),
            tuple(notes),
            conditions=conditions.found,
        )

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """Both gradients are the forward's MACs again (weighted_backward); autograd keeps
        the input the kernel slides over, whatever needs a gradient."""
        return weighted_backward(
            result.cost, result.output, self.bias, self.activation, self.saved_input(inputs.only)
        )

    def saved_input(self, shape: Shape) -> tuple[Saved, ...]:
        """What the convolution keeps of its input: the input itself, or with a padding mode
        other than zeros the padded copy that F.pad makes (and that pad's own input, which
        reflect and replicate padding keep)."""
        if self.padding_mode == "zeros":
            return (Saved.input(),)
        windows = self.windows(shape)
        sizes = tuple(w.padded(n) for w, n in zip(windows, shape.spatial, strict=True))
        copy = (Saved.new(Shape(shape.channels, sizes).numel),)
        return (Saved.input(), *copy) if self.padding_mode != "circular" else copy

    def dependency(self, inputs: Inputs, masks: list, kernels):
        """Every tap of the window reaches, whatever the channels: a window sum (over the
        padding's copies of real inputs, for the modes that copy)."""
        mask, windows = self.padded(masks[0], inputs.only, kernels)
        return kernels.pool(mask, windows, "sum")

    def connections(self, inputs: Inputs, weights: dict, kernels) -> int:
        """Measured on this layer's 'weight' and 'bias' (see measure_connections)."""
        shape = inputs.only
        return measure_connections(
            kernels,
            shape,
            self.windows(shape),
            weights["weight"],
            weights.get("bias"),
            self.padding_mode,
        )

    def random_kernel(self, rng, out_channels: int, in_channels: int, shape: Shape) -> dict:
        """{'weight': [out, in, *kernel], 'bias': [out]} for this layer's windows over `shape`."""
        from convcalc import numeric

        kernel = tuple(w.kernel for w in self.windows(shape))
        weight = numeric.random_weight(rng, (out_channels, in_channels, *kernel))
        return {"weight": weight, **numeric.random_bias(rng, out_channels, self.bias)}


class Conv(_Convolution):
    """N-d convolution (cross-correlation), optionally grouped or with a connection table."""

    type: Literal["conv"] = "conv"
    out_channels: PositiveInt
    groups: PositiveInt = 1
    connection_table: list[list[Annotated[int, Field(ge=0)]]] | None = None

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        return self.convolve(shape, self.out_channels, self.channel_pairs(shape.channels))

    def channel_pairs(self, in_channels: int) -> int:
        """(output, input) channel pairs joined by a kernel, after checking groups and table."""
        if self.connection_table is None:
            check_groups(in_channels, self.out_channels, self.groups)
            return self.out_channels * in_channels // self.groups
        if self.groups != 1:
            raise ConvCalcError("use either groups or connection_table, not both", field="groups")
        table = self.connection_table
        if len(table) != self.out_channels:
            raise ConvCalcError(
                f"{len(table)} rows for {self.out_channels} output channels (one row each)",
                field="connection_table",
            )
        for row, sources in enumerate(table):
            if not sources or len(set(sources)) != len(sources) or max(sources) >= in_channels:
                raise ConvCalcError(
                    f"row {row} must list distinct input channels in 0..{in_channels - 1},"
                    f" got {sources}",
                    field="connection_table",
                )
        return sum(len(sources) for sources in table)

    def make_weights(self, inputs: Inputs, rng) -> dict:
        """PyTorch's [out, in/groups, *kernel]; with a table, zeros outside it."""
        shape = inputs.only
        weights = self.random_kernel(rng, self.out_channels, shape.channels // self.groups, shape)
        if self.connection_table is not None:
            outside = weights["weight"].copy()
            for out_channel, sources in enumerate(self.connection_table):
                outside[out_channel, sources] = 0
            weights["weight"] -= outside
        return weights

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        padded, windows = self.padded(values[0], inputs.only, kernels)
        if self.connection_table is None:
            result = kernels.conv(
                padded, weights["weight"], windows, self.groups, weights.get("bias")
            )
        else:
            result = kernels.conv_table(
                padded, weights["weight"], windows, self.connection_table, weights.get("bias")
            )
        return apply_activation(result, self.activation)


class DepthwiseConv(_Convolution):
    """Depthwise convolution: groups = in_channels, `multiplier` filters per input channel."""

    type: Literal["depthwise_conv"] = "depthwise_conv"
    multiplier: PositiveInt = 1

    def analyze(self, inputs: Inputs) -> Result:
        channels = inputs.only.channels * self.multiplier
        return self.convolve(inputs.only, channels, channels)

    def make_weights(self, inputs: Inputs, rng) -> dict:
        """PyTorch's [in * multiplier, 1, *kernel] (groups = in)."""
        return self.random_kernel(rng, inputs.only.channels * self.multiplier, 1, inputs.only)

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        shape = inputs.only
        padded, windows = self.padded(values[0], shape, kernels)
        result = kernels.conv(
            padded, weights["weight"], windows, shape.channels, weights.get("bias")
        )
        return apply_activation(result, self.activation)


class SeparableConv(_Convolution):
    """Depthwise convolution then a 1x1 pointwise one (Xception, MobileNet); bias on both."""

    type: Literal["separable_conv"] = "separable_conv"
    out_channels: PositiveInt
    multiplier: PositiveInt = 1

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        middle = shape.channels * self.multiplier
        depthwise = self.convolve(shape, middle, middle, activated=False)
        mid = depthwise.output
        out = Shape(self.out_channels, mid.spatial)
        pointwise = conv_cost(
            mid,
            out,
            pointwise_windows(len(mid.spatial)),
            middle * self.out_channels,
            self.bias,
            self.activation,
        )  # 1x1: no padding, whatever the mode
        return Result(
            out,
            depthwise.cost + pointwise,
            depthwise.steps,
            depthwise.notes,
            (Part("depthwise", mid, depthwise.cost), Part("pointwise", out, pointwise)),
            depthwise.conditions,
        )

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """Two convolutions: the depthwise one keeps the input, the pointwise one the
        depthwise output. The pointwise input gradient is done whenever the layer has a
        backward (the depthwise weights need it); the depthwise one when the input needs
        a gradient."""
        depthwise, pointwise = result.parts
        rule = weighted_backward(
            result.cost,
            result.output,
            self.bias,
            self.activation,
            (*self.saved_input(inputs.only), Saved.new(depthwise.output.numel)),
        )
        bias_gradient = depthwise.output.numel if self.bias else 0
        return dataclasses.replace(
            rule,
            input_macs=depthwise.cost.macs,
            inner_macs=pointwise.cost.macs,
            weight_flops=rule.weight_flops + bias_gradient,
        )

    def make_weights(self, inputs: Inputs, rng) -> dict:
        """depthwise_weight [in * multiplier, 1, *kernel], pointwise_weight [out, mid, 1, ...]."""
        from convcalc import numeric

        shape = inputs.only
        middle = shape.channels * self.multiplier
        kernel = tuple(w.kernel for w in self.windows(shape))
        ones = (1,) * len(shape.spatial)
        return {
            "depthwise_weight": numeric.random_weight(rng, (middle, 1, *kernel)),
            **numeric.random_bias(rng, middle, self.bias, "depthwise_bias"),
            "pointwise_weight": numeric.random_weight(rng, (self.out_channels, middle, *ones)),
            **numeric.random_bias(rng, self.out_channels, self.bias, "pointwise_bias"),
        }

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        shape = inputs.only
        padded, windows = self.padded(values[0], shape, kernels)
        middle = kernels.conv(
            padded,
            weights["depthwise_weight"],
            windows,
            shape.channels,
            weights.get("depthwise_bias"),
        )
        result = kernels.conv(
            middle,
            weights["pointwise_weight"],
            pointwise_windows(len(shape.spatial)),
            1,
            weights.get("pointwise_bias"),
        )
        return apply_activation(result, self.activation)

    def connections(self, inputs: Inputs, weights: dict, kernels) -> int:
        shape = inputs.only
        windows = self.windows(shape)
        depthwise = measure_connections(
            kernels,
            shape,
            windows,
            weights["depthwise_weight"],
            weights.get("depthwise_bias"),
            self.padding_mode,
        )
        depthwise_out = windowed_output(shape, 1, windows, Conditions())  # numbers: none kept
        middle = Shape(shape.channels * self.multiplier, depthwise_out.spatial)
        pointwise = measure_connections(
            kernels,
            middle,
            pointwise_windows(len(shape.spatial)),
            weights["pointwise_weight"],
            weights.get("pointwise_bias"),
        )
        return depthwise + pointwise
