"""Spatial-size arithmetic: every formula that turns an input size into an output size.

All of convcalc's dimension arithmetic lives here, one formula per function. A size is an
int, or a formula when the spec's input sizes are symbols (`[3, H, W]`): each function
takes either. Formulas add and multiply like ints; what they cannot do like ints (divide
with rounding, take a max, compare) goes through `Formulas`, an interface that
`convcalc.symbolic` implements and hands over with `use_formulas`. So dims never imports
sympy, and a numeric spec never loads it.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Literal, Protocol

# The largest spatial size (input, output, kernel or padding) a spec may state or reach:
# it bounds the per-position loops of interpolation and adaptive pooling.
MAX_SPATIAL = 2**20


def is_known(*values) -> bool:
    """True when every value is a plain int, not a formula in the input's symbols."""
    return all(isinstance(value, int) for value in values)


class Formulas(Protocol):
    """What dims needs of sizes that are formulas in the input's symbols, beyond + - *.

    A relation is what `relation` returns: a condition on the input sizes.
    """

    def is_formula(self, value: object) -> bool:
        """True for a value that is a formula (of this arithmetic)."""

    def floor_div(self, numerator, divisor: int):
        """floor(numerator / divisor), divisor a positive int."""

    def ceil_div(self, numerator, divisor: int):
        """ceiling(numerator / divisor), divisor a positive int."""

    def maximum(self, first, second):
        """The larger of two sizes."""

    def minimum(self, first, second):
        """The smaller of two sizes."""

    def relation(self, left, operator: str, right):
        """The condition `left operator right` ('==', '<', '<=', '>', '>=')."""

    def truth(self, relation) -> bool | None:
        """True when a relation holds at every size, False at none, None: it depends."""

    def choose(self, relation, if_true, otherwise):
        """if_true where the relation holds, else otherwise."""

    def unknown(self):
        """The value of a figure given only once the sizes are set."""

    def scaled(self, size, factor: float):
        """floor(size * factor)."""

    def check_size(self, size, field: str) -> None:
        """Refuse a formula too large to work with (a ConvCalcError about `field`)."""

    def settle(self, value):
        """A plain int where a formula is a constant, else the formula."""


# The arithmetic of formula sizes, once convcalc.symbolic has handed it over: every formula
# is built from its symbols, so it is in use wherever a formula reaches dims.
_formulas: list[Formulas] = []


def use_formulas(formulas: Formulas) -> None:
    """Take `formulas` as the arithmetic of sizes that are not ints (convcalc.symbolic's)."""
    _formulas[:] = [formulas]


def _arithmetic() -> Formulas:
    """The formula arithmetic in use."""
    if not _formulas:  # pragma: no cover - a bug: a formula not made by convcalc.symbolic
        raise RuntimeError("a formula size, but no formula arithmetic in use")
    return _formulas[0]


def is_formula(value: object) -> bool:
    """True for a size or figure that is a formula in the input's symbols (never when no
    symbolic spec has been analyzed: sympy is then not even imported)."""
    return bool(_formulas) and _formulas[0].is_formula(value)


def settled(value):
    """A plain int for a size that is a number, also when it was worked out from formulas
    ((H - 2) - (H - 6) is 4); else the formula."""
    if isinstance(value, int):
        return value
    return _arithmetic().settle(value)


def floor_div(numerator, denominator: int):
    """Floor of numerator / denominator for positive denominators."""
    if isinstance(numerator, int):
        return numerator // denominator
    return _arithmetic().floor_div(numerator, denominator)


def ceil_div(numerator, denominator: int):
    """Ceiling of numerator / denominator for positive denominators."""
    if isinstance(numerator, int):
        return -(-numerator // denominator)
    return _arithmetic().ceil_div(numerator, denominator)


def larger(first, second):
    """max() of two sizes, either of which may be a formula."""
    if is_known(first, second):
        return max(first, second)
    return _arithmetic().maximum(first, second)


def unknown():
    """The value of a figure of formula sizes given only once the sizes are set (a count
    that changes with the size modulo the strides)."""
    return _arithmetic().unknown()


def choose(condition, if_true, otherwise):
    """if_true where a condition (as `compare` gives it) holds, else otherwise."""
    if isinstance(condition, bool):
        return if_true if condition else otherwise
    return _arithmetic().choose(condition, if_true, otherwise)


_COMPARISONS = {
    "==": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def compare(left, relation: str, right):
    """`left relation right` ('==', '<', '<=', '>', '>='): a bool for ints; for formulas a
    condition on the input sizes, kept as written (floor(H/2) >= 1, not H/2 >= 1)."""
    if is_known(left, right):
        return _COMPARISONS[relation](left, right)
    return _arithmetic().relation(left, relation, right)


def check_formulas(sizes: tuple, field: str) -> None:
    """Refuse a formula size too large to work with (see Formulas.check_size)."""
    for size in sizes:
        if not isinstance(size, int):
            _arithmetic().check_size(size, field)


@dataclass(frozen=True)
class Condition:
    """One condition on the input sizes, found by a layer.

    kind "valid": the layer cannot run otherwise (a size below 1, inputs of unequal size);
    kind "exact": no rows or columns are dropped by flooring.
    """

    # A relation in the input's symbols, or False: failed at sizes given as numbers (a
    # formula analysis keeps it as a relation no size meets; see symbolic.on_symbols).
    relation: object
    field: str
    kind: Literal["valid", "exact"] = "valid"
    axis: int | None = None  # for a failure at a number size: the spatial dim it is in

    @property
    def symbols(self) -> frozenset[str]:
        """Names of the symbols it involves."""
        return frozenset(symbol.name for symbol in self.relation.free_symbols)


class Conditions:
    """The conditions on the input sizes that one layer's analysis relies on.

    A layer makes one per `analyze` and hands it to the checks it runs, then puts what it
    found in its Result: the conditions are part of the answer, not a side channel.
    """

    def __init__(self) -> None:
        self._found: list[Condition] = []

    @property
    def found(self) -> tuple[Condition, ...]:
        """The conditions found so far, in the order they were checked."""
        return tuple(self._found)

    def violated(self, condition, field: str, kind: str = "valid", axis: int | None = None) -> bool:
        """True when a condition on sizes fails.

        A comparison of ints is a bool, checked now; a failure is kept too (a stride that
        drops rows after an adaptive pool fixed the size: no size of the input's spatial
        dim `axis`, of any for None, meets it). A comparison of formulas cannot be decided
        before the sizes are known: it is kept as a condition the input sizes must meet
        (kind "valid"), or meet for no row or column to be dropped by flooring (kind
        "exact"); True when it can never hold.
        """
        if isinstance(condition, bool):
            if not condition:
                self._found.append(Condition(False, field, kind, axis))
            return not condition
        truth = _arithmetic().truth(condition)
        if truth is True:
            return False
        self._found.append(Condition(condition, field, kind))
        return truth is False


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """Padding (before, after) that makes the output ceil(size / stride) long.

    The TensorFlow/Keras rule: total = max((ceil(n/s) - 1)*s + d*(k-1) + 1 - n, 0), the odd
    one out going after. It also covers strided windows, which PyTorch's padding='same' refuses.
    """
    total = same_padding_total(size, kernel, stride, dilation)
    before, after = floor_div(total, 2), total - floor_div(total, 2)
    if is_known(size):
        return before, after
    # The total depends on the size only through size mod stride, so each side that is the
    # same for every remainder is a number (any kernel at stride 1; kernel 1 at stride 2;
    # before an even kernel at stride 2), and so are the receptive fields that use it.
    totals = [same_padding_total(n, kernel, stride, dilation) for n in range(1, stride + 1)]
    befores = {total // 2 for total in totals}
    afters = {total - total // 2 for total in totals}
    return (
        befores.pop() if len(befores) == 1 else before,
        afters.pop() if len(afters) == 1 else after,
    )


def same_padding_total(size, kernel: int, stride: int, dilation: int = 1):
    """The total padding of 'same': max((ceil(n/s) - 1)*s + d*(k-1) + 1 - n, 0)."""
    return larger((ceil_div(size, stride) - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)


def transposed_same_padding(kernel: int, stride: int, dilation: int = 1) -> tuple[int, int, int]:
    """Padding (before, after) and extra output padding that make a transposed window's
    output exactly size * stride (Keras' 'same' for Conv2DTranspose).

    The output is (n-1)*s - p_before - p_after + d*(k-1) + 1 + output_padding: padding takes
    away d*(k-1) + 1 - s when that is positive (the odd one out going after), and output
    padding adds the shortfall when it is negative.
    """
    total = dilation * (kernel - 1) + 1 - stride
    padding = max(total, 0)
    return padding // 2, padding - padding // 2, max(-total, 0)


def floor_sum(count: int, divisor: int, slope: int, offset: int) -> int:
    """Sum of floor((slope*i + offset) / divisor) for i in [0, count), in O(log) steps.

    The Euclidean-like reduction of AtCoder Library's floor_sum; divisor >= 1.
    """
    total = 0
    while True:
        # Python's // and % floor, so a negative slope or offset reduces into [0, divisor).
        total += count * (count - 1) // 2 * (slope // divisor)
        slope %= divisor
        total += count * (offset // divisor)
        offset %= divisor
        top = slope * count + offset
        if top < divisor:
            return total
        count, offset = top // divisor, top % divisor
        divisor, slope = slope, divisor


def lattice_pairs(positions: int, taps: int, stride: int, spacing: int, low: int, high: int) -> int:
    """How many (p, t) in [0, positions) x [0, taps) have low <= p*stride + t*spacing <= high.

    Counts the (output position, kernel tap) pairs of a window that land on real input, in
    closed form, so a spec's sizes cannot make it slow.
    """

    def at_most(bound: int) -> int:
        # For each p, the taps with t*spacing <= bound - p*stride: a count falling with p,
        # all `taps` of them up to p_full, then floor(...) + 1 until it reaches 0.
        full = min(max((bound - (taps - 1) * spacing) // stride + 1, 0), positions)
        some = min(max(bound // stride + 1, 0), positions)
        partial = some - full
        if partial <= 0:
            return full * taps
        return full * taps + floor_sum(partial, spacing, -stride, bound - full * stride) + partial

    return at_most(high) - at_most(low - 1)


@dataclass(frozen=True)
class Window:
    """One spatial dim of a sliding window (conv, pooling, subsampling)."""

    kernel: int
    stride: int
    pad_before: int
    pad_after: int
    dilation: int = 1
    ceil_mode: bool = False
    same: bool = False  # padding chosen by the 'same' rule (output ceil(n / s))

    @property
    def extent(self) -> int:
        """Span of the dilated kernel: d*(k-1) + 1."""
        return self.dilation * (self.kernel - 1) + 1

    def padded(self, size: int) -> int:
        """Input size with both paddings added."""
        return size + self.pad_before + self.pad_after

    def output_size(self, size: int) -> int:
        """floor((n + p_before + p_after - d*(k-1) - 1) / s) + 1, or ceil with ceil_mode.

        PyTorch's ceil_mode rule (MaxPool2d/AvgPool2d docs): the last window must start inside
        the input or the left padding, otherwise it is dropped.
        """
        span = size + (self.pad_before + self.pad_after - self.extent)  # numbers first
        if self.same:
            # 'same' padding makes the output ceil(n / s), with or without ceil_mode (the
            # padded span is then a multiple of s, or short of one by less than s); said
            # so directly, which keeps a formula size free of the padding's max().
            return ceil_div(size, self.stride)
        if not self.ceil_mode:
            return floor_div(span, self.stride) + 1
        out = ceil_div(span, self.stride) + 1
        if is_known(size, self.pad_before, self.pad_after):
            return out - 1 if (out - 1) * self.stride >= size + self.pad_before else out
        # (out - 1)*s < span + s, so the last window can start past the input and the left
        # padding only when pad_after + s > extent. Then, as pad_after <= extent (pools
        # pad at most half the kernel, a condition of their own), the last start is the
        # largest multiple of s below n + pad_before: a min, which stacks without case
        # splits.
        if not is_known(self.pad_after) or self.pad_after + self.stride > self.extent:
            last_start = floor_div(size + self.pad_before - 1, self.stride)
            # ceil(span/s) >= floor((n + p_before - 1)/s) when the second numerator is not
            # above the first: extent - 1 - pad_after <= 0.
            if is_known(self.pad_after) and self.extent - 1 - self.pad_after <= 0:
                return last_start + 1
            return _arithmetic().minimum(out - 1, last_start) + 1
        return out

    def real_taps(self, size: int, out: int) -> int:
        """Kernel taps that land on real input (not padding), summed over the output positions.

        Unknown for a formula size: the count changes with the size modulo the stride.
        """
        if not is_known(size, out, self.pad_before, self.pad_after):
            return unknown()
        return lattice_pairs(
            out,
            self.kernel,
            self.stride,
            self.dilation,
            self.pad_before,
            size - 1 + self.pad_before,
        )

    def unread(self, size: int, out: int) -> int:
        """Real input positions after the last window, negative when it reaches past them."""
        # size - 1 - last_read, last_read = (out - 1)*s - p_before + extent - 1, in as few
        # steps on formulas as it takes (each is a sympy operation): numbers summed first,
        # and out times -s added rather than out times s taken away (which negates it).
        return size + (self.stride + self.pad_before - self.extent) + out * -self.stride


def transposed_output_size(size: int, window: Window, output_padding: int = 0) -> int:
    """(n-1)*s - p_before - p_after + d*(k-1) + output_padding + 1 (PyTorch ConvTranspose)."""
    return (
        (size - 1) * window.stride
        - window.pad_before
        - window.pad_after
        + window.extent
        + output_padding
    )


def transposed_real_taps(size: int, window: Window, out: int) -> int:
    """(input value, tap) pairs of a transposed window whose product lands inside the output."""
    if not is_known(size, out):
        return unknown()
    return lattice_pairs(
        size,
        window.kernel,
        window.stride,
        window.dilation,
        window.pad_before,
        out - 1 + window.pad_before,
    )


def adaptive_taps(size: int, out: int) -> tuple[int, int]:
    """(total, widest) window length of adaptive pooling from size to out, in closed form.

    Window i is [floor(i*I/O), ceil((i+1)*I/O)). Its length is ceil(I/O), or one more when
    i*I mod O exceeds O - I mod O; residues i*I mod O reach O - gcd(I, O), so some window is
    one longer exactly when I mod O > gcd(I, O).

    For a formula size the total is I + O - gcd(I, O) (each of the O - 1 inner window
    boundaries that is not a whole position is read twice, and i*I/O is whole for gcd(I, O)
    - 1 of them), with gcd(I, O) = sum over the divisors d of O of phi(d) * [d divides I],
    and the widest window None.
    """
    if not is_known(size):
        return size + out - _gcd_with(size, out), None
    total = floor_sum(out, out, size, size + out - 1) - floor_sum(out, out, size, 0)
    remainder = size % out
    widest = ceil_div(size, out) + (1 if remainder > math.gcd(size, out) else 0)
    return total, widest


def _gcd_with(size, number: int):
    """gcd(size, number) for a formula size: the sum of Euler's phi(d) over the divisors d
    of number that divide size ([d | n] = 1 + floor(n/d) - ceil(n/d))."""
    divisors = [d for d in range(1, math.isqrt(number) + 1) if number % d == 0]
    divisors += [number // d for d in divisors if d * d != number]
    return sum(_totient(d) * (1 + floor_div(size, d) - ceil_div(size, d)) for d in sorted(divisors))


def _totient(number: int) -> int:
    """Euler's phi: the integers in [1, number] coprime to it."""
    count, rest, factor = number, number, 2
    while factor * factor <= rest:
        if rest % factor == 0:
            while rest % factor == 0:
                rest //= factor
            count -= count // factor
        factor += 1
    if rest > 1:
        count -= count // rest
    return count


def adaptive_bounds(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch adaptive pooling windows [floor(i*I/O), ceil((i+1)*I/O)) for i in [0, O)."""
    return [((i * size) // out, ceil_div((i + 1) * size, out)) for i in range(out)]


def scaled_size(size: int, scale_factor: float) -> int:
    """floor(size * scale_factor), PyTorch's interpolate output size for a scale factor."""
    if not isinstance(size, int):
        return _arithmetic().scaled(size, scale_factor)
    return math.floor(size * scale_factor)
