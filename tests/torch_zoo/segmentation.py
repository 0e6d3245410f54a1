"""FCN and DeepLabV3 with a ResNet-50 backbone, from torchvision/models/segmentation/
(fcn.py, deeplabv3.py, _utils.py; torchvision 0.28), as the builders make them with the
published weights: 21 classes, aux_loss on.

The backbone is resnet.py's ResNet-50 with layer3 and layer4 dilated instead of strided
(replace_stride_with_dilation=[False, True, True]), cut after layer4 as torchvision's
IntermediateLayerGetter does, so its modules are backbone.conv1 ... backbone.layer4.2.*;
then classifier.* and aux_classifier.* (FCNHead: conv, batchnorm, relu, dropout, conv).
Both heads run in eval mode too, and each output is resized bilinearly to the input.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from . import register
from .misc import IntermediateLayerGetter
from .resnet import Bottleneck, ResNet


class FCNHead(nn.Sequential):
    def __init__(self, in_channels: int, channels: int) -> None:
        inter_channels = in_channels // 4
        super().__init__(
            nn.Conv2d(in_channels, inter_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(inter_channels),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Conv2d(inter_channels, channels, 1),
        )


class ASPPPooling(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        for module in self:
            x = module(x)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def aspp_conv(in_channels: int, out_channels: int, dilation: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class ASPP(nn.Module):
    def __init__(self, in_channels: int, atrous_rates: tuple[int, ...],
                 out_channels: int = 256) -> None:  # fmt: skip
        super().__init__()
        modules = [
            nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(),
            )
        ]
        modules += [aspp_conv(in_channels, out_channels, rate) for rate in atrous_rates]
        modules.append(ASPPPooling(in_channels, out_channels))
        self.convs = nn.ModuleList(modules)
        self.project = nn.Sequential(
            nn.Conv2d(len(self.convs) * out_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Dropout(0.5),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([conv(x) for conv in self.convs], dim=1))


class DeepLabHead(nn.Sequential):
    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__(
            ASPP(in_channels, (12, 24, 36)),
            nn.Conv2d(256, 256, 3, padding=1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(),
            nn.Conv2d(256, num_classes, 1),
        )


class SimpleSegmentationModel(nn.Module):
    def __init__(self, classifier: nn.Module, num_classes: int = 21) -> None:
        super().__init__()
        resnet = ResNet(Bottleneck, [3, 4, 6, 3], replace_stride_with_dilation=[False, True, True])
        self.backbone = IntermediateLayerGetter(resnet, {"layer4": "out", "layer3": "aux"})
        self.classifier = classifier
        self.aux_classifier = FCNHead(1024, num_classes)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        size = x.shape[-2:]
        features = self.backbone(x)
        result = OrderedDict()
        result["out"] = F.interpolate(self.classifier(features["out"]), size=size,
                                      mode="bilinear", align_corners=False)  # fmt: skip
        result["aux"] = F.interpolate(self.aux_classifier(features["aux"]), size=size,
                                      mode="bilinear", align_corners=False)  # fmt: skip
        return result


@register("fcn_resnet50")
def fcn_resnet50() -> nn.Module:
    return SimpleSegmentationModel(FCNHead(2048, 21))


@register("deeplabv3_resnet50")
def deeplabv3_resnet50() -> nn.Module:
    return SimpleSegmentationModel(DeepLabHead(2048, 21))
