"""Convolutions: standard (grouped, dilated, with a connection table), depthwise, separable."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from convcalc.dims import Window
from convcalc.errors import ConvCalcError
from convcalc.layers.base import (
    Cost,
    Inputs,
    Layer,
    PaddingArg,
    Part,
    PositiveInt,
    Result,
    Shape,
    SizeArg,
    by_dims,
    make_windows,
    real_taps,
    window_notes,
    window_steps,
    windowed_output,
)
from convcalc.layers.elementwise import Function, activation_flops


def conv_cost(
    shape: Shape,
    out: Shape,
    windows: tuple[Window, ...],
    channel_pairs: int,
    bias: bool,
    activation: str | None = None,
) -> Cost:
    """Params, MACs, FLOPs and connections of a convolution.

    `channel_pairs` counts the (output channel, input channel) pairs joined by a kernel:
    out * in / groups, or the length of the connection table. MACs count every tap, padding
    included (the papers' and fvcore's convention); connections count real taps only, plus
    one per output value for the bias (LeCun et al. 1998).
    """
    kernel_taps = 1
    for window in windows:
        kernel_taps *= window.kernel
    bias_terms = out.numel if bias else 0
    macs = out.positions * channel_pairs * kernel_taps
    return Cost(
        params=channel_pairs * kernel_taps + (out.channels if bias else 0),
        macs=macs,
        flops=2 * macs + bias_terms + activation_flops(activation, out.numel),
        connections=channel_pairs * real_taps(shape, windows, out) + bias_terms,
    )


def even_kernel_notes(shape: Shape, windows: tuple[Window, ...], out: Shape) -> list[str]:
    """An even kernel cannot keep the size with symmetric padding (it shifts by half a step)."""
    found = []
    for axis, (window, size, out_size) in enumerate(
        zip(windows, shape.spatial, out.spatial, strict=True)
    ):
        symmetric = window.pad_before == window.pad_after > 0
        if window.stride == 1 and symmetric and window.extent % 2 == 0 and out_size != size:
            found.append(
                (
                    axis,
                    f"even kernel {window.extent} with symmetric padding {window.pad_before}"
                    f" turns size {size} into {out_size}; no symmetric padding keeps the size",
                )
            )
    return by_dims(found)


class _Convolution(Layer):
    """Fields every convolution shares."""

    spatial = True

    kernel_size: SizeArg
    stride: SizeArg = 1
    padding: PaddingArg = 0
    dilation: SizeArg = 1
    bias: bool = True
    activation: Function | None = None

    def windows(self, shape: Shape) -> tuple[Window, ...]:
        """The per-dim sliding windows over `shape`."""
        return make_windows(shape, self.kernel_size, self.stride, self.padding, self.dilation)

    def convolve(
        self, shape: Shape, out_channels: int, channel_pairs: int, activated: bool = True
    ) -> Result:
        """Result of a convolution of `shape` to `out_channels` channels."""
        activation = self.activation if activated else None
        windows = self.windows(shape)
        out = windowed_output(shape, out_channels, windows)
        notes = window_notes(shape, windows, out) + even_kernel_notes(shape, windows, out)
        return Result(
            out,
            conv_cost(shape, out, windows, channel_pairs, self.bias, activation),
            window_steps(windows),
            tuple(notes),
        )


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
            for what, channels in (("in", in_channels), ("out", self.out_channels)):
                if channels % self.groups:
                    raise ConvCalcError(
                        f"{what}_channels {channels} is not divisible by groups {self.groups}",
                        field="groups",
                    )
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


class DepthwiseConv(_Convolution):
    """Depthwise convolution: groups = in_channels, `multiplier` filters per input channel."""

    type: Literal["depthwise_conv"] = "depthwise_conv"
    multiplier: PositiveInt = 1

    def analyze(self, inputs: Inputs) -> Result:
        channels = inputs.only.channels * self.multiplier
        return self.convolve(inputs.only, channels, channels)


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
        pointwise_windows = tuple(Window(1, 1, 0, 0) for _ in mid.spatial)
        out = Shape(self.out_channels, mid.spatial)
        pointwise = conv_cost(
            mid, out, pointwise_windows, middle * self.out_channels, self.bias, self.activation
        )
        return Result(
            out,
            depthwise.cost + pointwise,
            depthwise.steps,
            depthwise.notes,
            (Part("depthwise", mid, depthwise.cost), Part("pointwise", out, pointwise)),
        )
