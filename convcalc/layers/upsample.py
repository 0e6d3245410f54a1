"""Upsampling by interpolation: nearest, (bi/tri)linear and bicubic (PyTorch interpolate)."""

from __future__ import annotations

import functools
import math
import struct
from fractions import Fraction
from typing import Annotated, Literal

from pydantic import Field

from convcalc import dims as dimension
from convcalc.errors import ConvCalcError
from convcalc.field import FieldKind, Step
from convcalc.layers.base import (
    Backward,
    Cost,
    Inputs,
    Layer,
    Result,
    Shape,
    SizeArg,
    per_dim,
    sized,
)
from convcalc.text import shown

PositiveFloat = Annotated[float, Field(gt=0, le=dimension.MAX_SPATIAL, allow_inf_nan=False)]

# The spatial rank each interpolating mode is defined for (PyTorch F.interpolate).
MODE_RANK = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}


def copies_kept_size(mode: str, rank: int) -> bool:
    """Whether PyTorch's CPU kernel copies a dim whose size is kept, whatever its scale
    factor: the linear modes and 2-d nearest do; 1-d and 3-d nearest and bicubic still
    interpolate it at 1/scale_factor (measured on PyTorch 2.13)."""
    return mode in ("linear", "bilinear", "trilinear") or (mode == "nearest" and rank == 2)


def float32(value: float) -> float:
    """`value` rounded to the nearest float32, as PyTorch's float32 kernels hold it."""
    return struct.unpack("f", struct.pack("f", value))[0]


def source_index(position: int, ratio: float, align_corners: bool) -> float:
    """PyTorch's source index of an output position, in the float32 arithmetic of its CPU
    kernels (area_pixel_compute_source_index): ratio*o, or ratio*(o + 0.5) - 0.5.

    Exact arithmetic can put the source on an input position where float32 lands a hair
    beside it (53/26 * 26 is 52.999996), reading one more input with a tiny weight; the
    double result is close enough to decide everywhere else.
    """
    src = _double_source(position, ratio, align_corners)
    if abs(src - round(src)) > 1e-4 * (abs(src) + 1):
        return src
    ratio = float32(ratio)
    if align_corners:
        return float32(ratio * position)
    return float32(float32(ratio * (position + 0.5)) - 0.5)


@functools.lru_cache(maxsize=256)
def source_taps(size: int, out_size: int, ratio: float, cubic: bool, align_corners: bool) -> int:
    """Input positions that weigh on each output position, summed along one dim.

    PyTorch reads, around the source index (see source_index; clamped at 0 for linear),
    floor(src) and the next position for linear, floor(src)-1..+2 for cubic, both clamped
    to the input. A tap whose weight is zero (src falls on an input position) is no
    connection.

    The count depends only on floor(src) and on whether src is whole, and src grows with
    the output position. Up to LARGE_SOURCE the positions are counted one by one, or by
    runs of one floor when many outputs share each (a small input upsampled to 2^20).
    Past it, source_index is always PyTorch's float32 value: there every floor away from
    the input's ends reads the same number of taps, and the whole sources are a lattice
    count (_whole_sources), so the work does not grow with the output's size (2^20 - 1 ->
    2^20 took seconds position by position).
    """

    def src_at(position: int) -> float:
        src = source_index(position, ratio, align_corners)
        return src if cubic else max(src, 0.0)

    def taps(first: int) -> int:  # for a src strictly between first and first + 1
        if cubic:
            return len({min(max(first + tap, 0), size - 1) for tap in range(-1, 3)})
        return 2 if first < size - 1 else 1

    def counted(low: int, high: int) -> int:  # the positions in [low, high)
        if low >= high:
            return 0
        floors = math.floor(src_at(high - 1)) - math.floor(src_at(low)) + 1
        if high - low <= RUNS_FROM * (floors + 2):
            total = 0
            for position in range(low, high):
                src = src_at(position)
                first = math.floor(src)
                total += 1 if src == first else taps(first)
            return total
        total, position = 0, low
        while position < high:
            first = math.floor(src_at(position))
            end = _first_where(position, high, lambda o, first=first: src_at(o) >= first + 1)
            whole = _first_where(position, end, lambda o, first=first: src_at(o) > first)
            # src equals `first` from `position` to `whole`, and lies above it up to `end`.
            total += (whole - position) + (end - whole) * taps(first)
            position = end
        return total

    large = _first_where(
        0, out_size, lambda o: _double_source(o, ratio, align_corners) >= LARGE_SOURCE
    )
    # From `large` to `inner_end`, the floors read every tap: 4 for cubic (first - 1 >= 0,
    # first + 2 <= size - 1), 2 for linear (first + 1 <= size - 1); the rest, by runs.
    inner_end = _first_where(large, out_size, lambda o: src_at(o) >= size - (2 if cubic else 1))
    every = 4 if cubic else 2
    whole = _whole_sources(large, inner_end, ratio, align_corners)
    inner = every * (inner_end - large) - (every - 1) * whole
    return counted(0, large) + inner + counted(inner_end, out_size)


RUNS_FROM = 64  # outputs per input position past which source_taps counts by runs
# A source index from which source_index always takes PyTorch's float32 value: no double
# is further than 0.5 from a whole number, within its tolerance of 1e-4 * (src + 1) there.
LARGE_SOURCE = 5000.0


def _first_where(low: int, high: int, holds) -> int:
    """The first position in [low, high) where `holds` (false, then true) does; high if none."""
    while low < high:
        middle = (low + high) // 2
        if holds(middle):
            high = middle
        else:
            low = middle + 1
    return low


def _double_source(position: int, ratio: float, align_corners: bool) -> float:
    """source_index's first, double estimate of the source index."""
    return position * ratio if align_corners else (position + 0.5) * ratio - 0.5


def _whole_sources(low: int, high: int, ratio: float, align_corners: bool) -> int:
    """How many positions in [low, high) have a whole float32 source index, counted in
    closed form; every source there at least LARGE_SOURCE (and below 2^21).

    With r the float32 ratio (p/q exactly, q a power of two), PyTorch's source is
    round32(r*o), or round32(round32(r*(o + 0.5)) - 0.5), where subtracting 0.5 is exact at
    these sizes. x = r*o (or r*(o + 0.5)) is exact in a double; within its binade
    [2^e, 2^(e+1)) float32 rounds it to the nearest multiple of u = 2^(e-23), ties to even.
    The result is whole (a half for the second form) when that multiple, x/u rounded, is
    t modulo g = 1/u, t = 0 (or g/2); t is even, so ties go its way. With x/u = P/D, P
    linear in o and D a power of two, that is (P - t*D + D/2) mod (g*D) <= D: a count of
    lattice points, sum floor(a/M) - floor((a - L)/M), in O(log) steps (dims.floor_sum).
    """
    if low >= high:
        return 0
    exact = Fraction(float32(ratio))
    # x = (slope*o + offset) / scale
    if align_corners:
        slope, offset, scale = exact.numerator, 0, exact.denominator
    else:
        slope, offset, scale = 2 * exact.numerator, exact.numerator, 2 * exact.denominator
    total = 0
    for exponent in range(12, 22):  # LARGE_SOURCE > 2^12, sources < 2^21
        # The positions whose x lies in [2^exponent, 2^(exponent + 1)).
        start = max(low, -(-(2**exponent * scale - offset) // slope))
        stop = min(high, -(-(2 ** (exponent + 1) * scale - offset) // slope))
        if start >= stop:
            continue
        grid = 2 ** (23 - exponent)  # multiples of u per whole number (g)
        target = 0 if align_corners else grid // 2
        # x/u = (slope*o + offset) * grid / scale = P / D
        if grid >= scale:
            factor, denominator = grid // scale, 1
        else:
            factor, denominator = 1, scale // grid
        step, first = slope * factor, (slope * start + offset) * factor
        if denominator == 1:
            modulus, width, shift = grid, 1, -target
        else:
            modulus, width = grid * denominator, denominator + 1
            shift = denominator // 2 - target * denominator
        count = stop - start
        total += dimension.floor_sum(count, modulus, step, first + shift) - dimension.floor_sum(
            count, modulus, step, first + shift - width
        )
    return total


# The fields that set the output's size, one of which is given.
SIZINGS = ("scale_factor", "size", "size_of")


class Upsample(Layer):
    """Interpolating upsample by `scale_factor`, to `size`, or to the spatial size of the
    layer named by `size_of` (DeepLabV3's `F.interpolate(x, size=other.shape[-2:])`)."""

    spatial = True
    field_kind = FieldKind.ENVELOPE  # 1, 2 or 4 inputs around a fractional source index
    references = ("size_of",)

    type: Literal["upsample"] = "upsample"
    scale_factor: PositiveFloat | list[PositiveFloat] | None = None
    size: SizeArg | None = None
    size_of: str | None = None  # an earlier layer, or `input`
    mode: Literal["nearest", "linear", "bilinear", "trilinear", "bicubic"] = "nearest"
    align_corners: bool = False

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        dims = len(shape.spatial)
        given = [name for name in SIZINGS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ConvCalcError(
                "give exactly one of scale_factor, size and size_of",
                field=given[-1] if given else "scale_factor",
            )
        if self.mode in MODE_RANK and MODE_RANK[self.mode] != dims:
            raise ConvCalcError(
                f"mode {self.mode} is for {MODE_RANK[self.mode]}-d inputs, not {dims}-d",
                field="mode",
            )
        if self.mode == "nearest" and self.align_corners:
            raise ConvCalcError("align_corners needs an interpolating mode", field="align_corners")
        factors = self._factors(shape)
        conditions = dimension.Conditions()
        if self.scale_factor is None:
            sizes = self._sizes(inputs)
            out = sized(shape.channels, sizes, shape, given[0], conditions)
        else:
            sizes = tuple(map(dimension.scaled_size, shape.spatial, factors))
            out = sized(shape.channels, sizes, shape, "scale_factor", conditions)
        # size_of may give formula sizes to an input of number sizes (a pooled 1x1 map).
        if not dimension.is_known(*shape.spatial, *out.spatial):
            return self._formula_result(shape, out, factors, conditions)
        if self.scale_factor is None:
            ratios = [Fraction(n, m) for n, m in zip(shape.spatial, sizes, strict=True)]
        else:
            ratios = self._factor_ratios(factors)
        ratios = self._source_steps(shape, out, ratios)
        cost = self._cost(shape, out, ratios)
        return Result(out, cost, self._steps(ratios), conditions=conditions.found)

    def _sizes(self, inputs: Inputs) -> tuple:
        """The output's spatial sizes: `size`, or those of the layer `size_of` names."""
        dims = len(inputs.only.spatial)
        if self.size_of is None:
            return per_dim(self.size, dims, "size")
        other = inputs.output_of(self.size_of)
        if other is None:
            raise ConvCalcError(f"{shown(self.size_of)} is not an earlier layer", field="size_of")
        if len(other.spatial) != dims:
            raise ConvCalcError(
                f"{shown(self.size_of)} has {len(other.spatial)} spatial dims, the input"
                f" {inputs.only} has {dims}",
                field="size_of",
            )
        return other.spatial

    @staticmethod
    def _factor_ratios(factors: tuple[float, ...]) -> list[Fraction]:
        """Input positions per output step: PyTorch maps output to input with the float
        1.0 / scale_factor, kept exactly."""
        return [Fraction(1.0 / factor) for factor in factors]

    def _formula_result(
        self, shape: Shape, out: Shape, factors: tuple, conditions: dimension.Conditions
    ) -> Result:
        """The result for formula sizes: FLOPs as a formula (a dim is blended or copied
        depending on the size), the field when no dim's treatment depends on the size,
        connections once the sizes are set."""
        rank = len(shape.spatial)
        blends = [
            self._blends(size, out_size, factor, rank)
            for size, out_size, factor in zip(shape.spatial, out.spatial, factors, strict=True)
        ]
        flops = 0 if self.mode == "nearest" else self._flops_per_value(sum(blends)) * out.numel
        steps: tuple = (None,) * rank
        if self.scale_factor is not None and not self.align_corners and all(b == 1 for b in blends):
            steps = self._steps(self._factor_ratios(factors))
        cost = Cost(flops=flops, connections=dimension.unknown())
        return Result(out, cost, steps, conditions=conditions.found)

    def _source_steps(
        self, shape: Shape, out: Shape, ratios: list[Fraction]
    ) -> list[Fraction | None]:
        """Input positions per output step, per dim; None where PyTorch copies the dim.

        Where PyTorch copies a dim whose size is kept (see copies_kept_size), the step is
        None.
        align_corners maps the first and last positions onto each other: (n-1)/(m-1).
        """
        steps: list[Fraction | None] = []
        for size, out_size, ratio in zip(shape.spatial, out.spatial, ratios, strict=True):
            if out_size == size and copies_kept_size(self.mode, len(shape.spatial)):
                steps.append(None)
            elif self.align_corners:
                steps.append(Fraction(size - 1, out_size - 1) if out_size > 1 else Fraction(0))
            else:
                steps.append(ratio)
        return steps

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """Each output's gradient is spread back onto the inputs it blended: the forward's
        FLOPs again. Autograd keeps nothing (upsample_*_backward takes only sizes)."""
        return Backward(flops=result.cost.flops)

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        sizes = self.analyze(inputs).output.spatial
        return kernels.interpolate(
            values[0],
            sizes,
            self._factors(inputs.only),
            self.mode,
            self.align_corners,
            copies_kept_size(self.mode, len(sizes)),
        )

    def connections(self, inputs: Inputs, weights: dict, kernels) -> int:
        """Input values with a non-zero weight, per output value: per dim, the non-zero entries
        of the interpolation matrix the reference uses; their product over dims (the N-d
        weight is the product of the per-dim ones). Nearest only copies: none."""
        if self.mode == "nearest":
            return 0
        import numpy as np

        from convcalc import numeric

        shape = inputs.only
        sizes = self.analyze(inputs).output.spatial
        count = shape.channels
        for size, out_size, factor in zip(shape.spatial, sizes, self._factors(shape), strict=True):
            matrix = numeric.interpolation_matrix(
                size,
                out_size,
                factor,
                self.mode,
                self.align_corners,
                copies_kept_size(self.mode, len(sizes)),
            )
            count *= int(np.count_nonzero(matrix))
        return count

    def dependency(self, inputs: Inputs, masks: list, kernels):
        sizes = self.analyze(inputs).output.spatial
        return kernels.interpolate(
            masks[0],
            sizes,
            self._factors(inputs.only),
            self.mode,
            self.align_corners,
            copies_kept_size(self.mode, len(sizes)),
            magnitude=True,
        )

    def _factors(self, shape: Shape) -> tuple[float | None, ...]:
        """The scale factor per dim, or None per dim when a size is given."""
        if self.scale_factor is None:
            return (None,) * len(shape.spatial)
        return per_dim(self.scale_factor, len(shape.spatial), "scale_factor")

    def _cost(self, shape: Shape, out: Shape, ratios: list[Fraction | None]) -> Cost:
        if self.mode == "nearest":
            return Cost()  # a copy: no arithmetic, no new connections
        cubic = self.mode == "bicubic"
        taps_read = 1
        blended = 0  # dims actually interpolated
        for size, out_size, ratio in zip(shape.spatial, out.spatial, ratios, strict=True):
            if ratio is None:
                taps_read *= out_size
                continue
            blended += 1
            taps_read *= source_taps(size, out_size, float(ratio), cubic, self.align_corners)
        return Cost(
            flops=self._flops_per_value(blended) * out.numel,
            connections=shape.channels * taps_read,
        )

    def _blends(self, size, out_size, factor: float | None, rank: int):
        """1 when a dim of formula size is interpolated, 0 when PyTorch copies it (its size
        is kept), or a formula that is one or the other depending on the size."""
        if not copies_kept_size(self.mode, rank):
            return 1
        if factor is not None and (factor >= 2 or factor < 1):
            return 1  # floor(n*f) >= 2n, or < n: never n for n >= 1
        return dimension.choose(dimension.compare(out_size, "==", size), 0, 1)

    def _flops_per_value(self, blended: int) -> int:
        """FLOPs per output value when `blended` dims are interpolated.

        A lerp a + w*(b - a) is 3 FLOPs and an N-d linear blend takes 2^N - 1; a 4-tap cubic
        is 7 FLOPs and an N-d cubic blend takes (4^N - 1) / 3 of them.
        """
        if self.mode == "bicubic":
            return 7 * (4**blended - 1) // 3
        return 3 * (2**blended - 1)

    def _steps(self, ratios: list[Fraction | None]) -> tuple[Step, ...]:
        kernel = {"nearest": 1, "bicubic": 4}.get(self.mode, 2)
        steps = []
        for ratio in ratios:
            if ratio is None:
                steps.append(Step(Fraction(1), Fraction(1), Fraction(0)))
                continue
            # Receptive fields show the ratio as the fraction the user meant (1/3, not the
            # nearest binary float).
            shown = ratio.limit_denominator(10**6)
            if self.mode == "nearest":
                padding = Fraction(0)
            elif self.align_corners:
                padding = Fraction(kernel // 2 - 1)
            else:
                padding = Fraction(kernel // 2 - 1) + Fraction(1, 2) - shown / 2
            steps.append(Step(Fraction(kernel), shown, padding))
        return tuple(steps)
