"""MNASNet 1.0, from torchvision/models/mnasnet.py (torchvision 0.28): the B1 variant of
Tan et al., "MnasNet: Platform-aware neural architecture search for mobile", CVPR 2019.

Module names are torchvision's: layers.0 ... layers.7 (the stem and a separable conv),
layers.8 ... layers.13 (stacks of inverted residuals, layers.N.M.layers.K), layers.14 ...
layers.16 (the last 1x1 conv), classifier.0 (dropout) and .1.
"""

from __future__ import annotations

import torch
from torch import nn

from . import register

BN_MOMENTUM = 1 - 0.9997


class InvertedResidual(nn.Module):
    def __init__(
        self, in_ch: int, out_ch: int, kernel_size: int, stride: int, expansion_factor: int
    ) -> None:
        super().__init__()
        mid_ch = in_ch * expansion_factor
        self.apply_residual = in_ch == out_ch and stride == 1
        self.layers = nn.Sequential(
            nn.Conv2d(in_ch, mid_ch, 1, bias=False),
            nn.BatchNorm2d(mid_ch, momentum=BN_MOMENTUM),
            nn.ReLU(inplace=True),
            nn.Conv2d(
                mid_ch,
                mid_ch,
                kernel_size,
                padding=kernel_size // 2,
                stride=stride,
                groups=mid_ch,
                bias=False,
            ),
            nn.BatchNorm2d(mid_ch, momentum=BN_MOMENTUM),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_ch, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch, momentum=BN_MOMENTUM),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x) + x if self.apply_residual else self.layers(x)


def stack(
    in_ch: int, out_ch: int, kernel_size: int, stride: int, exp_factor: int, repeats: int
) -> nn.Sequential:
    first = InvertedResidual(in_ch, out_ch, kernel_size, stride, exp_factor)
    rest = [InvertedResidual(out_ch, out_ch, kernel_size, 1, exp_factor) for _ in range(1, repeats)]
    return nn.Sequential(first, *rest)


class MNASNet(nn.Module):
    def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        depths = [32, 16, 24, 40, 80, 96, 192, 320]  # alpha 1.0: _get_depths leaves them
        self.layers = nn.Sequential(
            nn.Conv2d(3, depths[0], 3, padding=1, stride=2, bias=False),
            nn.BatchNorm2d(depths[0], momentum=BN_MOMENTUM),
            nn.ReLU(inplace=True),
            nn.Conv2d(depths[0], depths[0], 3, padding=1, stride=1, groups=depths[0], bias=False),
            nn.BatchNorm2d(depths[0], momentum=BN_MOMENTUM),
            nn.ReLU(inplace=True),
            nn.Conv2d(depths[0], depths[1], 1, padding=0, stride=1, bias=False),
            nn.BatchNorm2d(depths[1], momentum=BN_MOMENTUM),
            stack(depths[1], depths[2], 3, 2, 3, 3),
            stack(depths[2], depths[3], 5, 2, 3, 3),
            stack(depths[3], depths[4], 5, 2, 6, 3),
            stack(depths[4], depths[5], 3, 1, 6, 2),
            stack(depths[5], depths[6], 5, 2, 6, 4),
            stack(depths[6], depths[7], 3, 1, 6, 1),
            nn.Conv2d(depths[7], 1280, 1, padding=0, stride=1, bias=False),
            nn.BatchNorm2d(1280, momentum=BN_MOMENTUM),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout, inplace=True), nn.Linear(1280, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.layers(x).mean([2, 3]))


@register("mnasnet1_0")
def mnasnet1_0() -> nn.Module:
    return MNASNet()
