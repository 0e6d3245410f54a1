"""EfficientNet B0 and V2-S, from torchvision/models/efficientnet.py (torchvision 0.28).

Module names are torchvision's: features.0 (stem), features.N.M.block.K (stage N, block M),
the squeeze-and-excitation as block.K.avgpool, .fc1, .fc2 ..., features.N.M.stochastic_depth
on residual blocks, the last 1x1 conv as features[-1], avgpool, classifier.0 and .1.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from . import register
from .misc import Conv2dNormActivation, SqueezeExcitation, StochasticDepth, make_divisible


@dataclass
class Stage:
    """A row of the paper's table: expand ratio, kernel, first stride, channels in and out,
    blocks; `fused` for EfficientNetV2's Fused-MBConv rows."""

    expand_ratio: float
    kernel: int
    stride: int
    input_channels: int
    out_channels: int
    num_layers: int
    fused: bool = False


class MBConv(nn.Module):
    def __init__(self, cnf: Stage, stochastic_depth_prob: float, norm_layer: partial) -> None:
        super().__init__()
        self.use_res_connect = cnf.stride == 1 and cnf.input_channels == cnf.out_channels
        expanded = make_divisible(cnf.input_channels * cnf.expand_ratio, 8)
        layers: list[nn.Module] = []
        if expanded != cnf.input_channels:
            layers.append(
                Conv2dNormActivation(
                    cnf.input_channels, expanded, 1, norm_layer=norm_layer, activation_layer=nn.SiLU
                )
            )
        layers.append(
            Conv2dNormActivation(
                expanded,
                expanded,
                cnf.kernel,
                cnf.stride,
                groups=expanded,
                norm_layer=norm_layer,
                activation_layer=nn.SiLU,
            )
        )
        squeeze = max(1, cnf.input_channels // 4)
        layers.append(
            SqueezeExcitation(expanded, squeeze, activation=partial(nn.SiLU, inplace=True))
        )
        layers.append(
            Conv2dNormActivation(
                expanded, cnf.out_channels, 1, norm_layer=norm_layer, activation_layer=None
            )
        )
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.block(x)
        if self.use_res_connect:
            result = self.stochastic_depth(result)
            result += x
        return result


class FusedMBConv(nn.Module):
    def __init__(self, cnf: Stage, stochastic_depth_prob: float, norm_layer: partial) -> None:
        super().__init__()
        self.use_res_connect = cnf.stride == 1 and cnf.input_channels == cnf.out_channels
        expanded = make_divisible(cnf.input_channels * cnf.expand_ratio, 8)
        if expanded != cnf.input_channels:
            layers = [
                Conv2dNormActivation(
                    cnf.input_channels,
                    expanded,
                    cnf.kernel,
                    cnf.stride,
                    norm_layer=norm_layer,
                    activation_layer=nn.SiLU,
                ),
                Conv2dNormActivation(
                    expanded, cnf.out_channels, 1, norm_layer=norm_layer, activation_layer=None
                ),
            ]
        else:
            layers = [
                Conv2dNormActivation(
                    cnf.input_channels,
                    cnf.out_channels,
                    cnf.kernel,
                    cnf.stride,
                    norm_layer=norm_layer,
                    activation_layer=nn.SiLU,
                )
            ]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row")

    forward = MBConv.forward  # the same residual sum


class EfficientNet(nn.Module):
    def __init__(
        self,
        setting: list[Stage],
        dropout: float,
        last_channel: int | None = None,
        norm_layer: partial | None = None,
        stochastic_depth_prob: float = 0.2,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        layers: list[nn.Module] = [
            Conv2dNormActivation(
                3, setting[0].input_channels, 3, 2, norm_layer=norm_layer, activation_layer=nn.SiLU
            )
        ]
        total, block_id = sum(cnf.num_layers for cnf in setting), 0
        for cnf in setting:
            stage: list[nn.Module] = []
            for _ in range(cnf.num_layers):
                block_cnf = copy.copy(cnf)
                if stage:
                    block_cnf.input_channels, block_cnf.stride = block_cnf.out_channels, 1
                probability = stochastic_depth_prob * float(block_id) / total
                block = FusedMBConv if cnf.fused else MBConv
                stage.append(block(block_cnf, probability, norm_layer))
                block_id += 1
            layers.append(nn.Sequential(*stage))
        last_in = setting[-1].out_channels
        last_out = last_channel if last_channel is not None else 4 * last_in
        layers.append(
            Conv2dNormActivation(
                last_in, last_out, 1, norm_layer=norm_layer, activation_layer=nn.SiLU
            )
        )
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout, inplace=True), nn.Linear(last_out, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


@register("efficientnet_b0")
def efficientnet_b0() -> nn.Module:
    setting = [Stage(1, 3, 1, 32, 16, 1), Stage(6, 3, 2, 16, 24, 2), Stage(6, 5, 2, 24, 40, 2),
               Stage(6, 3, 2, 40, 80, 3), Stage(6, 5, 1, 80, 112, 3),
               Stage(6, 5, 2, 112, 192, 4), Stage(6, 3, 1, 192, 320, 1)]  # fmt: skip
    return EfficientNet(setting, dropout=0.2)


@register("efficientnet_v2_s")
def efficientnet_v2_s() -> nn.Module:
    setting = [Stage(1, 3, 1, 24, 24, 2, fused=True), Stage(4, 3, 2, 24, 48, 4, fused=True),
               Stage(4, 3, 2, 48, 64, 4, fused=True), Stage(4, 3, 2, 64, 128, 6),
               Stage(6, 3, 1, 128, 160, 9), Stage(6, 3, 2, 160, 256, 15)]  # fmt: skip
    return EfficientNet(
        setting, dropout=0.2, last_channel=1280, norm_layer=partial(nn.BatchNorm2d, eps=1e-03)
    )
