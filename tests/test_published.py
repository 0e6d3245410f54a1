"""The example specs in specs/ against the figures their papers and model zoos publish.

Each row of PUBLISHED is one published figure: the spec, the layer (None: the whole network;
for output_shape, the last layer), what is measured, the published value, the tolerance the
publication's rounding allows, and where the figure comes from. "GFLOPS" in torchvision's
model docs and "FLOPs" in the MobileNet and ShuffleNet papers are multiply-adds, which is
what convcalc calls MACs.

Where nothing is published (U-Net's params and MACs, most of SegNet and C3D), the specs are
checked against closed forms written here and against PyTorch models built here
(`test_matches_pytorch`, skipped without torch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from test_zoo import ZOO

from convcalc.analysis import Report
from convcalc.commands import analyze_spec

SPECS = Path(__file__).resolve().parent.parent / "specs"

G = 10**9
M = 10**6


@cache
def report(spec: str) -> Report:
    """The analysis of specs/<spec>.yaml (cached: each spec is analyzed once)."""
    return analyze_spec(SPECS / f"{spec}.yaml")


def rounded(printed: str, unit: int = 1) -> tuple[float, float]:
    """A figure printed as `printed` (in `unit`s): its value and half a unit in its last digit.

    rounded("4.09", G) -> (4.09e9, 0.005e9): anything from 4.085e9 to 4.095e9 prints as 4.09.
    """
    number = Decimal(printed)
    half_ulp = Decimal(5).scaleb(number.as_tuple().exponent - 1)
    return float(number) * unit, float(half_ulp) * unit


@dataclass(frozen=True)
class Figure:
    """One published figure."""

    spec: str
    layer: str | None
    measure: str  # params, macs, connections, output_shape, receptive_field, effective_stride
    published: Any
    tolerance: float
    source: str

    @property
    def id(self) -> str:
        return f"{self.spec}-{self.layer + '-' if self.layer else ''}{self.measure}"


def exact(spec: str, layer: str | None, measure: str, value: Any, source: str) -> Figure:
    """A figure published exactly (a count, a shape, a receptive field)."""
    return Figure(spec, layer, measure, value, 0, source)


def approx(spec: str, measure: str, printed: str, unit: int, source: str) -> Figure:
    """A whole-network figure published rounded, e.g. '4.09' GFLOPS."""
    value, tolerance = rounded(printed, unit)
    return Figure(spec, None, measure, value, tolerance, source)


TV = "torchvision models docs, {}_Weights.IMAGENET1K_V1 (num_params, GFLOPS = multiply-adds)"
LENET = "LeCun et al. 1998, Proc. IEEE 86(11), section II-B"
LENET_FIG = "LeCun et al. 1998, Fig. 2 (feature map sizes)"
LENET_SUM = LENET + " (sum of its per-layer figures; 'about 60,000' in its words)"
VGG_PAPER = "Simonyan & Zisserman, ICLR 2015, Table 2 (configuration D: 138M)"
RESNET_PAPER = "He et al., CVPR 2016, Table 1 (18-layer: 1.8 x 10^9 FLOPs)"
MOBILENET = "Howard et al. 2017, Tables 4 and 8 (1.0 MobileNet-224: 569M mult-adds, 4.2M)"
MOBILENET_T1 = "Howard et al. 2017, Table 1 (7x7x1024 into the average pool)"
SHUFFLE_T1 = "Zhang et al., CVPR 2018, Table 1 (g=3; complexity in mult-adds; {})"
SHUFFLE_CODE = "megvii-model/ShuffleNet-Series ShuffleNetV1/README.md (1.0x, group=3: 1.9M)"
SHUFFLE_STAGES = "Zhang et al., CVPR 2018, Table 1 (stage output sizes)"
SHUFFLE2_T5 = "Ma et al., ECCV 2018, Table 5 (1x: stage 4 of 464 channels at 7x7)"
DILATED = "Yu & Koltun, ICLR 2016, Table 1 (receptive field after each layer)"
FCN_T1 = "Long et al., CVPR 2015, Table 1, FCN-VGG16 ({})"
SEGNET_CAFFE = "alexgkendall/SegNet-Tutorial Models/segnet_train.prototxt ({})"
SEGNET_PAPER = "Badrinarayanan et al., TPAMI 2017 (CamVid: 360x480, 11 classes)"
C3D_PAPER = "Tran et al., ICCV 2015, section 3.3 ({})"
SE_EQ3 = "Hu et al., CVPR 2018, eq. 3 (W1 in R^(C/r x C), W2 in R^(C x C/r); C=256, r=16)"
C3D_MMACTION = "mmaction2 mmaction/models/backbones/c3d.py (fc6 = Linear(8192, 4096))"
SIAMESE_FIG = "Koch, Zemel & Salakhutdinov, ICML DL Workshop 2015, Fig. 4 (feature map sizes)"
LENET_PARAMS = 156 + 12 + 1_516 + 32 + 48_120 + 10_164 + 840

PUBLISHED = [
    # LeNet-5: per-layer trainable params and connections, feature map sizes.
    exact("lenet5", "C1", "params", 156, LENET),
    exact("lenet5", "C1", "connections", 122_304, LENET),
    exact("lenet5", "C1", "output_shape", (6, 28, 28), LENET_FIG),
    exact("lenet5", "S2", "params", 12, LENET),
    exact("lenet5", "S2", "connections", 5_880, LENET),
    exact("lenet5", "S2", "output_shape", (6, 14, 14), LENET_FIG),
    exact("lenet5", "C3", "params", 1_516, LENET + " (with Table I's connections)"),
    exact("lenet5", "C3", "connections", 151_600, LENET),
    exact("lenet5", "C3", "output_shape", (16, 10, 10), LENET_FIG),
    exact("lenet5", "S4", "params", 32, LENET),
    exact("lenet5", "S4", "connections", 2_000, LENET),
    exact("lenet5", "S4", "output_shape", (16, 5, 5), LENET_FIG),
    exact("lenet5", "C5", "params", 48_120, LENET + " (48,120 trainable connections)"),
    exact("lenet5", "C5", "connections", 48_120, LENET),
    exact("lenet5", "C5", "output_shape", (120, 1, 1), LENET_FIG),
    exact("lenet5", "F6", "params", 10_164, LENET),
    exact("lenet5", "F6", "output_shape", (84,), LENET_FIG),
    exact("lenet5", "output", "params", 840, LENET + " (10 RBF units of 84 inputs each)"),
    exact("lenet5", None, "connections", 340_908, LENET + " (340,908 connections)"),
    exact("lenet5", None, "params", LENET_PARAMS, LENET_SUM),
    exact("lenet5", None, "output_shape", (10,), LENET_FIG),
    # AlexNet, VGG-16, ResNets, MobileNet v2: torchvision model docs.
    exact("alexnet", None, "params", 61_100_840, TV.format("AlexNet")),
    approx("alexnet", "macs", "0.71", G, TV.format("AlexNet")),
    exact("alexnet", None, "output_shape", (1000,), TV.format("AlexNet")),
    exact("vgg16", None, "params", 138_357_544, TV.format("VGG16")),
    approx("vgg16", "macs", "15.47", G, TV.format("VGG16")),
    approx("vgg16", "params", "138", M, VGG_PAPER),
    exact("resnet18", None, "params", 11_689_512, TV.format("ResNet18")),
    approx("resnet18", "macs", "1.81", G, TV.format("ResNet18")),
    approx("resnet18", "macs", "1.8", G, RESNET_PAPER),
    exact("resnet50", None, "params", 25_557_032, TV.format("ResNet50")),
    approx("resnet50", "macs", "4.09", G, TV.format("ResNet50")),
    exact("resnet50", None, "output_shape", (1000,), TV.format("ResNet50")),
    exact("mobilenet_v2", None, "params", 3_504_872, TV.format("MobileNet_V2")),
    approx("mobilenet_v2", "macs", "0.30", G, TV.format("MobileNet_V2")),
    exact("shufflenet_v2_x1_0", None, "params", 2_278_604, TV.format("ShuffleNet_V2_X1_0")),
    approx("shufflenet_v2_x1_0", "macs", "0.145", G, TV.format("ShuffleNet_V2_X1_0")),
    exact("shufflenet_v2_x1_0", "stage4.3.shuffle", "output_shape", (464, 7, 7), SHUFFLE2_T5),
    # MobileNet v1 1.0-224.
    approx("mobilenet_v1", "macs", "569", M, MOBILENET),
    approx("mobilenet_v1", "params", "4.2", M, MOBILENET),
    exact("mobilenet_v1", "block13.pw_relu", "output_shape", (1024, 7, 7), MOBILENET_T1),
    # ShuffleNet v1 1x, g = 3.
    approx("shufflenet_v1", "macs", "137", M, SHUFFLE_T1.format("137M")),
    approx("shufflenet_v1", "params", "1.9", M, SHUFFLE_CODE),
    exact("shufflenet_v1", "stage2.2.relu", "output_shape", (240, 28, 28), SHUFFLE_STAGES),
    exact("shufflenet_v1", "stage3.6.relu", "output_shape", (480, 14, 14), SHUFFLE_STAGES),
    exact("shufflenet_v1", "stage4.2.relu", "output_shape", (960, 7, 7), SHUFFLE_STAGES),
    # Dilated context module (basic): receptive fields of Table 1.
    *(
        exact("dilated_context", f"layer{index}", "receptive_field", (size, size), DILATED)
        for index, size in enumerate((3, 5, 9, 17, 33, 65, 67, 67), start=1)
    ),
    # FCN-32s (FCN-VGG16): Table 1's rf size and max stride are at the score layer.
    approx("fcn", "params", "134", M, FCN_T1.format("parameters")),
    exact("fcn", "score_fr", "receptive_field", (404, 404), FCN_T1.format("rf size")),
    exact("fcn", "score_fr", "effective_stride", (32, 32), FCN_T1.format("max stride")),
    # SegNet at the CamVid size: unpooled sizes of the authors' Caffe model.
    exact("segnet", "upsample5", "output_shape", (512, 23, 30), SEGNET_CAFFE.format("23x30")),
    exact("segnet", "upsample4", "output_shape", (512, 45, 60), SEGNET_CAFFE.format("45x60")),
    exact("segnet", None, "output_shape", (11, 360, 480), SEGNET_PAPER),
    # C3D.
    exact("c3d", "conv1a", "output_shape", (64, 16, 112, 112), C3D_PAPER.format("size kept")),
    exact("c3d", "fc6", "params", 8192 * 4096 + 4096, C3D_MMACTION),
    exact("c3d", None, "output_shape", (487,), C3D_PAPER.format("487 Sports-1M classes")),
    # The SE-ResNet module: the excitation's two weight matrices, 2 C^2 / r in all (eq. 5).
    exact("se_block", "se.fc1", "params", 256 * 256 // 16, SE_EQ3),
    exact("se_block", "se.fc2", "params", 256 * 256 // 16, SE_EQ3),
    exact("se_block", None, "output_shape", (256, 56, 56), SE_EQ3),
    # The Siamese network's tower, on a 105x105 image (each tower the same sizes).
    exact("siamese", "left.conv1", "output_shape", (64, 96, 96), SIAMESE_FIG),
    exact("siamese", "left.pool1", "output_shape", (64, 48, 48), SIAMESE_FIG),
    exact("siamese", "left.conv2", "output_shape", (128, 42, 42), SIAMESE_FIG),
    exact("siamese", "left.pool2", "output_shape", (128, 21, 21), SIAMESE_FIG),
    exact("siamese", "left.conv3", "output_shape", (128, 18, 18), SIAMESE_FIG),
    exact("siamese", "left.pool3", "output_shape", (128, 9, 9), SIAMESE_FIG),
    exact("siamese", "right.conv4", "output_shape", (256, 6, 6), SIAMESE_FIG),
    exact("siamese", "right.fc", "output_shape", (4096,), SIAMESE_FIG),
]


def measured(rep: Report, figure: Figure) -> Any:
    """The figure's measure, from one layer's row or from the totals."""
    if figure.layer is None:
        if figure.measure == "output_shape":
            return rep.output_row.output_shape
        return getattr(rep.totals, figure.measure)
    rows = [row for row in rep.layers if row.name == figure.layer]
    assert rows, f"{figure.spec} has no layer {figure.layer!r}"
    return getattr(rows[0], figure.measure)


@pytest.mark.parametrize("figure", PUBLISHED, ids=lambda figure: figure.id)
def test_published_figure(figure: Figure) -> None:
    got = measured(report(figure.spec), figure)
    if isinstance(figure.published, tuple):
        assert tuple(got) == figure.published, figure.source
    else:
        assert abs(got - figure.published) <= figure.tolerance, (
            f"{got:,} vs {figure.published:,} +- {figure.tolerance:,}: {figure.source}"
        )


def layers_of(spec: str, *types: str) -> list:
    return [row for row in report(spec).layers if row.type in types]


def test_mobilenet_v1_resource_per_layer_type() -> None:
    """Howard et al. 2017, Table 2: shares of mult-adds and parameters by layer type.

    The paper prints the Conv 3x3 mult-add share as 1.19%; its four rows must add up to
    100%, which only 1.91% does (94.86 + 3.06 + 1.91 + 0.18 = 100.01), so 1.91 is tested.
    Its parameter shares are of weights: the FC bias is left out here too.
    """
    rows = report("mobilenet_v1").layers
    kinds = {
        "Conv 1x1": [r for r in rows if r.type == "conv" and r.name != "conv1"],
        "Conv DW 3x3": [r for r in rows if r.type == "depthwise_conv"],
        "Conv 3x3": [r for r in rows if r.name == "conv1"],
        "Fully Connected": [r for r in rows if r.type == "dense"],
    }
    weights = {kind: sum(r.params for r in group) for kind, group in kinds.items()}
    weights["Fully Connected"] -= 1000  # its bias
    macs = {kind: sum(r.macs for r in group) for kind, group in kinds.items()}
    published = {
        "Conv 1x1": (94.86, 74.59),
        "Conv DW 3x3": (3.06, 1.06),
        "Conv 3x3": (1.91, 0.02),  # printed 1.19 (see above)
        "Fully Connected": (0.18, 24.33),
    }
    total_macs = report("mobilenet_v1").totals.macs
    assert total_macs == sum(macs.values())  # nothing else costs mult-adds
    for kind, (mac_share, weight_share) in published.items():
        assert round(100 * macs[kind] / total_macs, 2) == mac_share, kind
        assert round(100 * weights[kind] / sum(weights.values()), 2) == weight_share, kind


def test_dilated_context_parameters() -> None:
    """Yu & Koltun 2016, section 3: 'approximately 64C^2 parameters in total'.

    The weights are exactly 7 * 9C^2 + C^2 = 64C^2; the 8 biases add 8C.
    """
    channels = 21
    rows = layers_of("dilated_context", "conv")
    assert len(rows) == 8
    weights = sum(row.params - channels for row in rows)
    assert weights == 64 * channels**2
    assert report("dilated_context").totals.params == 64 * channels**2 + 8 * channels
    assert report("dilated_context").layers[-1].output_shape == (channels, 64, 64)


def test_fcn_conv_layers() -> None:
    """Long et al. 2015, Table 1: FCN-VGG16 has 16 conv layers (fc6, fc7, score included)."""
    assert len(layers_of("fcn", "conv")) == 16
    assert report("fcn").layers[-1].output_shape == (21, 224, 224)


def test_segnet_encoder_parameters() -> None:
    """Badrinarayanan et al. 2017, section 3: the encoder has 14.7M parameters.

    The encoder is everything up to pool5 (13 convs with their batchnorms).
    """
    rows = report("segnet").layers
    encoder_end = next(i for i, row in enumerate(rows) if row.name == "pool5")
    encoder = sum(row.params for row in rows[: encoder_end + 1])
    value, tolerance = rounded("14.7", M)
    assert abs(encoder - value) <= tolerance
    assert len([row for row in rows[: encoder_end + 1] if row.type == "conv"]) == 13


def test_c3d_against_mmaction2() -> None:
    """mmaction2 configs/recognition/c3d/metafile.yml, for C3D with a 101-class head.

    78,409,573 params; 38,615,475,200 FLOPs from mmaction2's counter, which counts
    multiply-adds plus some elementwise work, so the multiply-adds alone must come in
    slightly below it (they are 99.82% of it).
    """
    rep = report("c3d")
    head_difference = (487 - 101) * (4096 + 1)  # fc8 weights and biases per class
    assert rep.totals.params - head_difference == 78_409_573
    macs_101 = rep.totals.macs - (487 - 101) * 4096
    assert 0.998 * 38_615_475_200 < macs_101 <= 38_615_475_200
    pool5 = next(row for row in rep.layers if row.name == "pool5")
    assert pool5.output_shape == (512, 1, 4, 4)


def unet_params() -> int:
    """Closed form of U-Net's parameter count (Ronneberger et al. 2015, Fig. 1)."""

    def conv(c_in: int, c_out: int, k: int) -> int:
        return c_in * c_out * k * k + c_out

    def double(c_in: int, c_out: int) -> int:
        return conv(c_in, c_out, 3) + conv(c_out, c_out, 3)

    widths = [64, 128, 256, 512, 1024]
    total = double(1, 64) + sum(double(a, b) for a, b in zip(widths, widths[1:], strict=False))
    for width in reversed(widths[:-1]):
        total += conv(2 * width, width, 2)  # 2x2 up-conv halving the channels
        total += double(2 * width, width)  # after concatenating the skip connection
    return total + conv(64, 2, 1)


def unet_same_macs(size: int = 512) -> int:
    """Closed form of the same-padded U-Net's multiply-adds on a size x size input."""
    total = 0
    widths = [64, 128, 256, 512, 1024]
    c_in = 1
    for level, width in enumerate(widths):
        positions = (size >> level) ** 2
        total += positions * 9 * (c_in * width + width * width)
        c_in = width
    for level, width in reversed(list(enumerate(widths[:-1]))):
        positions = (size >> level) ** 2
        # transposed conv: input positions x out channels x in channels x 2x2 taps
        total += (positions // 4) * (2 * width) * width * 4
        total += positions * 9 * (2 * width * width + width * width)
    return total + size * size * 64 * 2


def unet_valid_sizes(size: int) -> dict[str, int]:
    """The map sizes of the paper's U-Net (valid 3x3 convs, each 2 shorter; 2x2 pools and
    up-convs) on a size x size tile whose pools all halve an even size, by layer name."""
    sizes: dict[str, int] = {}
    for level, name in enumerate(["enc1", "enc2", "enc3", "enc4", "bottom"]):
        if level:
            sizes[f"pool{level}"] = size = size // 2
        sizes[f"{name}.conv1"], sizes[f"{name}.conv2"] = size - 2, size - 4
        size -= 4
    for level in (4, 3, 2, 1):
        sizes[f"up{level}"] = sizes[f"crop{level}"] = size = 2 * size
        sizes[f"dec{level}.conv1"], sizes[f"dec{level}.conv2"] = size - 2, size - 4
        size -= 4
    sizes["classifier"] = size
    return sizes


def unet_valid_macs(size: int = 572) -> int:
    """Closed form of the paper's U-Net's multiply-adds on a size x size tile: per conv,
    output positions x in channels x out channels x 3x3; per up-conv, input positions x in
    x out x 2x2; the 1x1 classifier."""
    sizes = unet_valid_sizes(size)
    widths = {"enc1": 64, "enc2": 128, "enc3": 256, "enc4": 512, "bottom": 1024}
    total, c_in = 0, 1
    for name, width in widths.items():
        total += sizes[f"{name}.conv1"] ** 2 * c_in * width * 9
        total += sizes[f"{name}.conv2"] ** 2 * width * width * 9
        c_in = width
    for level, width in zip([4, 3, 2, 1], [512, 256, 128, 64], strict=True):
        total += (sizes[f"up{level}"] // 2) ** 2 * (2 * width) * width * 4
        total += sizes[f"dec{level}.conv1"] ** 2 * (2 * width) * width * 9
        total += sizes[f"dec{level}.conv2"] ** 2 * width * width * 9
    return total + sizes["classifier"] ** 2 * 64 * 2


def test_unet_closed_form() -> None:
    """No count is published for U-Net: both specs against the closed forms above."""
    for spec, macs, output in (
        ("unet", unet_valid_macs(572), (2, 388, 388)),
        ("unet_same", unet_same_macs(512), (2, 512, 512)),
    ):
        rep = report(spec)
        assert rep.totals.params == unet_params() == 31_030_658, spec
        assert rep.totals.macs == macs, spec
        assert rep.layers[-1].output_shape == output, spec
        # Ronneberger et al. 2015, section 2: "In total the network has 23 convolutional
        # layers."
        assert len(layers_of(spec, "conv", "conv_transpose")) == 23, spec


def test_unet_map_sizes_are_those_of_fig_1() -> None:
    """Ronneberger et al. 2015, Fig. 1: a 572x572 tile, valid convs, and "copy and crop"
    skips give a 388x388 output; every size is read off the figure (the crops: the white
    boxes beside each up-convolved map, 56, 104, 200 and 392)."""
    fig_1 = {
        "enc1.conv1": 570, "enc1.conv2": 568, "pool1": 284, "enc2.conv1": 282,
        "enc2.conv2": 280, "pool2": 140, "enc3.conv1": 138, "enc3.conv2": 136, "pool3": 68,
        "enc4.conv1": 66, "enc4.conv2": 64, "pool4": 32, "bottom.conv1": 30,
        "bottom.conv2": 28, "up4": 56, "crop4": 56, "dec4.conv1": 54, "dec4.conv2": 52,
        "up3": 104, "crop3": 104, "dec3.conv1": 102, "dec3.conv2": 100, "up2": 200,
        "crop2": 200, "dec2.conv1": 198, "dec2.conv2": 196, "up1": 392, "crop1": 392,
        "dec1.conv1": 390, "dec1.conv2": 388, "classifier": 388,
    }  # fmt: skip
    assert unet_valid_sizes(572) == fig_1
    rows = {row.name: row for row in report("unet").layers}
    assert {name: rows[name].output_shape[1:] for name in fig_1} == {
        name: (size, size) for name, size in fig_1.items()
    }
    # The channels of Fig. 1: 64 ... 1024 down, the concatenations twice the up-conv's.
    assert [rows[f"cat{level}"].output_shape[0] for level in (4, 3, 2, 1)] == [1024, 512, 256, 128]
    # At 572 every crop is centred: its input and target differ by an even number.
    assert not [name for name, row in rows.items() if any("off centre" in n for n in row.notes)]


# --- PyTorch as an independent oracle ----------------------------------------------------
# Each spec is rebuilt here as a PyTorch module on the meta device (shapes without data).
# Params are sum(p.numel()); MACs are counted by forward hooks with the convention of the
# README: conv = output elements x in/groups x kernel taps; transposed conv = input elements
# x out/groups x kernel taps; linear = in x out per row. Padding taps count; nothing else
# costs MACs.


def vae_down_block(c_in: int, c_out: int):
    """Stable Diffusion's VAE encoder block (diffusers DownEncoderBlock2D, two ResnetBlock2D
    without a time embedding, Downsample2D with padding 0), in PyTorch. The modules are
    named as diffusers names them, so its state_dict keys are the spec's layer names."""
    from torch import nn
    from torch.nn import functional as F  # noqa: N812

    class ResnetBlock(nn.Module):
        def __init__(self, c_in: int, c_out: int) -> None:
            super().__init__()
            self.norm1 = nn.GroupNorm(32, c_in, eps=1e-6)
            self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
            self.norm2 = nn.GroupNorm(32, c_out, eps=1e-6)
            self.dropout = nn.Dropout(0.0)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
            self.conv_shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else None

        def forward(self, x):
            h = self.conv1(F.silu(self.norm1(x)))
            h = self.conv2(self.dropout(F.silu(self.norm2(h))))
            return (x if self.conv_shortcut is None else self.conv_shortcut(x)) + h

    class Downsample(nn.Module):
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.conv = nn.Conv2d(channels, channels, 3, stride=2)

        def forward(self, x):
            return self.conv(F.pad(x, (0, 1, 0, 1)))

    class DownEncoderBlock(nn.Module):
        def __init__(self, c_in: int, c_out: int) -> None:
            super().__init__()
            self.resnets = nn.ModuleList([ResnetBlock(c_in, c_out), ResnetBlock(c_out, c_out)])
            self.downsamplers = nn.ModuleList([Downsample(c_out)])

        def forward(self, x):
            for module in [*self.resnets, *self.downsamplers]:
                x = module(x)
            return x

    return DownEncoderBlock(c_in, c_out)


@cache
def torch_models() -> dict[str, tuple[Any, tuple[int, ...] | list[tuple[int, ...]]]]:
    """spec name -> (module, input shape, or a list of them for several inputs). Built on
    demand (torch is optional), on the meta device by the caller, so that no weights are
    allocated."""
    import torch
    import torch_zoo
    from torch import nn
    from torch.nn import functional as F  # noqa: N812

    zoo = torch_zoo.builders()

    def seq(*modules: nn.Module) -> nn.Sequential:
        return nn.Sequential(*modules)

    class Lambda(nn.Module):
        def __init__(self, fn) -> None:
            super().__init__()
            self.fn = fn

        def forward(self, x):
            return self.fn(x)

    # LeNet-5 -----------------------------------------------------------------------------
    table = [
        [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [0, 4, 5], [0, 1, 5],
        [0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5], [0, 3, 4, 5], [0, 1, 4, 5], [0, 1, 2, 5],
        [0, 1, 3, 4], [1, 2, 4, 5], [0, 2, 3, 5], [0, 1, 2, 3, 4, 5],
    ]  # fmt: skip

    class Subsample(nn.Module):  # window sum x coefficient + bias, per channel
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.ones(channels, 1, 1))
            self.bias = nn.Parameter(torch.zeros(channels, 1, 1))

        def forward(self, x):
            return torch.tanh(F.avg_pool2d(x, 2) * 4 * self.weight + self.bias)

    class TableConv(nn.Module):  # C3: one conv per output map, over its table row
        def __init__(self) -> None:
            super().__init__()
            self.convs = nn.ModuleList(nn.Conv2d(len(row), 1, 5) for row in table)

        def forward(self, x):
            return torch.cat([c(x[:, row]) for c, row in zip(self.convs, table, strict=True)], 1)

    lenet = seq(
        nn.Conv2d(1, 6, 5), nn.Tanh(), Subsample(6), TableConv(), nn.Tanh(), Subsample(16),
        nn.Conv2d(16, 120, 5), nn.Tanh(), nn.Flatten(), nn.Linear(120, 84), nn.Tanh(),
        nn.Linear(84, 10, bias=False),
    )  # fmt: skip

    # AlexNet, VGG-16, FCN-32s --------------------------------------------------------------
    alexnet = seq(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.AdaptiveAvgPool2d(6), nn.Flatten(), nn.Dropout(),
        nn.Linear(9216, 4096), nn.ReLU(), nn.Dropout(),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 1000),
    )  # fmt: skip

    def vgg_convs() -> list[nn.Module]:
        layers: list[nn.Module] = []
        c_in = 3
        for width, count in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
            for _ in range(count):
                layers += [nn.Conv2d(c_in, width, 3, padding=1), nn.ReLU()]
                c_in = width
            layers.append(nn.MaxPool2d(2))
        return layers

    vgg16 = seq(
        *vgg_convs(), nn.AdaptiveAvgPool2d(7), nn.Flatten(),
        nn.Linear(25088, 4096), nn.ReLU(), nn.Dropout(),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 1000),
    )  # fmt: skip
    fcn = seq(
        *vgg_convs(), nn.Conv2d(512, 4096, 7, padding=3), nn.ReLU(), nn.Dropout(),
        nn.Conv2d(4096, 4096, 1), nn.ReLU(), nn.Dropout(), nn.Conv2d(4096, 21, 1),
        nn.Upsample(scale_factor=32, mode="bilinear"),
    )  # fmt: skip

    # ResNets ------------------------------------------------------------------------------
    class Residual(nn.Module):
        def __init__(self, body: nn.Module, shortcut: nn.Module | None) -> None:
            super().__init__()
            self.body, self.shortcut = body, shortcut

        def forward(self, x):
            return F.relu(self.body(x) + (x if self.shortcut is None else self.shortcut(x)))

    def cbn(c_in: int, c_out: int, k: int, stride: int = 1, relu: bool = True) -> list:
        layers = [nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False), nn.BatchNorm2d(c_out)]
        return layers + [nn.ReLU()] if relu else layers

    def basic(c_in: int, width: int, stride: int) -> nn.Module:
        body = seq(*cbn(c_in, width, 3, stride), *cbn(width, width, 3, relu=False))
        down = None if c_in == width else seq(*cbn(c_in, width, 1, stride, relu=False))
        return Residual(body, down)

    def bottleneck(c_in: int, width: int, stride: int) -> nn.Module:
        body = seq(
            *cbn(c_in, width, 1), *cbn(width, width, 3, stride),
            *cbn(width, 4 * width, 1, relu=False),
        )  # fmt: skip
        down = None if c_in == 4 * width else seq(*cbn(c_in, 4 * width, 1, stride, relu=False))
        return Residual(body, down)

    def resnet(block, counts: list[int], expansion: int) -> nn.Module:
        layers = [*cbn(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1)]
        c_in = 64
        for stage, (width, count) in enumerate(zip((64, 128, 256, 512), counts, strict=True)):
            for index in range(count):
                layers.append(block(c_in, width, 2 if stage and not index else 1))
                c_in = width * expansion
        return seq(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, 1000))

    class SqueezeExcitation(nn.Module):  # Hu et al. 2018, eq. 2-4: U * sigmoid(W2 relu(W1 z))
        def __init__(self, channels: int, reduced: int) -> None:
            super().__init__()
            self.fc1 = nn.Conv2d(channels, reduced, 1, bias=False)
            self.fc2 = nn.Conv2d(reduced, channels, 1, bias=False)

        def forward(self, x):
            squeezed = F.adaptive_avg_pool2d(x, 1)
            return x * torch.sigmoid(self.fc2(F.relu(self.fc1(squeezed))))

    se_body = seq(
        *cbn(256, 64, 1), *cbn(64, 64, 3), *cbn(64, 256, 1, relu=False),
        SqueezeExcitation(256, 16),
    )  # fmt: skip
    se_block = Residual(se_body, None)

    # Siamese network (Koch et al. 2015, Fig. 4): one tower, called on both images ---------
    class Siamese(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tower = seq(
                nn.Conv2d(1, 64, 10), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(64, 128, 7), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(128, 128, 4), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(128, 256, 4), nn.ReLU(),
                nn.Flatten(), nn.Linear(256 * 6 * 6, 4096), nn.Sigmoid(),
            )  # fmt: skip
            self.score = nn.Linear(4096, 1)

        def forward(self, first, second):
            left, right = self.tower(first), self.tower(second)
            return torch.sigmoid(self.score(left * right)), left, right

    # MobileNets ---------------------------------------------------------------------------
    def dw_pw(c_in: int, c_out: int, stride: int) -> list:
        dw = nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False)
        return [dw, nn.BatchNorm2d(c_in), nn.ReLU(), *cbn(c_in, c_out, 1)]

    rows_v1 = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), *[(512, 1)] * 5,
               (1024, 2), (1024, 1)]  # fmt: skip
    v1_layers, c_in = [*cbn(3, 32, 3, 2)], 32
    for c_out, stride in rows_v1:
        v1_layers += dw_pw(c_in, c_out, stride)
        c_in = c_out
    mobilenet_v1 = seq(*v1_layers, nn.AvgPool2d(7), nn.Flatten(), nn.Linear(1024, 1000))

    class InvertedResidual(nn.Module):
        def __init__(self, body: nn.Module) -> None:
            super().__init__()
            self.body = body

        def forward(self, x):
            return x + self.body(x)

    v2_layers, c_in = [*cbn(3, 32, 3, 2)[:2], nn.ReLU6()], 32
    for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):  # fmt: skip
        for index in range(n):
            stride = s if index == 0 else 1
            hidden = c_in * t
            layers = [] if t == 1 else [*cbn(c_in, hidden, 1)[:2], nn.ReLU6()]
            dw = nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False)
            layers += [dw, nn.BatchNorm2d(hidden), nn.ReLU6(), *cbn(hidden, c, 1, relu=False)]
            body = seq(*layers)
            residual = stride == 1 and c_in == c
            v2_layers.append(InvertedResidual(body) if residual else body)
            c_in = c
    mobilenet_v2 = seq(
        *v2_layers, *cbn(320, 1280, 1)[:2], nn.ReLU6(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Dropout(0.2), nn.Linear(1280, 1000),
    )  # fmt: skip

    # ShuffleNet v1 ------------------------------------------------------------------------
    def shuffle(groups: int):
        def fn(x):
            b, c, h, w = x.shape
            return x.reshape(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)

        return Lambda(fn)

    class ShuffleUnit(nn.Module):
        def __init__(self, c_in: int, c_out: int, stride: int, first_groups: int) -> None:
            super().__init__()
            mid, branch = c_out // 4, c_out - c_in if stride == 2 else c_out
            self.stride = stride
            self.body = seq(
                nn.Conv2d(c_in, mid, 1, groups=first_groups, bias=False), nn.BatchNorm2d(mid),
                nn.ReLU(), shuffle(3),
                nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid),
                nn.Conv2d(mid, branch, 1, groups=3, bias=False), nn.BatchNorm2d(branch),
            )  # fmt: skip

        def forward(self, x):
            if self.stride == 2:
                return F.relu(torch.cat([F.avg_pool2d(x, 3, 2, 1), self.body(x)], 1))
            return F.relu(x + self.body(x))

    shuffle_layers, c_in = [*cbn(3, 24, 3, 2), nn.MaxPool2d(3, 2, 1)], 24
    for stage, (c_out, count) in enumerate(((240, 4), (480, 8), (960, 4))):
        for index in range(count):
            first_groups = 1 if stage == 0 and index == 0 else 3
            shuffle_layers.append(ShuffleUnit(c_in, c_out, 2 if index == 0 else 1, first_groups))
            c_in = c_out
    shufflenet = seq(
        *shuffle_layers, nn.AvgPool2d(7), nn.Flatten(), nn.Linear(960, 1000, bias=False)
    )

    # U-Net, same-padded and as published -------------------------------------------------
    def double(c_in: int, c_out: int) -> nn.Module:
        return seq(
            nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1), nn.ReLU(),
        )  # fmt: skip

    def valid_double(c_in: int, c_out: int) -> nn.Module:
        return seq(nn.Conv2d(c_in, c_out, 3), nn.ReLU(), nn.Conv2d(c_out, c_out, 3), nn.ReLU())

    def center_crop(x, size):
        """torchvision.transforms.functional.center_crop on a tensor: the crop starts at
        int(round((n - target) / 2.0)) in each spatial dim."""
        top = int(round((x.shape[-2] - size[0]) / 2.0))
        left = int(round((x.shape[-1] - size[1]) / 2.0))
        return x[..., top : top + size[0], left : left + size[1]]

    class UNet(nn.Module):
        """The same-padded U-Net, or with `valid` the one as published: valid convs, a
        dropout at the end of the contracting path, and centre-cropped skips."""

        def __init__(self, valid: bool = False) -> None:
            super().__init__()
            block = valid_double if valid else double
            widths = [64, 128, 256, 512, 1024]
            self.down = nn.ModuleList(
                block(a, b) for a, b in zip([1, *widths], widths, strict=False)
            )
            self.drop = nn.Dropout(0.5) if valid else nn.Identity()
            self.up = nn.ModuleList(nn.ConvTranspose2d(2 * w, w, 2, 2) for w in widths[3::-1])
            self.dec = nn.ModuleList(block(2 * w, w) for w in widths[3::-1])
            self.classifier = nn.Conv2d(64, 2, 1)

        def forward(self, x):
            skips = []
            for index, down in enumerate(self.down):
                x = down(x)
                if index < 4:
                    skips.append(x)
                    x = F.max_pool2d(x, 2)
            x = self.drop(x)
            for up, dec in zip(self.up, self.dec, strict=True):
                x = up(x)
                x = dec(torch.cat([center_crop(skips.pop(), x.shape[-2:]), x], 1))
            return self.classifier(x)

    # C3D, dilated context module ---------------------------------------------------------
    def conv3d(c_in: int, c_out: int) -> list:
        return [nn.Conv3d(c_in, c_out, 3, padding=1), nn.ReLU()]

    c3d = seq(
        *conv3d(3, 64), nn.MaxPool3d((1, 2, 2)), *conv3d(64, 128), nn.MaxPool3d(2),
        *conv3d(128, 256), *conv3d(256, 256), nn.MaxPool3d(2),
        *conv3d(256, 512), *conv3d(512, 512), nn.MaxPool3d(2),
        *conv3d(512, 512), *conv3d(512, 512), nn.MaxPool3d(2, ceil_mode=True), nn.Flatten(),
        nn.Linear(8192, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(),
        nn.Dropout(), nn.Linear(4096, 487), nn.Softmax(1),
    )  # fmt: skip
    context = seq(
        *[m for d in (1, 1, 2, 4, 8, 16, 1) for m in (nn.Conv2d(21, 21, 3, padding=d, dilation=d),
                                                      nn.ReLU())],
        nn.Conv2d(21, 21, 1),
    )  # fmt: skip

    # SegNet ------------------------------------------------------------------------------
    def cbr(c_in: int, c_out: int) -> list:
        return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]

    class SegNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            stages = [[3, 64, 64], [64, 128, 128], [128, 256, 256, 256], [256, 512, 512, 512],
                      [512, 512, 512, 512]]  # fmt: skip
            decoder = [[512, 512, 512, 512], [512, 512, 512, 256], [256, 256, 256, 128],
                       [128, 128, 64], [64, 64]]  # fmt: skip
            self.enc = nn.ModuleList(
                seq(*[m for a, b in zip(s, s[1:], strict=False) for m in cbr(a, b)]) for s in stages
            )
            self.dec = nn.ModuleList(
                seq(*[m for a, b in zip(s, s[1:], strict=False) for m in cbr(a, b)])
                for s in decoder
            )
            self.classifier = nn.Conv2d(64, 11, 3, padding=1)

        def forward(self, x):
            indices, sizes = [], []
            for enc in self.enc:
                x = enc(x)
                sizes.append(x.shape[-2:])
                x, index = F.max_pool2d(x, 2, 2, ceil_mode=True, return_indices=True)
                indices.append(index)
            for dec in self.dec:
                x = dec(F.max_unpool2d(x, indices.pop(), 2, 2, output_size=sizes.pop()))
            return torch.softmax(self.classifier(x), 1)

    return {
        "lenet5": (lenet, (1, 32, 32)),
        "alexnet": (alexnet, (3, 224, 224)),
        "vgg16": (vgg16, (3, 224, 224)),
        "resnet18": (resnet(basic, [2, 2, 2, 2], 1), (3, 224, 224)),
        "resnet50": (resnet(bottleneck, [3, 4, 6, 3], 4), (3, 224, 224)),
        "mobilenet_v1": (mobilenet_v1, (3, 224, 224)),
        "mobilenet_v2": (mobilenet_v2, (3, 224, 224)),
        "shufflenet_v1": (shufflenet, (3, 224, 224)),
        "unet": (UNet(valid=True), (1, 572, 572)),
        "unet_same": (UNet(), (1, 512, 512)),
        "c3d": (c3d, (3, 16, 112, 112)),
        "dilated_context": (context, (21, 64, 64)),
        "fcn": (fcn, (3, 224, 224)),
        "segnet": (SegNet(), (3, 360, 480)),
        "sd_vae_down_block": (vae_down_block(128, 256), (128, 128, 128)),
        "se_block": (se_block, (256, 56, 56)),
        # torchvision's CNNs: the models of tests/torch_zoo/, written for tests/test_zoo.py.
        "shufflenet_v2_x1_0": (zoo["shufflenet_v2_x1_0"](), (3, 224, 224)),
        # Two inputs: a list of shapes, and the outputs a tuple.
        "siamese": (Siamese(), [(1, 105, 105), (1, 105, 105)]),
    }


# Specs with symbolic sizes (*_symbolic) are checked in tests/test_sizes.py and
# tests/test_symbolic.py, at sizes set.
ALL_SPECS = sorted(
    path.stem for path in SPECS.glob("*.yaml") if not path.stem.endswith("_symbolic")
)


# torchvision's models written as specs: tests/test_zoo.py checks them against
# torchvision's published figures and, layer by layer, against their PyTorch models.
ZOO_ONLY = sorted(set(ZOO) - {figure.spec for figure in PUBLISHED})


def test_every_spec_is_covered() -> None:
    """Every spec in specs/ is checked against something published.

    U-Net's published figures (23 conv layers, Fig. 1's map sizes) have tests of their own,
    for both specs;
    nothing is published for one block of Stable Diffusion's VAE, checked against its
    PyTorch twin here and in tests/test_norm.py; the specs of ZOO_ONLY are checked in
    tests/test_zoo.py. A spec without a PyTorch twin fails test_matches_pytorch.
    """
    covered = {figure.spec for figure in PUBLISHED} | {"unet", "unet_same", "sd_vae_down_block"}
    assert set(ALL_SPECS) == covered | set(ZOO_ONLY)
    assert len(ALL_SPECS) == 38


def twin(spec: str) -> tuple[Any, tuple[int, ...]]:
    """The spec's PyTorch twin and its input shape: one built here, else torchvision's model
    from tests/torch_zoo at the spec's input."""
    models = torch_models()
    if spec in models:
        return models[spec]
    import torch_zoo

    return torch_zoo.builders()[spec](), tuple(report(spec).input)


@cache
def torch_counts(spec: str) -> tuple[int, int, tuple[int, ...]]:
    """(params, MACs, output shape) of the spec's PyTorch twin, traced on the meta device."""
    torch = pytest.importorskip("torch")
    from torch import nn

    with torch.device("meta"):
        module, shape = twin(spec)
    macs = 0

    def count(layer, inputs, output) -> None:
        nonlocal macs
        if isinstance(layer, nn.modules.conv._ConvTransposeNd):
            taps = math.prod(layer.kernel_size)
            macs += inputs[0].numel() * layer.out_channels // layer.groups * taps
        elif isinstance(layer, nn.modules.conv._ConvNd):
            taps = math.prod(layer.kernel_size)
            macs += output.numel() * layer.in_channels // layer.groups * taps
        elif isinstance(layer, nn.Linear):
            macs += inputs[0].numel() // layer.in_features * layer.in_features * layer.out_features

    hooks = [m.register_forward_hook(count) for m in module.modules()]
    shapes = shape if isinstance(shape, list) else [shape]
    with torch.no_grad():
        output = module.eval()(*(torch.empty(1, *each, device="meta") for each in shapes))
    for hook in hooks:
        hook.remove()
    # A module called twice (shared weights) holds its parameters once.
    params = sum(p.numel() for p in module.parameters())
    outputs = output if isinstance(output, tuple) else (output,)
    return params, macs, tuple(tuple(out.shape[1:]) for out in outputs)


@pytest.mark.parametrize("spec", [spec for spec in ALL_SPECS if spec not in ZOO_ONLY])
def test_matches_pytorch(spec: str) -> None:
    """Params, MACs and output shape of each spec equal those of its PyTorch twin."""
    params, macs, shape = torch_counts(spec)
    rep = report(spec)
    assert rep.totals.params == params
    assert rep.totals.macs == macs
    assert tuple(row.output_shape for row in rep.output_rows) == shape
