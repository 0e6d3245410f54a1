"""Explicit zero padding."""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

from convcalc.errors import ConvCalcError
from convcalc.field import Step
from convcalc.layers.base import Inputs, Layer, PaddingArg, Result, Shape, resolve_padding


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
