"""Receptive fields: size, effective stride and effective padding per spatial dim.

The recurrences of Araujo, Norris and Sim, "Computing Receptive Fields of Convolutional
Neural Networks", Distill 2019: for a layer with kernel extent k, stride s and left padding
p, applied after a field of size r, jump j and effective padding P,

    r' = r + (k - 1) * j,    j' = j * s,    P' = P + p * j.

Upsampling layers (transposed conv, upsample, unpool) have fractional strides 1/s, kept
exact as Fractions. Each field also tracks which input offsets actually reach an output
(as merged integer intervals), so stacked dilations that leave holes (gridding) are seen.

What the steps of a layer say of the positions an output reads is its FieldKind: those very
positions, a continuous envelope around them, or nothing, when they depend on the data.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from convcalc.dims import Window, is_known

Intervals = tuple[tuple[int, int], ...]
# A field's numbers are exact: an int when whole, a Fraction only where a fractional stride
# (upsampling) makes one; they compare and hash alike, and ints add and multiply many times
# faster, which a 10,000-layer chain feels.
Number = int | Fraction

# A field with more disjoint pieces than this is no longer tracked piece by piece.
MAX_PIECES = 512


class FieldKind(enum.Enum):
    """How a receptive field relates to the input positions an output really reads."""

    # The positions read: the field's ends are taps (sliding windows, padding, merges).
    # Padding that copies real inputs (reflect, replicate, circular) keeps it: the span is
    # exact in padded positions, and a border output also reads the inputs copied there.
    EXACT = "exact"
    # A continuous envelope around them (Araujo et al.'s fractional strides): an end may
    # stand up to one input step from the nearest tap (upsampling, adaptive windows).
    ENVELOPE = "envelope"
    # Positions that depend on the values, not on the shapes (a gather, an attention
    # window): no steps describe them, and every field downstream is unknown.
    DATA_DEPENDENT = "data_dependent"


def combined(kinds: Iterable[FieldKind]) -> FieldKind:
    """The kind of a field reached through fields and steps of these kinds: the least exact."""
    kinds = set(kinds)
    if FieldKind.DATA_DEPENDENT in kinds:
        return FieldKind.DATA_DEPENDENT
    return FieldKind.ENVELOPE if FieldKind.ENVELOPE in kinds else FieldKind.EXACT


@dataclass(frozen=True)
class Step:
    """How one layer maps an output position o to its input region along one dim.

    The region is [o*stride - padding, o*stride - padding + kernel - 1] in input positions;
    `taps` are the offsets inside it that are read (None: every offset, or not integral).
    """

    kernel: Number
    stride: Number
    padding: Number | None  # None: known only once the sizes are set (strided 'same')
    taps: tuple[int, ...] | None = None

    @classmethod
    def window(cls, window: Window) -> Step | None:
        """A sliding window: dilated kernel extent, integer stride and left padding.

        None when the window depends on a formula size (a global pool over H): the field
        is then known only once the sizes are set. Padding that depends on the size
        (strided 'same') leaves only the padding unknown: r' = r + (k-1)j and j' = js
        never depend on it.
        """
        if not is_known(window.kernel, window.stride):
            return None
        padding = window.pad_before if is_known(window.pad_before) else None
        dilation = window.dilation
        taps = tuple(range(0, window.extent, dilation)) if dilation > 1 else None
        return cls(window.extent, window.stride, padding, taps)

    @classmethod
    def upsampling(cls, window: Window) -> Step | None:
        """The inverse of a window: transposed conv or unpooling, stride 1/s (None, as for
        `window`, when it depends on a formula size)."""
        if not is_known(window.kernel, window.stride, window.pad_before):
            return None
        extent, stride = window.extent, window.stride
        return cls(
            _whole(Fraction(extent - 1, stride) + 1),
            _whole(Fraction(1, stride)),
            _whole(Fraction(extent - 1 - window.pad_before, stride)),
        )


@dataclass(frozen=True)
class DimField:
    """The receptive field of one output position along one input dim."""

    size: Number
    stride: Number
    padding: Number | None  # None: known only once the sizes are set
    pieces: Intervals | None  # offsets from the field's start that reach it; None: untracked

    @property
    def has_holes(self) -> bool:
        """True when some input positions inside the field never reach the output."""
        return self.pieces is not None and len(self.pieces) > 1

    def through(self, step: Step) -> DimField:
        """The field after one more layer (Araujo et al. recurrences)."""
        size = self.size + (step.kernel - 1) * self.stride
        pieces = None
        if (
            self.pieces is not None
            and step.kernel.denominator == 1
            and self.stride.denominator == 1
        ):
            pieces = _spread(self.pieces, step, int(self.stride))
        padding = (
            None
            if self.padding is None or step.padding is None
            else self.padding + step.padding * self.stride
        )
        return DimField(_whole(size), _whole(self.stride * step.stride), _whole(padding), pieces)


def _spread(pieces: Intervals, step: Step, jump: int) -> Intervals | None:
    """The pieces of a field seen through each tap of a step, `jump` input positions apart."""
    taps = step.taps if step.taps is not None else range(int(step.kernel))
    spacing = (taps[1] - taps[0]) * jump if len(taps) > 1 else 0
    if len(pieces) == 1 and spacing <= pieces[0][1] - pieces[0][0] + 1:
        # A dense field stays dense when the copies overlap or touch: no need to list them.
        return ((pieces[0][0], pieces[0][1] + taps[-1] * jump),)
    if len(taps) * len(pieces) > 8 * MAX_PIECES:
        return None
    return _merge((start + tap * jump, end + tap * jump) for tap in taps for start, end in pieces)


def input_field(dims: int) -> tuple[DimField, ...]:
    """The field of the network input: each position sees itself."""
    return tuple(DimField(1, 1, 0, ((0, 0),)) for _ in range(dims))


def through(
    field: tuple[DimField, ...] | None, steps: tuple[Step | None, ...]
) -> tuple[DimField, ...] | None:
    """Apply one layer's per-dim steps to a whole field.

    None stands for a field that depends on formula sizes: it stays None downstream.
    """
    if field is None or any(step is None for step in steps):
        return None
    return tuple(dim.through(step) for dim, step in zip(field, steps, strict=True))


def union(
    fields: list[tuple[DimField, ...] | None], sizes: list[tuple] | None = None
) -> tuple[DimField, ...] | None:
    """The field of a layer that combines several inputs (add, multiply, concat): the union
    of theirs.

    Regions are aligned by where they start in the network input (-padding). The effective
    stride is the smallest of the inputs' (they agree whenever the inputs' grids line up).
    `sizes`, each input's spatial sizes, let an input of size 1 be broadcast: see `_held`.
    """
    if any(field is None for field in fields):
        return None
    # Flat inputs (past a flatten or dense) keep the map's field but have no sizes of it:
    # no broadcasting to hold still against.
    if sizes is not None and fields[0] and all(len(size) == len(fields[0]) for size in sizes):
        columns = zip(*fields, strict=True)  # per spatial dim: each input's DimField
        lengths = zip(*sizes, strict=True)  # per spatial dim: each input's size
        along = [
            _held(list(dims), list(dim_sizes))
            for dims, dim_sizes in zip(columns, lengths, strict=True)
        ]
        fields = [tuple(dims) for dims in zip(*along, strict=True)]
    if any(dim is None for field in fields for dim in field):
        return None
    if any(dim.padding is None for field in fields for dim in field):
        return None  # the inputs cannot be aligned without knowing where each starts
    return tuple(_union_dim(list(dims)) for dims in zip(*fields, strict=True))


def _held(dims: list[DimField], sizes: list) -> list[DimField | None]:
    """The inputs' fields along one dim, made to hold still where an output position reads
    the same inputs wherever it is.

    An input of size 1 broadcast against longer ones (PyTorch broadcasting: SE's x * gate)
    is read at its one position by every output position: its field stops moving (stride 0).
    The union with a moving field then holds still too, and covers every position of the
    moving input: what a gate made by a global pool sees is the whole map, and so does
    each output of x * gate. So along such a dim (or where some field already holds still
    and another moves) each input's field goes through a window over all its n positions
    at stride 0: r' = r + (n-1)*j, j' = 0, P' = P. None: n is a formula, the field known
    once the sizes are set.
    """
    broadcast = any(is_known(size) and size == 1 for size in sizes) and any(
        not (is_known(size) and size == 1) for size in sizes
    )
    still = {dim.stride == 0 for dim in dims}
    if not broadcast and len(still) < 2:
        return dims
    if not is_known(*sizes):
        return [None] * len(dims)
    return [
        dim.through(Step(Fraction(size), Fraction(0), Fraction(0)))
        for dim, size in zip(dims, sizes, strict=True)
    ]


def _union_dim(dims: list[DimField]) -> DimField:
    start = min(-dim.padding for dim in dims)
    end = max(-dim.padding + dim.size for dim in dims)
    pieces = None
    if all(dim.pieces is not None and dim.padding.denominator == 1 for dim in dims):
        pieces = _merge(
            (piece_start + int(-dim.padding - start), piece_end + int(-dim.padding - start))
            for dim in dims
            for piece_start, piece_end in dim.pieces
        )
    return DimField(_whole(end - start), min(dim.stride for dim in dims), _whole(-start), pieces)


def _whole(value: Number | None) -> Number | None:
    """A whole Fraction as an int (see Number); anything else as it is."""
    if type(value) is Fraction and value.denominator == 1:
        return value.numerator
    return value


def _merge(pieces) -> Intervals | None:
    merged: list[list[int]] = []
    for start, end in sorted(pieces):
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    if len(merged) > MAX_PIECES:
        return None
    return tuple((start, end) for start, end in merged)
