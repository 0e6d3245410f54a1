"""RegNetY and RegNetX, from torchvision/models/regnet.py (torchvision 0.28).

Module names are torchvision's: stem.0/1/2 (3x3 conv, batchnorm, relu),
trunk_output.blockS.blockS-I (stage S's block I), each block's f.a, f.b, f.c
(1x1, grouped 3x3, 1x1: conv, batchnorm and relu as .0, .1, .2), f.se (RegNetY's
squeeze-and-excitation: avgpool, fc1, activation, fc2, scale_activation), proj (1x1
projection shortcut), activation; then avgpool and fc. The stage widths come from
torchvision's quantized linear rule (BlockParams.from_init_params), written out below.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn

from . import register


def conv_norm_act(width_in: int, width_out: int, kernel_size: int, stride: int = 1,
                  groups: int = 1, activation: bool = True) -> nn.Sequential:  # fmt: skip
    """torchvision's Conv2dNormActivation: conv (no bias, "same" padding), batchnorm and
    relu as modules 0, 1, 2."""
    layers: list[nn.Module] = [
        nn.Conv2d(
            width_in,
            width_out,
            kernel_size,
            stride,
            (kernel_size - 1) // 2,
            groups=groups,
            bias=False,
        ),  # fmt: skip
        nn.BatchNorm2d(width_out),
    ]
    if activation:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    """torchvision's ops.misc.SqueezeExcitation: x * sigmoid(fc2(relu(fc1(avgpool(x)))))."""

    def __init__(self, channels: int, squeeze_channels: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        return self.scale_activation(gate) * x


def make_divisible(value: float, divisor: int) -> int:
    """torchvision's _make_divisible: to the nearest multiple, never 10% below `value`."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def stage_settings(depth: int, w_0: int, w_a: float, w_m: float, group_width: int,
                   bottleneck_multiplier: float = 1.0) -> list[tuple[int, int, int]]:  # fmt: skip
    """(width, depth, group width) of each stage: BlockParams.from_init_params."""
    widths_cont = torch.arange(depth) * w_a + w_0
    block_capacity = torch.round(torch.log(widths_cont / w_0) / math.log(w_m))
    block_widths = (torch.round(w_0 * torch.pow(w_m, block_capacity) / 8) * 8).int().tolist()
    stages: list[list[int]] = []
    for width in block_widths:
        if stages and stages[-1][0] == width:
            stages[-1][1] += 1
        else:
            stages.append([width, 1])
    settings = []
    for width, count in stages:
        bottleneck = int(width * bottleneck_multiplier)
        group = min(group_width, bottleneck)
        width = int(make_divisible(bottleneck, group) / bottleneck_multiplier)
        settings.append((width, count, group))
    return settings


class BottleneckTransform(nn.Sequential):
    """1x1, grouped 3x3 [+ SE], 1x1 (without its relu)."""

    def __init__(self, width_in: int, width_out: int, stride: int, group_width: int,
                 se_ratio: float | None) -> None:  # fmt: skip
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        groups = width_out // group_width
        layers["a"] = conv_norm_act(width_in, width_out, 1)
        layers["b"] = conv_norm_act(width_out, width_out, 3, stride, groups=groups)
        if se_ratio:
            layers["se"] = SqueezeExcitation(width_out, int(round(se_ratio * width_in)))
        layers["c"] = conv_norm_act(width_out, width_out, 1, activation=False)
        super().__init__(layers)


class ResBottleneckBlock(nn.Module):
    def __init__(self, width_in: int, width_out: int, stride: int, group_width: int,
                 se_ratio: float | None) -> None:  # fmt: skip
        super().__init__()
        self.proj = None
        if width_in != width_out or stride != 1:
            self.proj = conv_norm_act(width_in, width_out, 1, stride, activation=False)
        self.f = BottleneckTransform(width_in, width_out, stride, group_width, se_ratio)
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.proj is None else self.proj(x)
        return self.activation(shortcut + self.f(x))


class RegNet(nn.Module):
    def __init__(self, stages: list[tuple[int, int, int]], se_ratio: float | None = None,
                 num_classes: int = 1000, stem_width: int = 32) -> None:  # fmt: skip
        super().__init__()
        self.stem = conv_norm_act(3, stem_width, 3, 2)
        width_in = stem_width
        trunk: OrderedDict[str, nn.Module] = OrderedDict()
        for index, (width, depth, group_width) in enumerate(stages, start=1):
            stage = nn.Sequential()
            for block in range(depth):
                stage.add_module(
                    f"block{index}-{block}",
                    ResBottleneckBlock(
                        width_in, width, 2 if block == 0 else 1, group_width, se_ratio
                    ),  # fmt: skip
                )
                width_in = width
            trunk[f"block{index}"] = stage
        self.trunk_output = nn.Sequential(trunk)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.trunk_output(self.stem(x)))
        return self.fc(x.flatten(start_dim=1))


@register("regnet_y_400mf")
def regnet_y_400mf() -> nn.Module:
    return RegNet(stage_settings(16, 48, 27.89, 2.09, 8), se_ratio=0.25)


@register("regnet_x_400mf")
def regnet_x_400mf() -> nn.Module:
    return RegNet(stage_settings(22, 24, 24.48, 2.54, 16))
