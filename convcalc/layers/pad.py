"""Explicit padding (zeros, or copies of the input: reflect, replicate, circular), of the
spatial dims and of the channels, and its opposite: cropping, by given amounts or centred
to the size of another layer."""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated, Literal

from pydantic import Field

from convcalc import dims as dimension
from convcalc.errors import ConvCalcError
from convcalc.field import Step
from convcalc.layers.base import (
    NO_BACKWARD,
    Backward,
    Inputs,
    Layer,
    NonNegativeInt,
    PaddingArg,
    PaddingMode,
    Result,
    Saved,
    Shape,
    by_dims,
    check_padding_mode,
    resolve_padding,
    sized,
)
from convcalc.text import shown

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

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """Its gradient is the output's with the padding cut off (and, where padding holds
        copies, added back onto what it copied: not counted, as the forward's copies are
        not). Zero padding keeps nothing; reflect and replicate padding keep the input
        (PyTorch's reflection_pad and replication_pad backward take it)."""
        if self.mode in ("reflect", "replicate"):
            return Backward(saves=(Saved.input(),))
        return NO_BACKWARD

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
    """Positions cut off the spatial dims (the U-Net's and Caffe FCNs' crop): `cropping`, an
    int, one per dim, or [before, after] pairs, as `pad` takes them; or `to`, a centred crop
    to the spatial size of an earlier layer (the U-Net's skip connections)."""

    spatial = True
    references = ("to",)

    type: Literal["crop"] = "crop"
    cropping: CroppingArg | None = None
    to: str | None = None  # an earlier layer, or `input`

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        conditions = dimension.Conditions()
        cuts = self._cuts(inputs, conditions)
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
        out = sized(shape.channels, tuple(sizes), shape, self._field, conditions)
        # Output o is input o + before: pad's step with the opposite sign; a formula offset
        # (a centred crop of formula sizes) leaves the padding known once the sizes are set.
        steps = tuple(
            Step(1, 1, -before if dimension.is_known(before) else None) for before, _ in cuts
        )
        notes = self._off_centre(shape, cuts, conditions) if self.to is not None else ()
        return Result(out, steps=steps, notes=notes, conditions=conditions.found)

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """A view of its input (slicing): no arithmetic, nothing saved."""
        return Backward(view=True)

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        return values[0][self._kept(inputs)]

    def dependency(self, inputs: Inputs, masks: list, kernels):
        return masks[0][self._kept(inputs)]

    @property
    def _field(self) -> str:
        return "to" if self.to is not None else "cropping"

    def _cuts(
        self, inputs: Inputs, conditions: dimension.Conditions | None = None
    ) -> tuple[tuple[int, int], ...]:
        """(before, after) per spatial dim."""
        shape = inputs.only
        dims = len(shape.spatial)
        if (self.cropping is None) == (self.to is None):
            raise ConvCalcError(
                "give exactly one of cropping and to", field="to" if self.to else "cropping"
            )
        if self.to is not None:
            return self._centred(inputs, conditions or dimension.Conditions())
        if isinstance(self.cropping, list) and len(self.cropping) != dims:
            raise ConvCalcError(
                f"{len(self.cropping)} values for a {dims}-d input (give one int or {dims})",
                field="cropping",
            )
        ones = (1,) * len(shape.spatial)
        return resolve_padding(self.cropping, shape.spatial, ones, ones, ones)

    def _centred(
        self, inputs: Inputs, conditions: dimension.Conditions
    ) -> tuple[tuple[int, int], ...]:
        """(before, after) per spatial dim of a centred crop to the size of the layer `to`.

        torchvision's center_crop (transforms.functional and transforms.v2) starts the crop
        at int(round((n - target) / 2.0)): Python's round takes a half to the even integer,
        so for an odd difference d = 2m + 1 the extra position goes after when m is even
        (d = 1, 5, 9: 0, 2, 4 before) and before when m is odd (d = 3, 7: 2, 4 before).
        That is floor((d + 1)/4) + floor((d + 2)/4), which holds for formula sizes too.
        """
        shape = inputs.only
        target = inputs.output_of(self.to)
        if target is None:
            raise ConvCalcError(f"{shown(self.to)} is not an earlier layer", field="to")
        if len(target.spatial) != len(shape.spatial):
            raise ConvCalcError(
                f"{shown(self.to)} has {len(target.spatial)} spatial dims, the input"
                f" {shape} has {len(shape.spatial)}",
                field="to",
            )
        cuts = []
        for axis, (size, wanted) in enumerate(zip(shape.spatial, target.spatial, strict=True)):
            # For formula sizes a target that can be larger is a condition on the sizes.
            if conditions.violated(dimension.compare(wanted, "<=", size), "to"):
                raise ConvCalcError(
                    f"target {wanted} of {shown(self.to)} is larger than the input's {size}"
                    f" in spatial dim {axis + 1} of input {shape}",
                    field="to",
                )
            # A number when both sizes shrink alike (a valid conv between them).
            difference = dimension.settled(size - wanted)
            before = dimension.floor_div(difference + 1, 4) + dimension.floor_div(difference + 2, 4)
            cuts.append((before, difference - before))
        return tuple(cuts)

    def _off_centre(
        self, shape: Shape, cuts: tuple[tuple[int, int], ...], conditions: dimension.Conditions
    ) -> tuple[str, ...]:
        """A note per dim whose crop cannot be centred (an odd difference); for formula sizes,
        an even difference is a condition for `convcalc sizes --exact`."""
        found = []
        for axis, (before, after) in enumerate(cuts):
            difference = before + after
            even = dimension.compare(2 * dimension.floor_div(difference, 2), "==", difference)
            if conditions.violated(even, "to", kind="exact", axis=axis):
                found.append(
                    (
                        axis,
                        f"off centre: {difference} positions to cut, an odd number: {before}"
                        f" before and {after} after, as torchvision's center_crop rounds",
                    )
                )
        return tuple(by_dims(found))

    def _kept(self, inputs: Inputs) -> tuple[slice, ...]:
        """The slices of the arrays that stay, batch and channels whole."""
        shape = inputs.only
        kept = tuple(
            slice(before, size - after)
            for size, (before, after) in zip(shape.spatial, self._cuts(inputs), strict=True)
        )
        return (slice(None), slice(None), *kept)
