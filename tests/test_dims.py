"""The size formulas in convcalc.dims against brute-force enumeration and the seeds' examples."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convcalc.dims import (
    Window,
    adaptive_bounds,
    adaptive_taps,
    floor_sum,
    same_padding,
    transposed_output_size,
    transposed_real_taps,
    transposed_same_padding,
)


def brute_force_output(size: int, window: Window) -> int:
    """Walk the window over the padded input start by start, as the pooling docs describe."""
    padded = size + window.pad_before + window.pad_after
    last_full = padded - window.extent
    starts = [0]
    # Floor mode: only whole windows. Ceil mode: keep going until a window reaches past the
    # last whole-window position, then drop windows that start in the right padding.
    while starts[-1] + window.stride <= last_full or (window.ceil_mode and starts[-1] < last_full):
        starts.append(starts[-1] + window.stride)
    if window.ceil_mode:
        starts = [start for start in starts if start < size + window.pad_before]
    return len(starts)


windows = st.builds(
    Window,
    kernel=st.integers(1, 6),
    stride=st.integers(1, 4),
    pad_before=st.integers(0, 3),
    pad_after=st.integers(0, 3),
    dilation=st.integers(1, 3),
    ceil_mode=st.booleans(),
)


@given(size=st.integers(1, 40), window=windows)
def test_output_size_counts_window_positions(size, window):
    if window.extent > window.padded(size):
        return
    if window.ceil_mode and 2 * max(window.pad_before, window.pad_after) > window.kernel:
        return  # ceil_mode is a pooling option, and pools refuse padding over half the kernel
    assert window.output_size(size) == brute_force_output(size, window)


@given(size=st.integers(1, 30), window=windows)
def test_real_taps_counts_taps_on_real_input(size, window):
    if window.extent > window.padded(size):
        return
    out = window.output_size(size)
    expected = sum(
        1
        for position in range(out)
        for tap in range(window.kernel)
        if 0 <= position * window.stride - window.pad_before + tap * window.dilation < size
    )
    assert window.real_taps(size, out) == expected


@given(
    size=st.integers(1, 60),
    kernel=st.integers(1, 7),
    stride=st.integers(1, 4),
    dilation=st.integers(1, 3),
)
def test_same_padding_gives_ceil_of_size_over_stride(size, kernel, stride, dilation):
    before, after = same_padding(size, kernel, stride, dilation)
    assert after - before in (0, 1)
    window = Window(kernel, stride, before, after, dilation)
    assert window.output_size(size) == math.ceil(size / stride)


@given(
    size=st.integers(1, 60),
    kernel=st.integers(1, 7),
    stride=st.integers(1, 4),
    dilation=st.integers(1, 3),
)
def test_transposed_same_padding_gives_size_times_stride(size, kernel, stride, dilation):
    before, after, extra = transposed_same_padding(kernel, stride, dilation)
    assert after - before in (0, 1)
    assert extra == 0 or before == after == 0
    window = Window(kernel, stride, before, after, dilation)
    assert transposed_output_size(size, window, extra) == size * stride


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding", "expected", "source"),
    [
        # floor((n + 2p - f)/s) + 1 (seed 000); LeNet-5 C1: 32 -> 28, S2: 28 -> 14.
        (32, 5, 1, 0, 28, "seed 000, LeNet-5 C1"),
        (28, 2, 2, 0, 14, "seed 000, LeNet-5 S2"),
        # Seed 001, exercise 3: Conv2d(3, 4, kernel_size=3, padding=2) on 100x100 -> 102.
        (100, 3, 1, 2, 102, "seed 001 exercise 3"),
        # Seed 001: nn.Conv2d(kernel_size=(3, 5), padding=(1, 2)) on 3x5 keeps 3x5.
        (3, 3, 1, 1, 3, "seed 001 Conv2d example, height"),
        (5, 5, 1, 2, 5, "seed 001 Conv2d example, width"),
        # Seed 001: MaxPool2d(3, padding=1, stride=(2, 1)) on 4x4 -> 2x4.
        (4, 3, 2, 1, 2, "seed 001 MaxPool2d example, height"),
        (4, 3, 1, 1, 4, "seed 001 MaxPool2d example, width"),
        # Seed 001, the 5x5 input: one 5x5 kernel -> 1; a 3x3 -> 3, then another -> 1.
        (5, 5, 1, 0, 1, "seed 001 5x5 vs 3x3 stack"),
        (5, 3, 1, 0, 3, "seed 001 5x5 vs 3x3 stack"),
        (3, 3, 1, 0, 1, "seed 001 5x5 vs 3x3 stack"),
        # Seed 002: an even 2x2 kernel on 4x4 with padding 1 on both sides gives 5, not 4.
        (4, 2, 1, 1, 5, "seed 002 even kernel"),
    ],
)
def test_seed_examples(size, kernel, stride, padding, expected, source):
    assert Window(kernel, stride, padding, padding).output_size(size) == expected, source


def test_seed_001_strided_formula():
    # floor((n + p_total - k + s) / s), written as in seed 001, for a few strided cases.
    for size, kernel, stride, total in [(8, 3, 3, 2), (8, 2, 2, 0), (7, 3, 2, 2)]:
        expected = (size + total - kernel + stride) // stride
        assert Window(kernel, stride, total // 2, total - total // 2).output_size(size) == expected


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding", "expected"),
    [
        # Seed 004: a 3x3 transposed conv takes 2x2 to 4x4 (unit stride) and to 5x5
        # (zeros inserted between inputs: stride 2).
        (2, 3, 1, 0, 4),
        (2, 3, 2, 0, 5),
        # The inverse of the 4x4 -> 2x2 (k3, s1) convolution of the seed's matrix example.
        (2, 3, 1, 0, 4),
    ],
)
def test_transposed_output_size(size, kernel, stride, padding, expected):
    window = Window(kernel, stride, padding, padding)
    assert transposed_output_size(size, window) == expected


@given(size=st.integers(1, 50), out=st.integers(1, 50))
def test_adaptive_windows_cover_the_input(size, out):
    bounds = adaptive_bounds(size, out)
    assert len(bounds) == out
    assert bounds[0][0] == 0 and bounds[-1][1] == size
    assert all(start < end for start, end in bounds)
    # Consecutive windows leave no gap (they may overlap when out > size).
    assert all(nxt[0] <= cur[1] for cur, nxt in zip(bounds, bounds[1:], strict=False))


@given(
    count=st.integers(0, 30),
    divisor=st.integers(1, 12),
    slope=st.integers(-20, 20),
    offset=st.integers(-50, 50),
)
def test_floor_sum_matches_the_loop(count, divisor, slope, offset):
    expected = sum((slope * i + offset) // divisor for i in range(count))
    assert floor_sum(count, divisor, slope, offset) == expected


@given(size=st.integers(1, 30), window=windows, out=st.integers(1, 30))
def test_transposed_pairs_count_landing_taps(size, window, out):
    expected = sum(
        1
        for position in range(size)
        for tap in range(window.kernel)
        if 0 <= position * window.stride - window.pad_before + tap * window.dilation < out
    )
    assert transposed_real_taps(size, window, out) == expected


def test_huge_windows_are_counted_in_closed_form():
    # A billion taps over a billion positions: counted without walking them.
    window = Window(10**9, 1, 10**9 - 1, 10**9 - 1)
    size = 10**9
    assert window.real_taps(size, window.output_size(size)) == size * size


@given(size=st.integers(1, 200), out=st.integers(1, 200))
def test_adaptive_taps_closed_form(size, out):
    lengths = [end - start for start, end in adaptive_bounds(size, out)]
    assert adaptive_taps(size, out) == (sum(lengths), max(lengths))
