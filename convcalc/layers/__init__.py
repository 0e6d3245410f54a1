"""The layer types convcalc knows, by their `type:` name in a spec.

A layer type's module is imported the first time a spec names it: making the pydantic
models of every type, most of which a given spec never uses, was a tenth of the start-up
of `convcalc shapes`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from convcalc.layers.base import Layer

# `type:` name -> (module in convcalc.layers, class); the class's `type` field holds the
# same name (tests/test_layers.py checks that they agree).
_CLASSES = {
    "conv": ("conv", "Conv"),
    "depthwise_conv": ("conv", "DepthwiseConv"),
    "separable_conv": ("conv", "SeparableConv"),
    "conv_transpose": ("conv_transpose", "ConvTranspose"),
    "max_pool": ("pool", "MaxPool"),
    "avg_pool": ("pool", "AvgPool"),
    "global_avg_pool": ("global_pool", "GlobalAvgPool"),
    "global_max_pool": ("global_pool", "GlobalMaxPool"),
    "adaptive_avg_pool": ("global_pool", "AdaptiveAvgPool"),
    "adaptive_max_pool": ("global_pool", "AdaptiveMaxPool"),
    "subsample": ("pool", "Subsample"),
    "upsample": ("upsample", "Upsample"),
    "max_unpool": ("unpool", "MaxUnpool"),
    "channel_shuffle": ("shuffle", "ChannelShuffle"),
    "pixel_shuffle": ("shuffle", "PixelShuffle"),
    "pixel_unshuffle": ("shuffle", "PixelUnshuffle"),
    "flatten": ("dense", "Flatten"),
    "dense": ("dense", "Dense"),
    "activation": ("elementwise", "Activation"),
    "prelu": ("elementwise", "PReLU"),
    "scale": ("elementwise", "Scale"),
    "batchnorm": ("elementwise", "BatchNorm"),
    "dropout": ("elementwise", "Dropout"),
    "layer_norm": ("norm", "LayerNorm"),
    "group_norm": ("norm", "GroupNorm"),
    "instance_norm": ("norm", "InstanceNorm"),
    "lrn": ("norm", "LocalResponseNorm"),
    "pad": ("pad", "Pad"),
    "crop": ("pad", "Crop"),
    "slice": ("slice", "Slice"),
    "split": ("slice", "Split"),
    "add": ("merge", "Add"),
    "multiply": ("merge", "Multiply"),
    "concat": ("merge", "Concat"),
}


class _LayerTypes(Mapping[str, type[Layer]]):
    """Type name -> layer model, each model's module imported on first look-up."""

    def __init__(self) -> None:
        self._loaded: dict[str, type[Layer]] = {}

    def __getitem__(self, type_name: str) -> type[Layer]:
        cls = self._loaded.get(type_name)
        if cls is None:
            module, class_name = _CLASSES[type_name]
            cls = getattr(importlib.import_module(f"convcalc.layers.{module}"), class_name)
            self._loaded[type_name] = cls
        return cls

    def __contains__(self, type_name: object) -> bool:
        return type_name in _CLASSES

    def __iter__(self) -> Iterator[str]:
        return iter(_CLASSES)

    def __len__(self) -> int:
        return len(_CLASSES)


LAYER_TYPES: Mapping[str, type[Layer]] = _LayerTypes()
