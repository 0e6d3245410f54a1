"""ConvNeXt, from torchvision/models/convnext.py (torchvision 0.28).

Module names are torchvision's: features.0 is the stem (features.0.0 a 4x4 stride-4 conv,
features.0.1 a LayerNorm2d); features.1, .3, .5, .7 are the stages of CNBlocks, each with
block.0 (7x7 depthwise conv), block.1 (Permute to channels-last), block.2 (LayerNorm over
the channels), block.3 (Linear to 4x), block.4 (GELU), block.5 (Linear back), block.6
(Permute to channels-first), its own parameter layer_scale and stochastic_depth;
features.2, .4, .6 downsample (LayerNorm2d, then a 2x2 stride-2 conv); then avgpool and
classifier (LayerNorm2d, Flatten, Linear). Block.1 to block.6 run on channels-last
tensors: see `trace` in __init__.py for how their shapes are compared.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from . import Permute, register


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor, at each position."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class StochasticDepth(nn.Module):
    """torchvision's ops.StochasticDepth: drops whole rows in training, the identity in eval."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = x.new_empty([x.shape[0]] + [1] * (x.ndim - 1)).bernoulli_(1.0 - self.p)
        return x * keep / (1.0 - self.p)


class CNBlock(nn.Module):
    def __init__(self, dim: int, layer_scale: float, stochastic_depth_prob: float) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim, bias=True),
            Permute([0, 2, 3, 1]),
            nn.LayerNorm(dim, eps=1e-6),
            nn.Linear(dim, 4 * dim),
            nn.GELU(),
            nn.Linear(4 * dim, dim),
            Permute([0, 3, 1, 2]),
        )
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stochastic_depth(self.layer_scale * self.block(x)) + x


class ConvNeXt(nn.Module):
    def __init__(self, stages: list[tuple[int, int | None, int]],
                 stochastic_depth_prob: float = 0.0, layer_scale: float = 1e-6,
                 num_classes: int = 1000) -> None:  # fmt: skip
        super().__init__()
        first = stages[0][0]
        layers: list[nn.Module] = [
            nn.Sequential(nn.Conv2d(3, first, 4, 4), LayerNorm2d(first, eps=1e-6))
        ]
        total = sum(depth for _, _, depth in stages)
        block_id = 0
        for channels, out_channels, depth in stages:
            stage = []
            for _ in range(depth):
                probability = stochastic_depth_prob * block_id / (total - 1.0)
                stage.append(CNBlock(channels, layer_scale, probability))
                block_id += 1
            layers.append(nn.Sequential(*stage))
            if out_channels is not None:
                layers.append(
                    nn.Sequential(
                        LayerNorm2d(channels, eps=1e-6),
                        nn.Conv2d(channels, out_channels, kernel_size=2, stride=2),
                    )
                )
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        last = stages[-1][1] or stages[-1][0]
        self.classifier = nn.Sequential(
            LayerNorm2d(last, eps=1e-6), nn.Flatten(1), nn.Linear(last, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.avgpool(self.features(x)))


@register("convnext_tiny")
def convnext_tiny() -> nn.Module:
    # CNBlockConfig(input_channels, out_channels, num_layers) per stage.
    stages = [(96, 192, 3), (192, 384, 3), (384, 768, 9), (768, None, 3)]
    return ConvNeXt(stages, stochastic_depth_prob=0.1)
