"""R(2+1)D-18 and S3D, from torchvision/models/video/resnet.py and video/s3d.py
(torchvision 0.28).

Module names are torchvision's. R(2+1)D: stem.0 ... stem.5, each block's conv1 and conv2 a
Sequential whose module 0 is the (2+1)D conv, itself a Sequential (1x3x3 conv, batchnorm,
relu, 3x1x1 conv); layerN.0.downsample.0 and .1. S3D: features.0 ... features.15, with
Conv3dNormActivation as modules 0, 1, 2 (conv, batchnorm, relu) and the inception blocks'
branch0 ... branch3; avgpool; classifier.0 (dropout) and .1 (1x1x1 conv).
"""

from __future__ import annotations

import torch
from torch import nn

from . import register


def conv_bn_relu(in_planes: int, out_planes: int, kernel_size: int | tuple[int, int, int],
                 stride: int | tuple[int, int, int] = 1,
                 padding: int | tuple[int, int, int] | None = None) -> nn.Sequential:  # fmt: skip
    """torchvision.ops.misc.Conv3dNormActivation with S3D's batchnorm (eps 0.001); the
    default padding is (k - 1) // 2 per dim."""
    if padding is None:
        sizes = kernel_size if isinstance(kernel_size, tuple) else (kernel_size,) * 3
        padding = tuple((k - 1) // 2 for k in sizes)
    return nn.Sequential(
        nn.Conv3d(in_planes, out_planes, kernel_size, stride, padding, bias=False),
        nn.BatchNorm3d(out_planes, eps=0.001, momentum=0.001),
        nn.ReLU(inplace=True),
    )


# R(2+1)D-18 ------------------------------------------------------------------------------


class Conv2Plus1D(nn.Sequential):
    def __init__(self, in_planes: int, out_planes: int, midplanes: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv3d(in_planes, midplanes, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False),
            nn.BatchNorm3d(midplanes),
            nn.ReLU(inplace=True),
            nn.Conv3d(midplanes, out_planes, (3, 1, 1), (stride, 1, 1), (1, 0, 0), bias=False),
        )


class VideoBasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:  # fmt: skip
        super().__init__()
        # torchvision computes midplanes once, from the block's input width: conv2 of a
        # block that widens uses the same midplanes as conv1.
        midplanes = (inplanes * planes * 3 * 3 * 3) // (inplanes * 3 * 3 + 3 * planes)
        self.conv1 = nn.Sequential(
            Conv2Plus1D(inplanes, planes, midplanes, stride),
            nn.BatchNorm3d(planes),
            nn.ReLU(inplace=True),
        )
        self.conv2 = nn.Sequential(Conv2Plus1D(planes, planes, midplanes), nn.BatchNorm3d(planes))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


class VideoResNet(nn.Module):
    def __init__(self, layers: list[int], num_classes: int = 400) -> None:
        super().__init__()
        self.inplanes = 64
        self.stem = nn.Sequential(  # R2Plus1dStem
            nn.Conv3d(3, 45, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False),
            nn.BatchNorm3d(45),
            nn.ReLU(inplace=True),
            nn.Conv3d(45, 64, (3, 1, 1), (1, 1, 1), (1, 0, 0), bias=False),
            nn.BatchNorm3d(64),
            nn.ReLU(inplace=True),
        )
        self.layer1 = self._make_layer(64, layers[0], 1)
        self.layer2 = self._make_layer(128, layers[1], 2)
        self.layer3 = self._make_layer(256, layers[2], 2)
        self.layer4 = self._make_layer(512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.fc = nn.Linear(512, num_classes)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv3d(self.inplanes, planes, 1, (stride,) * 3, bias=False),
                nn.BatchNorm3d(planes),
            )
        layers = [VideoBasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [VideoBasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


@register("r2plus1d_18")
def r2plus1d_18() -> nn.Module:
    return VideoResNet([2, 2, 2, 2])


# S3D -------------------------------------------------------------------------------------


class TemporalSeparableConv(nn.Sequential):
    def __init__(self, in_planes: int, out_planes: int, kernel_size: int, stride: int,
                 padding: int) -> None:  # fmt: skip
        super().__init__(
            conv_bn_relu(
                in_planes,
                out_planes,
                (1, kernel_size, kernel_size),
                (1, stride, stride),
                (0, padding, padding),
            ),  # fmt: skip
            conv_bn_relu(
                out_planes, out_planes, (kernel_size, 1, 1), (stride, 1, 1), (padding, 0, 0)
            ),  # fmt: skip
        )


class SepInceptionBlock3D(nn.Module):
    def __init__(self, in_planes: int, b0_out: int, b1_mid: int, b1_out: int, b2_mid: int,
                 b2_out: int, b3_out: int) -> None:  # fmt: skip
        super().__init__()
        self.branch0 = conv_bn_relu(in_planes, b0_out, 1)
        self.branch1 = nn.Sequential(
            conv_bn_relu(in_planes, b1_mid, 1), TemporalSeparableConv(b1_mid, b1_out, 3, 1, 1)
        )
        self.branch2 = nn.Sequential(
            conv_bn_relu(in_planes, b2_mid, 1), TemporalSeparableConv(b2_mid, b2_out, 3, 1, 1)
        )
        self.branch3 = nn.Sequential(nn.MaxPool3d(3, 1, 1), conv_bn_relu(in_planes, b3_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch0, self.branch1, self.branch2, self.branch3)
        return torch.cat([branch(x) for branch in branches], 1)


class S3D(nn.Module):
    def __init__(self, num_classes: int = 400) -> None:
        super().__init__()
        self.features = nn.Sequential(
            TemporalSeparableConv(3, 64, 7, 2, 3),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
            conv_bn_relu(64, 64, 1),
            TemporalSeparableConv(64, 192, 3, 1, 1),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
            SepInceptionBlock3D(192, 64, 96, 128, 16, 32, 32),
            SepInceptionBlock3D(256, 128, 128, 192, 32, 96, 64),
            nn.MaxPool3d((3, 3, 3), (2, 2, 2), (1, 1, 1)),
            SepInceptionBlock3D(480, 192, 96, 208, 16, 48, 64),
            SepInceptionBlock3D(512, 160, 112, 224, 24, 64, 64),
            SepInceptionBlock3D(512, 128, 128, 256, 24, 64, 64),
            SepInceptionBlock3D(512, 112, 144, 288, 32, 64, 64),
            SepInceptionBlock3D(528, 256, 160, 320, 32, 128, 128),
            nn.MaxPool3d((2, 2, 2), (2, 2, 2), (0, 0, 0)),
            SepInceptionBlock3D(832, 256, 160, 320, 32, 128, 128),
            SepInceptionBlock3D(832, 384, 192, 384, 48, 128, 128),
        )
        self.avgpool = nn.AvgPool3d((2, 7, 7), stride=1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Conv3d(1024, num_classes, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.classifier(self.avgpool(self.features(x)))
        return torch.mean(x, dim=(2, 3, 4))


@register("s3d")
def s3d() -> nn.Module:
    return S3D()
