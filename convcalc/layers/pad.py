"""Explicit padding (zeros, or copies of the input: reflect, replicate, circular), of the
spatial dims and of the channels, and its opposite: cropping."""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated, Literal

from pydantic import Field

from convcalc import dims as dimension
from convcalc.errors import ConvCalcError
from convcalc.field import Step
from convcalc.layers.base import (
    Inputs,
    Layer,
    NonNegativeInt,
    PaddingArg,
    PaddingMode,
    Result,
    Shape,
    check_padding_mode,
    resolve_padding,
    sized,
)

# An int for every side, one per dim, or one [before, after] pair per dim (Keras Cropping).
CroppingArg = (
    NonNegativeInt
    | list[NonNegativeInt | Annotated[list[NonNegativeInt], Field(min_length=2, max_length=2)]]
)
# Channels added before and after the input's: an int for each side, or [before, after].
ChannelPaddingArg = (
    Annotated[int, Field(ge=0, le=2**31)]
    | Annotated[list[Annotated[int, Field(ge=0, le=2**31)]], Field(min_length=2, max_length=2)]
)


class Pad(Layer):
    """Padding around the spatial dims (an int, one per dim, or [before, after] pairs) in
    one of PyTorch F.pad's modes, and zero channels before and after the input's (the
    CIFAR ResNet's shortcut A, F.pad(x, (0, 0, 0, 0, p, p)))."""

    spatial = True

    type: Literal["pad"] = "pad"
    padding: PaddingArg = 0
    mode: PaddingMode = "zeros"
    channel_padding: ChannelPaddingArg = 0

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        pads = self._pads(shape)
        before, after = self._channel_sides()
        if self.mode != "zeros" and before + after:
            # PyTorch F.pad pads only the last 1 to 3 dims with the modes that copy.
            raise ConvCalcError(
                f"{self.mode} padding cannot pad the channels: channel padding is zeros only",
                field="channel_padding",
            )
        conditions = dimension.Conditions()
        check_padding_mode(self.mode, shape, pads, conditions)
        sizes = tuple(
            n + before + after for n, (before, after) in zip(shape.spatial, pads, strict=True)
        )
        steps = tuple(Step(Fraction(1), Fraction(1), Fraction(before)) for before, _ in pads)
        out = Shape(shape.channels + before + after, sizes)
        return Result(out, steps=steps, conditions=conditions.found)

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        widths = self._widths(inputs)
        widths[1] = self._channel_sides()
        return kernels.pad(values[0], widths, mode=self.mode)

    def dependency(self, inputs: Inputs, masks: list, kernels):
        """The masks have one channel: only the spatial padding moves what reaches."""
        return kernels.pad(masks[0], self._widths(inputs), mode=self.mode)

    def _pads(self, shape: Shape) -> tuple[tuple[int, int], ...]:
        """(before, after) per spatial dim."""
        if self.padding == "same":
            raise ConvCalcError("'same' has no meaning without a kernel", field="padding")
        ones = (1,) * len(shape.spatial)
        return resolve_padding(self.padding, shape.spatial, ones, ones, ones)

    def _channel_sides(self) -> tuple[int, int]:
        if isinstance(self.channel_padding, int):
            return self.channel_padding, self.channel_padding
        return self.channel_padding[0], self.channel_padding[1]

    def _widths(self, inputs: Inputs) -> list[tuple[int, int]]:
        """(before, after) per axis of the arrays, batch and channels unpadded."""
        return [(0, 0), (0, 0), *self._pads(inputs.only)]


class Crop(Layer):
    """Positions cut off the spatial dims (the U-Net's and Caffe FCNs' crop): an int, one
    per dim, or [before, after] pairs, as `pad` takes them."""

    spatial = True

    type: Literal["crop"] = "crop"
    cropping: CroppingArg

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        conditions = dimension.Conditions()
        cuts = self._cuts(shape)
        sizes = []
        for axis, (size, (before, after)) in enumerate(zip(shape.spatial, cuts, strict=True)):
            kept = size - before - after
            # For formula sizes, `sized` keeps kept >= 1 as a condition.
            if dimension.is_known(kept) and kept < 1:
                raise ConvCalcError(
                    f"cropping {before} + {after} leaves nothing of size {size}"
                    f" in spatial dim {axis + 1} of input {shape}",
                    field="cropping",
                )
            sizes.append(kept)
        out = sized(shape.channels, tuple(sizes), shape, "cropping", conditions)
        # Output o is input o + before: pad's step with the opposite sign.
        steps = tuple(Step(1, 1, -before) for before, _ in cuts)
        return Result(out, steps=steps, conditions=conditions.found)

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        return values[0][self._kept(inputs)]

    def dependency(self, inputs: Inputs, masks: list, kernels):
        return masks[0][self._kept(inputs)]

    def _cuts(self, shape: Shape) -> tuple[tuple[int, int], ...]:
        """(before, after) per spatial dim."""
        dims = len(shape.spatial)
        if isinstance(self.cropping, list) and len(self.cropping) != dims:
            raise ConvCalcError(
                f"{len(self.cropping)} values for a {dims}-d input (give one int or {dims})",
                field="cropping",
            )
        ones = (1,) * len(shape.spatial)
        return resolve_padding(self.cropping, shape.spatial, ones, ones, ones)

    def _kept(self, inputs: Inputs) -> tuple[slice, ...]:
        """The slices of the arrays that stay, batch and channels whole."""
        shape = inputs.only
        kept = tuple(
            slice(before, size - after)
            for size, (before, after) in zip(shape.spatial, self._cuts(shape), strict=True)
        )
        return (slice(None), slice(None), *kept)
