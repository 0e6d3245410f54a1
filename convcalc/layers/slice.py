"""Layers that keep a range of their input's channels: `slice` (PyTorch's x[:, begin:end])
and `split` (torch.split with sections, torch.chunk), one row per part.

A split has several outputs, and every other part of convcalc (rows, the table and JSON,
verify's forward, receptive fields, symbolic sizes) deals in layers of one output. So the
spec loader expands a split named `s` into one row per part, `s.0`, `s.1`, ..., each a
`split` layer that keeps its part's channels (`Split.expand_parts`); later layers name
the parts. Which channels a part keeps depends on the input's channels, known only when
the network is analyzed: that is why a part stays a `split` row rather than a `slice`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from convcalc.errors import ConvCalcError
from convcalc.layers.base import Backward, Inputs, Layer, PositiveInt, Result, Shape
from convcalc.text import shown

ChannelIndex = Annotated[int, Field(ge=0, le=2**31)]


class ChannelRange(Layer):
    """Base of slice and split: the output is a range of the input's channels.

    No params, no arithmetic, no connections (a copy of single values, README
    'Conventions'); each output channel reads its input channel at the same position, so
    the receptive field is the input's.
    """

    def bounds(self, channels: int) -> tuple[int, int]:
        """(first, past the last) of the channels kept from an input of `channels`."""
        raise NotImplementedError

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        start, stop = self.bounds(shape.channels)
        return Result(Shape(stop - start, shape.spatial))

    def backward(self, inputs: Inputs, result: Result) -> Backward:
        """A view of its input (x[:, begin:end], torch.chunk's parts): nothing computed or
        saved; a later layer that saves it keeps the whole input's storage, as in PyTorch."""
        return Backward(view=True)

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        start, stop = self.bounds(inputs.only.channels)
        return values[0][:, start:stop]


class Slice(ChannelRange):
    """Channels [begin, end) of the input, as PyTorch's x[:, begin:end]; `end` null (the
    default) is the last channel's end. Unlike Python's slicing, a range that is empty or
    runs past the channels is refused rather than cut short. (The names are ONNX Slice's
    and C++'s: every layer's `start` numbers its copies, README "Reuse".)"""

    type: Literal["slice"] = "slice"
    begin: ChannelIndex = 0
    end: Annotated[int, Field(ge=1, le=2**31)] | None = None

    def bounds(self, channels: int) -> tuple[int, int]:
        end = channels if self.end is None else self.end
        if end > channels:
            raise ConvCalcError(f"end {end} is past the input's {channels} channels", field="end")
        if self.begin >= end:
            raise ConvCalcError(
                f"begin {self.begin} is not before end {end}: no channels left", field="begin"
            )
        return self.begin, end


class Split(ChannelRange):
    """One part of torch.split(x, sections, dim=1) or torch.chunk(x, chunks, dim=1).

    A spec writes one `split` with `chunks` or `split_size_or_sections` (a list); the loader
    makes one row per part, `part` being its index (see the module's docstring).
    """

    type: Literal["split"] = "split"
    chunks: PositiveInt | None = None
    split_size_or_sections: Annotated[list[PositiveInt], Field(min_length=1)] | None = None
    part: ChannelIndex

    @classmethod
    def expand_parts(cls, raw: dict[str, Any]) -> list[dict[str, Any]]:
        """The spec fields of each part of the split `raw`, in order, before validation."""
        if "part" in raw:
            raise ConvCalcError(
                "set by convcalc: a split makes one layer per part, NAME.0, NAME.1, ...",
                field="part",
            )
        chunks, sections = raw.get("chunks"), raw.get("split_size_or_sections")
        if (chunks is None) == (sections is None):
            raise ConvCalcError(
                "give one of chunks (torch.chunk) and split_size_or_sections (a list of"
                " channel counts, torch.split)",
                field="chunks" if chunks is not None else "split_size_or_sections",
            )
        if sections is not None:
            if type(sections) is int:
                # torch.split's int form makes ceil(channels / size) parts, a number the
                # loader cannot know before the channels are worked out.
                raise ConvCalcError(
                    f"{sections} as one size: give the parts' sizes as a list"
                    f" ([{sections}, {sections}, ...]), or chunks",
                    field="split_size_or_sections",
                )
            if not isinstance(sections, list) or not sections:
                raise ConvCalcError(
                    f"a non-empty list of channel counts, got {shown(sections)}",
                    field="split_size_or_sections",
                )
            count = len(sections)
        else:
            if type(chunks) is not int or not 1 <= chunks <= 2**31:
                raise ConvCalcError(f"a whole number from 1, got {shown(chunks)}", field="chunks")
            count = chunks
        if count > MAX_PARTS:
            raise ConvCalcError(
                f"{count} parts: at most {MAX_PARTS}",
                field="chunks" if chunks is not None else "split_size_or_sections",
            )
        return [{**raw, "part": part} for part in range(count)]

    def bounds(self, channels: int) -> tuple[int, int]:
        if self.split_size_or_sections is not None:
            sections = self.split_size_or_sections
            if sum(sections) != channels:  # torch.split's rule
                raise ConvCalcError(
                    f"sections sum to {sum(sections)}, but the input has {channels} channels",
                    field="split_size_or_sections",
                )
            start = sum(sections[: self.part])
            return start, start + sections[self.part]
        # torch.chunk: parts of ceil(channels / chunks), the last one shorter; when those
        # cover the channels in fewer parts than asked, PyTorch returns fewer.
        size = -(-channels // self.chunks)
        start = self.part * size
        if start >= channels:
            made = -(-channels // size)
            raise ConvCalcError(
                f"torch.chunk cuts {channels} channels into {made} parts of {size}, not"
                f" {self.chunks}: part {self.part} would be empty",
                field="chunks",
            )
        return start, min(start + size, channels)


MAX_PARTS = 2**14  # parts of one split: each is a row, and a spec has at most 20,000
