"""The layer types convcalc knows, by their `type:` name in a spec."""

from __future__ import annotations

from convcalc.layers import (
    conv,
    conv_transpose,
    dense,
    elementwise,
    global_pool,
    merge,
    pad,
    pool,
    shuffle,
    unpool,
    upsample,
)
from convcalc.layers.base import Layer

LAYER_TYPES: dict[str, type[Layer]] = {
    cls.type_name(): cls
    for cls in (
        conv.Conv,
        conv.DepthwiseConv,
        conv.SeparableConv,
        conv_transpose.ConvTranspose,
        pool.MaxPool,
        pool.AvgPool,
        global_pool.GlobalAvgPool,
        global_pool.GlobalMaxPool,
        global_pool.AdaptiveAvgPool,
        global_pool.AdaptiveMaxPool,
        pool.Subsample,
        upsample.Upsample,
        unpool.MaxUnpool,
        shuffle.ChannelShuffle,
        dense.Flatten,
        dense.Dense,
        elementwise.Activation,
        elementwise.BatchNorm,
        elementwise.Dropout,
        pad.Pad,
        merge.Add,
        merge.Concat,
    )
}
