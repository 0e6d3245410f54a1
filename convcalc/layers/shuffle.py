"""Layers that only move values between channels and positions: ShuffleNet's channel
shuffle, and sub-pixel convolution's pixel shuffle and its inverse."""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

from convcalc import dims as dimension
from convcalc.errors import ConvCalcError
from convcalc.field import FieldKind, Step
from convcalc.layers.base import (
    NO_BACKWARD,
    Backward,
    Inputs,
    Layer,
    PositiveInt,
    Result,
    SpatialInt,
    sized,
)


class ChannelShuffle(Layer):
    """A permutation of channels (Zhang et al. 2017): no params, no arithmetic."""

    type: Literal["channel_shuffle"] = "channel_shuffle"
    groups: PositiveInt

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        if shape.channels % self.groups:
            raise ConvCalcError(
                f"channels {shape.channels} are not divisible by groups {self.groups}",
                field="groups",
            )
        return Result(shape)

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """The gradient is permuted back: a copy, nothing computed or saved."""
        return NO_BACKWARD

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        """[groups, channels/groups] -> [channels/groups, groups] (torch.nn.ChannelShuffle)."""
        batch, channels, *spatial = values[0].shape
        grouped = values[0].reshape(batch, self.groups, channels // self.groups, *spatial)
        return grouped.swapaxes(1, 2).reshape(batch, channels, *spatial)


class PixelShuffle(Layer):
    """C*r^N x S1..SN -> C x rS1..rSN (Shi et al. 2016; torch.nn.PixelShuffle for N = 2).

    Output position (r*i1 + a1, ..., r*iN + aN) of channel c holds input position
    (i1, ..., iN) of channel c*r^N + (a1, ..., aN) read in row-major order.
    """

    spatial = True
    # Output o reads input floor(o/r): nearest upsampling's map, whose envelope [o/r, o/r]
    # (stride 1/r) stands up to one input step beside the position read.
    field_kind = FieldKind.ENVELOPE

    type: Literal["pixel_shuffle"] = "pixel_shuffle"
    upscale_factor: SpatialInt

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        factor = self.upscale_factor
        block = factor ** len(shape.spatial)
        if shape.channels % block:
            raise ConvCalcError(
                f"channels {shape.channels} are not divisible by upscale_factor^"
                f"{len(shape.spatial)} = {block}",
                field="upscale_factor",
            )
        conditions = dimension.Conditions()
        sizes = tuple(size * factor for size in shape.spatial)
        out = sized(shape.channels // block, sizes, shape, "upscale_factor", conditions)
        steps = (Step(1, Fraction(1, factor), 0),) * len(shape.spatial)
        return Result(out, steps=steps, conditions=conditions.found)

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """The gradient is rearranged back: a copy, nothing computed or saved."""
        return NO_BACKWARD

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        """[C, r, ..., r, S1, ..., SN] -> [C, S1, r, ..., SN, r]."""
        return _shuffle(values[0], self.upscale_factor)

    def dependency(self, inputs: Inputs, masks: list, kernels):
        """Each input position reaches the r^N output positions of its block."""
        reached = masks[0]
        for axis in range(2, reached.ndim):
            reached = reached.repeat(self.upscale_factor, axis=axis)
        return reached


class PixelUnshuffle(Layer):
    """C x rS1..rSN -> C*r^N x S1..SN, the inverse of pixel_shuffle (torch.nn.PixelUnshuffle
    for N = 2): each r^N block of positions becomes r^N channels of one position."""

    spatial = True
    # Output position i's channels read input positions r*i .. r*i + r - 1, each of them:
    # a window of r at stride r, whose ends are the taps (FieldKind.EXACT).

    type: Literal["pixel_unshuffle"] = "pixel_unshuffle"
    downscale_factor: SpatialInt

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        factor = self.downscale_factor
        conditions = dimension.Conditions()
        sizes = []
        for axis, size in enumerate(shape.spatial):
            kept = dimension.floor_div(size, factor)
            whole = dimension.compare(kept * factor, "==", size)
            if conditions.violated(whole, "downscale_factor", axis=axis):
                raise ConvCalcError(
                    f"spatial size {size} (dim {axis + 1}) is not divisible by"
                    f" downscale_factor {factor}",
                    field="downscale_factor",
                )
            sizes.append(kept)
        channels = shape.channels * factor ** len(shape.spatial)
        out = sized(channels, tuple(sizes), shape, "downscale_factor", conditions)
        steps = (Step(factor, factor, 0),) * len(shape.spatial)
        return Result(out, steps=steps, conditions=conditions.found)

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """The gradient is rearranged back: a copy, nothing computed or saved."""
        return NO_BACKWARD

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        """[C, S1, r, ..., SN, r] -> [C, r, ..., r, S1, ..., SN]."""
        return _unshuffle(values[0], self.downscale_factor)

    def dependency(self, inputs: Inputs, masks: list, kernels):
        """An output position is reached when any position of its r^N block is."""
        factor = self.downscale_factor
        planes, channels, *spatial = masks[0].shape
        blocks = [part for size in spatial for part in (size // factor, factor)]
        split = masks[0].reshape(planes, channels, *blocks)
        return split.any(axis=tuple(range(3, split.ndim, 2)))


def _shuffle(values, factor: int):
    """[B, C*r^N, S1..SN] -> [B, C, rS1..rSN], as torch.nn.functional.pixel_shuffle."""
    batch, channels, *spatial = values.shape
    rank = len(spatial)
    split = values.reshape(batch, channels // factor**rank, *(factor,) * rank, *spatial)
    # Axes: 0 batch, 1 channel, 2..rank+1 the offsets, rank+2.. the positions.
    order = [0, 1, *(axis for dim in range(rank) for axis in (rank + 2 + dim, 2 + dim))]
    sizes = tuple(size * factor for size in spatial)
    return split.transpose(order).reshape(batch, channels // factor**rank, *sizes)


def _unshuffle(values, factor: int):
    """[B, C, rS1..rSN] -> [B, C*r^N, S1..SN], as torch.nn.functional.pixel_unshuffle."""
    batch, channels, *spatial = values.shape
    rank = len(spatial)
    sizes = [size // factor for size in spatial]
    split = values.reshape(batch, channels, *(part for size in sizes for part in (size, factor)))
    # Axes: 0 batch, 1 channel, then (position, offset) per dim.
    order = [0, 1, *(3 + 2 * dim for dim in range(rank)), *(2 + 2 * dim for dim in range(rank))]
    return split.transpose(order).reshape(batch, channels * factor**rank, *sizes)
