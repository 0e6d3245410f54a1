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

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        """[groups, channels/groups] -> [channels/groups, groups] (torch.nn.ChannelShuffle)."""
        batch, channels, *spatial = values[0].shape
        grouped = values[0].reshape(batch, self.groups, channels // self.groups, *spatial)
        return grouped.swapaxes(1, 2).reshape(batch, channels, *spatial)
