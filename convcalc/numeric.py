"""The NumPy kernels of the reference forward pass, shared by the layer modules.

Arrays are [batch, channels, *spatial], 1 to 3 spatial dims, one code path for all ranks.
Convolutions go to BLAS: windows are strided views of the padded input, copied into
columns (im2col) in chunks under a memory cap and multiplied per group in one batched
matmul. Pooling reduces strided slices tap by tap; interpolation gathers along one dim at
a time. No loop runs over output positions or batch elements.

Only `verify` imports this module, so `convcalc shapes` never loads NumPy. Every product
the MAC convention counts goes through `Kernels.matmul`, which counts the multiply-accumulates
from its operands' sizes: that count is what `verify` compares with the analysis.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from convcalc.dims import Window, adaptive_bounds
from convcalc.errors import ConvCalcError

# numpy.pad's names for the padding modes that copy real inputs (PyTorch F.pad's): the
# mirror without the edge, the edge repeated, the other end wrapped around.
NUMPY_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


class Kernels:
    """The reference's operations, with a MAC counter and a cap on temporary bytes.

    What one layer hands to a later one (a max pool's argmax) goes through the run's
    layers.base.ForwardContext, never through here: an operation's result follows from its
    arguments, but for the skeleton's `virtual_axis` (see `pad`).
    """

    def __init__(self, max_bytes: int = 2**30) -> None:
        self.max_bytes = max_bytes
        self.macs = 0
        self.virtual_axis: int | None = None
        # Which padding the skeleton marks along `virtual_axis`: "zeros" (positions that
        # are not real input) or "copies" (positions that copy real inputs), see `pad`.
        self.marking = "zeros"

    def pad(
        self,
        values: np.ndarray,
        widths: list[tuple[int, int]],
        fill: float = 0.0,
        mode: str = "zeros",
    ):
        """`values` padded by (before, after) per axis with `fill`, or with copies of the
        values for the modes of NUMPY_PAD_MODES (reflect, replicate, circular).

        With `virtual_axis` set (the receptive-field skeleton), the padding of the kind
        `marking` names along that spatial axis is marked 1 instead: "zeros" flags outputs
        whose field reaches a position that is not real input, where the measured field
        cannot show the predicted one (a transposed convolution marks the inputs before
        and after its own, which its padding crops away, the same way); "copies" flags
        outputs that read copies of real inputs, which stand elsewhere in the input than
        the field's span says.
        """
        if not any(before or after for before, after in widths):
            return values
        if mode == "zeros":
            padded = np.pad(values, widths, constant_values=fill)
        else:
            padded = np.pad(values, widths, mode=NUMPY_PAD_MODES[mode])
        marked_kind = "zeros" if mode == "zeros" else "copies"
        if self.virtual_axis is not None and self.marking == marked_kind:
            axis = 2 + self.virtual_axis
            before, after = widths[axis]
            marked = np.moveaxis(padded, axis, 0)
            marked[:before] = 1
            marked[marked.shape[0] - after :] = 1
        return padded

    def matmul(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """left @ right, broadcast over leading dims, counting batch x m x k x n MACs."""
        result = np.matmul(left, right)
        batch = math.prod(result.shape[:-2])
        self.macs += batch * left.shape[-2] * left.shape[-1] * right.shape[-1]
        return result

    def conv(
        self,
        values: np.ndarray,
        weight: np.ndarray,
        windows: tuple[Window, ...],
        groups: int = 1,
        bias: np.ndarray | None = None,
    ) -> np.ndarray:
        """N-d cross-correlation, weight [out, in/groups, *kernel] (PyTorch ConvNd)."""
        batch, channels = values.shape[:2]
        out_channels = weight.shape[0]
        sizes, pieces = self._im2col(values, windows, groups)
        # [groups, out/groups, in/groups * taps], matching the columns' row order.
        matrix = weight.reshape(groups, out_channels // groups, -1)
        result = np.empty((batch, out_channels, *sizes), dtype=np.result_type(values, weight))
        for rows, columns in pieces:
            product = self.matmul(matrix, columns)
            result[:, :, rows] = product.reshape(batch, out_channels, -1, *sizes[1:])
        return _add_bias(result, bias)

    def _im2col(self, values: np.ndarray, windows: tuple[Window, ...], groups: int):
        """Output sizes, and the columns [batch, groups, in/groups * taps, positions] of
        successive bands of output rows, each band's columns under the memory cap."""
        batch, channels = values.shape[:2]
        taps = math.prod(w.kernel for w in windows)
        sizes = tuple(w.output_size(n) for w, n in zip(windows, values.shape[2:], strict=True))
        view = window_view(self.pad(values, pad_widths(values, windows, sizes)), windows, sizes)
        row_bytes = batch * channels * taps * math.prod(sizes[1:]) * values.itemsize
        pieces = (
            (rows, _columns(view[:, :, rows], groups, channels // groups * taps))
            for rows in chunks(sizes[0], row_bytes, self.max_bytes)
        )
        return sizes, pieces

    def conv_table(
        self,
        values: np.ndarray,
        weight: np.ndarray,
        windows: tuple[Window, ...],
        table: list[list[int]],
        bias: np.ndarray | None = None,
    ) -> np.ndarray:
        """A convolution where output channel o reads only the input channels table[o].

        One product per output channel over just its table's columns, so the MACs counted
        are those of the table (LeNet-5's C3), not of a dense weight with zeros.
        """
        batch, channels = values.shape[:2]
        taps = math.prod(weight.shape[2:])
        sizes, pieces = self._im2col(values, windows, 1)
        result = np.empty((batch, len(table), *sizes), dtype=np.result_type(values, weight))
        for rows, columns in pieces:
            columns = columns.reshape(batch, channels, taps, -1)
            for out_channel, sources in enumerate(table):
                kernel = weight[out_channel, sources].reshape(1, -1)
                product = self.matmul(
                    kernel, columns[:, sources].reshape(batch, -1, columns.shape[-1])
                )
                result[:, out_channel, rows] = product.reshape(batch, -1, *sizes[1:])
        return _add_bias(result, bias)

    def conv_transpose(
        self,
        values: np.ndarray,
        weight: np.ndarray,
        windows: tuple[Window, ...],
        sizes: tuple[int, ...],
        groups: int = 1,
        bias: np.ndarray | None = None,
    ) -> np.ndarray:
        """N-d transposed convolution, weight [in, out/groups, *kernel] (PyTorch).

        Each input value times the kernel lands at input*stride + tap*dilation - padding
        (col2im): one product per group, then one strided add per tap into a canvas that is
        cropped to the output `sizes` (output_padding and output_size only widen it).
        """
        batch, channels = values.shape[:2]
        kernel = weight.shape[2:]
        out_per_group = weight.shape[1]
        out_channels = out_per_group * groups
        # Output positions shifted by taps of inputs before the first one (see `pad`).
        shifts = [0] * len(windows)
        if self.virtual_axis is not None:
            window = windows[self.virtual_axis]
            outside = -(-window.extent // window.stride)
            widths = [(0, 0)] * values.ndim
            widths[2 + self.virtual_axis] = (outside, outside)
            values = self.pad(values, widths)
            shifts[self.virtual_axis] = outside * window.stride
        in_sizes = values.shape[2:]
        canvas_sizes = tuple(
            max((n - 1) * w.stride + w.extent, w.pad_before + shift + size)
            for n, w, size, shift in zip(in_sizes, windows, sizes, shifts, strict=True)
        )
        dtype = np.result_type(values, weight)
        canvas = np.zeros((batch, out_channels, *canvas_sizes), dtype=dtype)
        # [groups, out/groups * taps, in/groups]
        matrix = (
            weight.reshape(groups, channels // groups, out_per_group * math.prod(kernel))
            .transpose(0, 2, 1)
            .copy()
        )
        row_values = batch * out_channels * math.prod(kernel) * math.prod(in_sizes[1:])
        for rows in chunks(in_sizes[0], row_values * values.itemsize, self.max_bytes):
            part = values[:, :, rows]
            flat = part.reshape(batch, groups, channels // groups, -1)
            product = self.matmul(matrix, flat)
            product = product.reshape(batch, out_channels, *kernel, *part.shape[2:])
            first_row = rows.start
            for tap in itertools.product(*(range(k) for k in kernel)):
                target = [slice(None), slice(None)]
                for axis, (offset, window, n) in enumerate(
                    zip(tap, windows, part.shape[2:], strict=True)
                ):
                    start = offset * window.dilation + (
                        first_row * window.stride if axis == 0 else 0
                    )
                    target.append(slice(start, start + (n - 1) * window.stride + 1, window.stride))
                canvas[tuple(target)] += product[(slice(None), slice(None), *tap)]
        crop = tuple(
            slice(w.pad_before + shift, w.pad_before + shift + size)
            for w, size, shift in zip(windows, sizes, shifts, strict=True)
        )
        return _add_bias(np.ascontiguousarray(canvas[(slice(None), slice(None), *crop)]), bias)

    def pool(
        self,
        values: np.ndarray,
        windows: tuple[Window, ...],
        reduce: str,
        count_include_pad: bool = True,
        return_indices: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Max, mean or sum over each window (PyTorch MaxPool/AvgPool, ceil_mode included).

        Taps past the padded input (ceil_mode's last window) are never counted; a mean
        divides by the taps inside the padded input, or the real ones without
        count_include_pad. With return_indices, a max pool also returns its argmax, as
        PyTorch's flat position in each input plane (what max_unpool reads).
        """
        sizes = tuple(w.output_size(n) for w, n in zip(windows, values.shape[2:], strict=True))
        fill = -np.inf if reduce == "max" else 0.0
        padded = self.pad(values, pad_widths(values, windows, sizes), fill)
        keep = reduce == "max" and return_indices
        result = best_tap = None
        kernel = tuple(w.kernel for w in windows)
        for number, tap in enumerate(itertools.product(*(range(k) for k in kernel))):
            taken = padded[_tap_slices(tap, windows, sizes)]
            if result is None:
                result = taken.copy()
                best_tap = np.zeros(taken.shape, dtype=np.int64) if keep else None
            elif reduce == "max":
                if keep:
                    better = taken > result
                    best_tap[better] = number
                np.maximum(result, taken, out=result)
            else:
                result += taken
        if reduce == "mean":
            result /= _divisors(windows, values.shape[2:], sizes, count_include_pad)
        if keep:
            return result, _flat_indices(best_tap, kernel, windows, sizes, values.shape[2:])
        return result

    def adaptive_pool(self, values: np.ndarray, sizes: tuple[int, ...], reduce: str) -> np.ndarray:
        """Max, mean or sum over PyTorch's adaptive windows, one spatial dim at a time."""
        for axis, out_size in enumerate(sizes, start=2):
            bounds = np.array(adaptive_bounds(values.shape[axis], out_size))
            starts, widths = bounds[:, 0], bounds[:, 1] - bounds[:, 0]
            shape = [1] * values.ndim
            shape[axis] = out_size
            result = None
            for offset in range(widths.max()):
                # Narrower windows repeat their last tap: harmless for max, masked for sums.
                taken = values.take(np.minimum(starts + offset, starts + widths - 1), axis=axis)
                if result is None:
                    result = taken
                elif reduce == "max":
                    result = np.maximum(result, taken)
                else:
                    result = result + taken * (offset < widths).reshape(shape)
            if reduce == "mean":
                result = result / widths.reshape(shape).astype(values.dtype)
            values = result
        return values

    def interpolate(
        self,
        values: np.ndarray,
        sizes: tuple[int, ...],
        scales: tuple[float | None, ...],
        mode: str,
        align_corners: bool,
        copies_kept_size: bool,
        magnitude: bool = False,
    ) -> np.ndarray:
        """PyTorch F.interpolate, one spatial dim at a time (all its modes are separable).

        `scales` are the given scale factors (None when a size was given);
        `copies_kept_size`: whether a dim whose size is kept is copied. With
        `magnitude`, the weights' absolute values are used: the dependency skeleton must
        not let bicubic's negative lobes cancel.
        """
        for axis, (out_size, scale) in enumerate(zip(sizes, scales, strict=True), start=2):
            sources, weights = interpolation_taps(
                values.shape[axis], out_size, scale, mode, align_corners, copies_kept_size
            )
            if magnitude:
                weights = np.abs(weights)
            shape = [1] * values.ndim
            shape[axis] = out_size
            result = None
            for tap in range(sources.shape[1]):
                taken = values.take(sources[:, tap], axis=axis)
                term = taken * weights[:, tap].reshape(shape).astype(values.dtype)
                result = term if result is None else result + term
            values = result
        return values

    def unpool(self, values: np.ndarray, indices: np.ndarray, sizes: tuple[int, ...]) -> np.ndarray:
        """PyTorch MaxUnpool: each value to its flat index in an output plane, zeros elsewhere."""
        batch, channels = values.shape[:2]
        plane = math.prod(sizes)
        if indices.size and int(indices.max()) >= plane:
            # PyTorch refuses these too ("Found an invalid max index").
            raise ConvCalcError(
                f"the pool's argmax {int(indices.max())} falls outside the"
                f" {'x'.join(map(str, sizes))} output: set output_size to the pool's input size",
                field="output_size",
            )
        result = np.zeros((batch, channels, plane), dtype=values.dtype)
        np.put_along_axis(
            result, indices.reshape(batch, channels, -1), values.reshape(batch, channels, -1), 2
        )
        return result.reshape(batch, channels, *sizes)


def chunks(rows: int, row_bytes: int, max_bytes: int):
    """Slices of `rows` with at most max_bytes of temporaries each (one row at least)."""
    step = max(1, min(rows, max_bytes // max(row_bytes, 1)))
    for start in range(0, rows, step):
        yield slice(start, min(rows, start + step))


def pad_widths(
    values: np.ndarray, windows: tuple[Window, ...], sizes: tuple[int, ...]
) -> list[tuple[int, int]]:
    """(before, after) per axis: the windows' padding, and after it far enough for
    ceil_mode's last windows."""
    widths = [(0, 0), (0, 0)]
    for window, n, size in zip(windows, values.shape[2:], sizes, strict=True):
        reach = (size - 1) * window.stride + window.extent
        widths.append((window.pad_before, max(window.pad_after, reach - n - window.pad_before)))
    return widths


def window_view(
    padded: np.ndarray, windows: tuple[Window, ...], sizes: tuple[int, ...]
) -> np.ndarray:
    """A read-only strided view [batch, channels, *out, *kernel] of every window's taps."""
    strides = padded.strides
    spatial = strides[2:]
    return np.lib.stride_tricks.as_strided(
        padded,
        shape=(*padded.shape[:2], *sizes, *(w.kernel for w in windows)),
        strides=(
            *strides[:2],
            *(step * w.stride for step, w in zip(spatial, windows, strict=True)),
            *(step * w.dilation for step, w in zip(spatial, windows, strict=True)),
        ),
        writeable=False,
    )


def interpolation_taps(
    size: int,
    out_size: int,
    scale: float | None,
    mode: str,
    align_corners: bool,
    copies_kept_size: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Source positions and weights [out_size, taps] along one dim, as PyTorch computes them.

    ATen (UpSample.h) works in float32: ratio = 1/scale_factor when one is given, else
    in/out; nearest reads min(floor(o * ratio), in - 1). The linear modes and bicubic read
    src = o * (in-1)/(out-1) with align_corners, else (o + 0.5) * ratio - 0.5, clamped at 0
    for the linear modes; linear blends floor(src) and the next position, bicubic
    floor(src)-1 .. floor(src)+2 with Keys' cubic (A = -0.75), indices clamped to the input.
    """
    positions = np.arange(out_size, dtype=np.float32)
    if copies_kept_size and out_size == size:
        return np.arange(size)[:, None], np.ones((size, 1), dtype=np.float32)
    if align_corners:
        ratio = np.float32(size - 1) / np.float32(out_size - 1) if out_size > 1 else np.float32(0)
    elif scale is not None:
        ratio = np.float32(1.0 / scale)
    else:
        ratio = np.float32(size) / np.float32(out_size)
    if mode == "nearest":
        sources = np.minimum(np.floor(positions * ratio).astype(np.int64), size - 1)
        return sources[:, None], np.ones((out_size, 1), dtype=np.float32)
    if align_corners:
        src = positions * ratio
    else:
        src = ratio * (positions + np.float32(0.5)) - np.float32(0.5)
    if mode != "bicubic":
        src = np.maximum(src, np.float32(0))
    # ATen's guard_index_and_lambda: the index at most in - 1, the fraction within [0, 1].
    first = np.minimum(np.floor(src).astype(np.int64), size - 1)
    fraction = np.clip(src - first.astype(np.float32), np.float32(0), np.float32(1))
    if mode != "bicubic":
        following = np.where(first < size - 1, first + 1, first)
        sources = np.stack([first, following], axis=1)
        weights = np.stack([np.float32(1) - fraction, fraction], axis=1)
        return sources, weights
    t = fraction
    a = np.float32(-0.75)

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    one = np.float32(1)
    weights = np.stack([far(t + one), near(t), near(one - t), far((one - t) + one)], axis=1)
    sources = np.clip(first[:, None] + np.arange(-1, 3), 0, size - 1)
    return sources, weights


def interpolation_matrix(
    size: int,
    out_size: int,
    scale: float | None,
    mode: str,
    align_corners: bool,
    copies_kept_size: bool,
) -> np.ndarray:
    """The [out_size, size] weights of one dim's interpolation, repeated taps summed."""
    sources, weights = interpolation_taps(
        size, out_size, scale, mode, align_corners, copies_kept_size
    )
    matrix = np.zeros((out_size, size), dtype=np.float64)
    rows = np.repeat(np.arange(out_size), sources.shape[1])
    np.add.at(matrix, (rows, sources.ravel()), weights.ravel().astype(np.float64))
    return matrix


def _columns(view: np.ndarray, groups: int, rows: int) -> np.ndarray:
    """Windows [batch, channels, *out, *kernel] -> columns [batch, groups, rows, positions]."""
    dims = (view.ndim - 2) // 2
    order = (0, 1, *range(2 + dims, 2 + 2 * dims), *range(2, 2 + dims))
    return view.transpose(order).reshape(view.shape[0], groups, rows, -1)


def _add_bias(result: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    if bias is not None:
        result += bias.reshape(1, -1, *(1,) * (result.ndim - 2))
    return result


def _tap_slices(tap: tuple[int, ...], windows: tuple[Window, ...], sizes: tuple[int, ...]):
    """Index of one kernel tap's input in every window: a strided slice per dim."""
    index = [slice(None), slice(None)]
    for offset, window, size in zip(tap, windows, sizes, strict=True):
        start = offset * window.dilation
        index.append(slice(start, start + (size - 1) * window.stride + 1, window.stride))
    return tuple(index)


def _divisors(
    windows: tuple[Window, ...], in_sizes: tuple[int, ...], sizes: tuple[int, ...], padded: bool
) -> np.ndarray:
    """Taps per window inside the padded input (or inside the real input), per output."""
    result = np.ones((), dtype=np.float32)
    for window, n, size in zip(windows, in_sizes, sizes, strict=True):
        positions = np.arange(size)[:, None] * window.stride + np.arange(window.kernel)
        low, high = (
            (0, n + window.pad_before + window.pad_after)
            if padded
            else (
                window.pad_before,
                window.pad_before + n,
            )
        )
        counts = ((positions >= low) & (positions < high)).sum(axis=1).astype(np.float32)
        result = np.multiply.outer(result, counts)
    return result


def _flat_indices(
    best_tap: np.ndarray,
    kernel: tuple[int, ...],
    windows: tuple[Window, ...],
    sizes: tuple[int, ...],
    in_sizes: tuple[int, ...],
) -> np.ndarray:
    """Tap numbers of each window's max -> flat positions in the input plane (PyTorch)."""
    offsets = np.unravel_index(best_tap, kernel)
    flat = np.zeros(best_tap.shape, dtype=np.int64)
    for axis, (offset, window, size, n) in enumerate(
        zip(offsets, windows, sizes, in_sizes, strict=True)
    ):
        shape = [1] * best_tap.ndim
        shape[2 + axis] = size
        starts = (np.arange(size) * window.stride - window.pad_before).reshape(shape)
        flat = flat * n + starts + offset * window.dilation
    return flat


# Uniform float32 draws are multiples of 2**-24; shifted by half a step they are never 0,
# and 0 must mean "no weight" (a connection table's structural zeros).
_OFF_ZERO = np.float32(0.5 - 2**-25)


def random_weight(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform in +-sqrt(6 / fan-in) (He et al. 2015), never 0, so deep stacks stay finite."""
    fan_in = max(1, math.prod(shape[1:]))
    return _never_zero(rng, shape, math.sqrt(6 / fan_in))


def random_bias(rng: np.random.Generator, count: int, present: bool = True, key: str = "bias"):
    """{key: small values in +-0.1, never 0}, or nothing for a layer without a bias."""
    return {key: _never_zero(rng, (count,), 0.1)} if present else {}


def _never_zero(rng: np.random.Generator, shape: tuple[int, ...], bound: float) -> np.ndarray:
    values = rng.random(shape, dtype=np.float32)
    values -= _OFF_ZERO
    values *= np.float32(2 * bound)
    return values


def sigmoid(values: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) as exp(-log(1 + exp(-x))): no overflow for large negative x."""
    return np.exp(-np.logaddexp(values.dtype.type(0), -values))


def gelu(values: np.ndarray) -> np.ndarray:
    """x * P(X <= x) = 0.5 x erfc(-x / sqrt 2) (PyTorch's exact GELU), in float64.

    NumPy has no erf: erfc is Numerical Recipes' Chebyshev fit `erfcc`, fractional error
    below 1.2e-7 everywhere, so the small negative tail keeps its relative precision.
    """
    z = -values.astype(np.float64) / math.sqrt(2)
    t = 1 / (1 + 0.5 * np.abs(z))
    coefficients = (
        -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
        0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277,
    )  # fmt: skip
    series = np.zeros_like(t)
    for coefficient in reversed(coefficients[1:]):
        series = (series + coefficient) * t
    tail = t * np.exp(-z * z + coefficients[0] + series)
    erfc = np.where(z >= 0, tail, 2 - tail)
    return (0.5 * values * erfc).astype(values.dtype)


def indicator(spatial: tuple[int, ...]) -> np.ndarray:
    """All-ones [1, 1, *spatial] in float64: one channel of real input values, counted exactly."""
    return np.ones((1, 1, *spatial), dtype=np.float64)
