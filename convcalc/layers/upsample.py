"""Upsampling by interpolation: nearest, (bi/tri)linear and bicubic (PyTorch interpolate)."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Annotated, Literal

from pydantic import Field

from convcalc import dims as dimension
from convcalc.errors import ConvCalcError
from convcalc.field import Step
from convcalc.layers.base import Cost, Inputs, Layer, Result, Shape, SizeArg, per_dim

PositiveFloat = Annotated[float, Field(gt=0)]

# The spatial rank each interpolating mode is defined for (PyTorch F.interpolate).
MODE_RANK = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}


def source_taps(size: int, out_size: int, ratio: float, cubic: bool, align_corners: bool) -> int:
    """Input positions that weigh on each output position, summed along one dim.

    PyTorch's source index: o*ratio with align_corners, else (o + 0.5)*ratio - 0.5 (clamped
    at 0 for linear); linear reads floor(src) and the next one, cubic floor(src)-1..+2, both
    clamped to the input. A tap whose weight is zero (src falls on an input position) is no
    connection.
    """
    total = 0
    for position in range(out_size):
        src = position * ratio if align_corners else (position + 0.5) * ratio - 0.5
        if not cubic:
            src = max(src, 0.0)
        first = math.floor(src)
        if src == first:
            total += 1
        elif cubic:
            total += len({min(max(first + tap, 0), size - 1) for tap in range(-1, 3)})
        else:
            total += 2 if first < size - 1 else 1
    return total


class Upsample(Layer):
    """Interpolating upsample by `scale_factor` or to `size`."""

    spatial = True

    type: Literal["upsample"] = "upsample"
    scale_factor: PositiveFloat | list[PositiveFloat] | None = None
    size: SizeArg | None = None
    mode: Literal["nearest", "linear", "bilinear", "trilinear", "bicubic"] = "nearest"
    align_corners: bool = False

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        dims = len(shape.spatial)
        if (self.scale_factor is None) == (self.size is None):
            raise ConvCalcError("give exactly one of scale_factor and size", field="scale_factor")
        if self.mode in MODE_RANK and MODE_RANK[self.mode] != dims:
            raise ConvCalcError(
                f"mode {self.mode} is for {MODE_RANK[self.mode]}-d inputs, not {dims}-d",
                field="mode",
            )
        if self.mode == "nearest" and self.align_corners:
            raise ConvCalcError("align_corners needs an interpolating mode", field="align_corners")
        if self.size is not None:
            sizes = per_dim(self.size, dims, "size")
            ratios = [Fraction(n, out) for n, out in zip(shape.spatial, sizes, strict=True)]
        else:
            factors = per_dim(self.scale_factor, dims, "scale_factor")
            sizes = tuple(map(dimension.scaled_size, shape.spatial, factors))
            if min(sizes) < 1:
                raise ConvCalcError(
                    f"output size {sizes} below 1 for input {shape}", field="scale_factor"
                )
            # PyTorch maps output to input with 1/scale_factor when a factor is given.
            ratios = [1 / Fraction(str(factor)) for factor in factors]
        out = Shape(shape.channels, sizes)
        return Result(out, self._cost(shape, out, ratios), self._steps(shape, out, ratios))

    def _cost(self, shape: Shape, out: Shape, ratios: list[Fraction]) -> Cost:
        if self.mode == "nearest":
            return Cost()  # a copy: no arithmetic, no new connections
        dims = len(out.spatial)
        cubic = self.mode == "bicubic"
        taps_read = 1
        for size, out_size, ratio in zip(shape.spatial, out.spatial, ratios, strict=True):
            if self.align_corners:
                ratio = Fraction(size - 1, out_size - 1) if out_size > 1 else Fraction(0)
            taps_read *= source_taps(size, out_size, float(ratio), cubic, self.align_corners)
        # Blending: a lerp a + w*(b - a) is 3 FLOPs and an N-d linear blend takes 2^N - 1;
        # a 4-tap cubic is 7 FLOPs and an N-d cubic blend takes (4^N - 1) / 3 of them.
        per_value = 7 * (4**dims - 1) // 3 if cubic else 3 * (2**dims - 1)
        return Cost(flops=per_value * out.numel, connections=shape.channels * taps_read)

    def _steps(self, shape: Shape, out: Shape, ratios: list[Fraction]) -> tuple[Step, ...]:
        kernel = {"nearest": 1, "bicubic": 4}.get(self.mode, 2)
        steps = []
        for size, out_size, ratio in zip(shape.spatial, out.spatial, ratios, strict=True):
            if self.mode == "nearest":
                padding = Fraction(0)
            elif self.align_corners:
                ratio = Fraction(size - 1, out_size - 1) if out_size > 1 else Fraction(0)
                padding = Fraction(kernel // 2 - 1)
            else:
                padding = Fraction(kernel // 2 - 1) + Fraction(1, 2) - ratio / 2
            steps.append(Step(Fraction(kernel), ratio, padding))
        return tuple(steps)
