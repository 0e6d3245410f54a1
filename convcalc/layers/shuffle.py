"""ShuffleNet's channel shuffle: interleave the channels of `groups` groups."""

from __future__ import annotations

from typing import Literal

from convcalc.errors import ConvCalcError
from convcalc.layers.base import Inputs, Layer, PositiveInt, Result


class ChannelShuffle(Layer):
    """A permutation of channels (Zhang et al. 2017): no params, no arithmetic."""

    type: Literal["channel_shuffle"] = "channel_shuffle"
    groups: PositiveInt

    def analyze(self, inputs: Inputs) -> Result:
        shape = inputs.only
        if shape.channels % self.groups:
            raise ConvCalcError(
                f"channels {shape.channels} are not divisible by groups {self.groups}",
                field="groups",
            )
        return Result(shape)
