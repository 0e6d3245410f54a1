"""Explicit zero padding, and its opposite: cropping."""

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
    Result,
    Shape,
    resolve_padding,
    sized,
)

# An int for every side, one per dim, or one [before, after] pair per dim (Keras Cropping).
CroppingArg = (
    NonNegativeInt
    | list[NonNegativeInt | Annotated[list[NonNegativeInt], Field(min_length=2, max_length=2)]]
)


class Pad(Layer):
    """Zeros around the spatial dims: an int, one per dim, or [before, after] pairs."""

    spatial = True

    type: Literal["pad"] = "pad"
    padding: PaddingArg

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        if self.padding == "same":
            raise ConvCalcError("'same' has no meaning without a kernel", field="padding")
        ones = (1,) * len(shape.spatial)
        pads = resolve_padding(self.padding, shape.spatial, ones, ones, ones)
        sizes = tuple(
            n + before + after for n, (before, after) in zip(shape.spatial, pads, strict=True)
        )
        steps = tuple(Step(Fraction(1), Fraction(1), Fraction(before)) for before, _ in pads)
        return Result(Shape(shape.channels, sizes), steps=steps)

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        return kernels.pad(values[0], self._widths(inputs))

    def dependency(self, inputs: Inputs, masks: list, kernels):
        return kernels.pad(masks[0], self._widths(inputs))

    def _widths(self, inputs: Inputs) -> list[tuple[int, int]]:
        """(before, after) per axis of the arrays, batch and channels unpadded."""
        ones = (1,) * len(inputs.only.spatial)
        pads = resolve_padding(self.padding, inputs.only.spatial, ones, ones, ones)
        return [(0, 0), (0, 0), *pads]


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
