"""ShuffleNet v2, from torchvision/models/shufflenetv2.py (torchvision 0.28).

Module names are torchvision's: conv1.0 (3x3 conv), .1, .2; maxpool; stageN.I.branch1.0
... .4 (a stride-2 unit's shortcut branch, empty in stride-1 units) and stageN.I.branch2.0
... .7; conv5.0, .1, .2; fc. x.chunk, torch.cat, channel_shuffle and x.mean are functions.
"""

from __future__ import annotations

import torch
from torch import nn

from . import register


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    batch, channels, height, width = x.size()
    x = x.view(batch, groups, channels // groups, height, width)
    return torch.transpose(x, 1, 2).contiguous().view(batch, -1, height, width)


def depthwise(channels: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(channels, channels, 3, stride, 1, bias=False, groups=channels)


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        branch = oup // 2
        if stride > 1:
            self.branch1 = nn.Sequential(
                depthwise(inp, stride), nn.BatchNorm2d(inp),
                nn.Conv2d(inp, branch, 1, 1, 0, bias=False), nn.BatchNorm2d(branch),
                nn.ReLU(inplace=True),
            )  # fmt: skip
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else branch, branch, 1, 1, 0, bias=False),
            nn.BatchNorm2d(branch), nn.ReLU(inplace=True),
            depthwise(branch, stride), nn.BatchNorm2d(branch),
            nn.Conv2d(branch, branch, 1, 1, 0, bias=False), nn.BatchNorm2d(branch),
            nn.ReLU(inplace=True),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    def __init__(self, stages_repeats: list[int], stages_out_channels: list[int],
                 num_classes: int = 1000) -> None:  # fmt: skip
        super().__init__()
        channels = stages_out_channels[0]
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, channels, 3, 2, 1, bias=False), nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )  # fmt: skip
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        for stage, repeats, width in zip(
            (2, 3, 4), stages_repeats, stages_out_channels[1:], strict=False
        ):
            units = [InvertedResidual(channels, width, 2)]
            units += [InvertedResidual(width, width, 1) for _ in range(repeats - 1)]
            setattr(self, f"stage{stage}", nn.Sequential(*units))
            channels = width
        self.conv5 = nn.Sequential(
            nn.Conv2d(channels, stages_out_channels[-1], 1, 1, 0, bias=False),
            nn.BatchNorm2d(stages_out_channels[-1]), nn.ReLU(inplace=True),
        )  # fmt: skip
        self.fc = nn.Linear(stages_out_channels[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.stage4(self.stage3(self.stage2(x)))
        x = self.conv5(x)
        return self.fc(x.mean([2, 3]))


@register("shufflenet_v2_x1_0")
def shufflenet_v2_x1_0() -> nn.Module:
    return ShuffleNetV2([4, 8, 4], [24, 116, 232, 464, 1024])
