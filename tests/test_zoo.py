"""torchvision's CNNs as specs: published totals, and layer by layer against PyTorch.

Each spec in ZOO is torchvision's model builder of that name, with its layers named by
torchvision's module paths. Two independent checks:

- its totals equal the figures torchvision 0.28 publishes in each weight's meta
  (`num_params`, and `_ops`: GMACs of the conv and linear layers, in eval mode, at the
  input size of the spec), exactly: params to the unit, MACs to the three decimals printed;
- layer by layer it equals a PyTorch model written from torchvision's definition in
  tests/torch_zoo/ (skipped without torch): every module's parameters, every module call's
  output shape, and every conv's and linear's multiply-adds.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest

from convcalc.analysis import Report
from convcalc.commands import analyze_spec
from convcalc.spec import load_path
from convcalc.verification import verify

SPECS = Path(__file__).resolve().parent.parent / "specs"

# Layer types whose multiply-adds torchvision's `_ops` counts: convolutions and linear layers.
COUNTED = frozenset({"conv", "depthwise_conv", "conv_transpose", "dense"})
META = "torchvision 0.28, {}.IMAGENET1K_V1.meta (num_params, _ops)"
SEGMENTATION = "torchvision 0.28, {}.COCO_WITH_VOC_LABELS_V1.meta (num_params, _ops)"
VIDEO = "torchvision 0.28, {}.KINETICS400_V1.meta (num_params, _ops)"


@dataclass(frozen=True)
class Published:
    params: int
    gmacs: str  # as printed: "1.814"
    source: str
    # Layers that do not run in eval mode (inception_v3's AuxLogits), by name prefix:
    # their params count, their MACs are outside `_ops`.
    train_only: tuple[str, ...] = ()
    # The input of the value check against PyTorch: small, so that the NumPy reference runs
    # in a second or two, and large enough for every layer.
    small_input: tuple[int, ...] = (3, 64, 64)
    # The value check stops at this layer: past it, in a deep residual stack, verify's random
    # weights grow float32 rounding beyond the tolerance (EfficientNetV2-S: 2e-4 of the
    # values by features.5.1, 1e-2 by features.6.7, steadily, with no layer out of line).
    values_until: str | None = None


ZOO: dict[str, Published] = {
    "alexnet": Published(61_100_840, "0.714", META.format("AlexNet_Weights")),
    "resnet18": Published(11_689_512, "1.814", META.format("ResNet18_Weights")),
    "regnet_y_400mf": Published(4_344_144, "0.402", META.format("RegNet_Y_400MF_Weights")),
    "regnet_x_400mf": Published(5_495_976, "0.414", META.format("RegNet_X_400MF_Weights")),
    "convnext_tiny": Published(28_589_128, "4.456", META.format("ConvNeXt_Tiny_Weights")),
    "densenet121": Published(7_978_856, "2.834", META.format("DenseNet121_Weights")),
    "googlenet": Published(6_624_904, "1.498", META.format("GoogLeNet_Weights")),
    "shufflenet_v2_x1_0": Published(2_278_604, "0.145", META.format("ShuffleNet_V2_X1_0_Weights")),
    "resnet50": Published(25_557_032, "4.089", META.format("ResNet50_Weights")),
    "resnext50_32x4d": Published(25_028_904, "4.23", META.format("ResNeXt50_32X4D_Weights")),
    "squeezenet1_0": Published(1_248_424, "0.819", META.format("SqueezeNet1_0_Weights")),
    "squeezenet1_1": Published(1_235_496, "0.349", META.format("SqueezeNet1_1_Weights")),
    "vgg16": Published(138_357_544, "15.47", META.format("VGG16_Weights")),
    "wide_resnet50_2": Published(68_883_240, "11.398", META.format("Wide_ResNet50_2_Weights")),
    "efficientnet_v2_s": Published(
        21_458_488,
        "8.366",
        META.format("EfficientNet_V2_S_Weights"),
        values_until="features.5.0.block.0.0",
    ),
    "lraspp_mobilenet_v3_large": Published(
        3_221_538, "2.086", SEGMENTATION.format("LRASPP_MobileNet_V3_Large_Weights")
    ),
    "mnasnet1_0": Published(4_383_312, "0.314", META.format("MNASNet1_0_Weights")),
    "mobilenet_v2": Published(3_504_872, "0.301", META.format("MobileNet_V2_Weights")),
    "efficientnet_b0": Published(5_288_548, "0.386", META.format("EfficientNet_B0_Weights")),
    "mobilenet_v3_large": Published(5_483_032, "0.217", META.format("MobileNet_V3_Large_Weights")),
    "mobilenet_v3_small": Published(2_542_856, "0.057", META.format("MobileNet_V3_Small_Weights")),
    "deeplabv3_resnet50": Published(
        42_004_074, "178.722", SEGMENTATION.format("DeepLabV3_ResNet50_Weights")
    ),
    "fcn_resnet50": Published(35_322_218, "152.717", SEGMENTATION.format("FCN_ResNet50_Weights")),
    # The aux head's 5x5 conv needs Mixed_6e's 17x17 grid: 299 is the smallest input.
    "inception_v3": Published(
        27_161_264,
        "5.713",
        META.format("Inception_V3_Weights"),
        train_only=("AuxLogits.",),
        small_input=(3, 299, 299),
    ),
    "r2plus1d_18": Published(
        31_505_325, "40.519", VIDEO.format("R2Plus1D_18_Weights"), small_input=(3, 4, 32, 32)
    ),
    # S3D's 2x7x7 average pool needs 14 frames of 224x224 (its weights' min_size).
    "s3d": Published(
        8_320_048, "17.979", VIDEO.format("S3D_Weights"), small_input=(3, 14, 224, 224)
    ),
}


@cache
def report(spec: str) -> Report:
    return analyze_spec(SPECS / f"{spec}.yaml")


def eval_macs(spec: str) -> int:
    """Multiply-adds of the conv and linear layers that run in eval mode."""
    skipped = ZOO[spec].train_only
    return sum(
        row.macs
        for row in report(spec).layers
        if row.type in COUNTED and not any(row.name.startswith(prefix) for prefix in skipped)
    )


@pytest.mark.parametrize("spec", sorted(ZOO))
def test_params_equal_torchvision_num_params(spec: str) -> None:
    assert report(spec).totals.params == ZOO[spec].params, ZOO[spec].source


@pytest.mark.parametrize("spec", sorted(ZOO))
def test_macs_equal_torchvision_ops(spec: str) -> None:
    printed = Decimal(ZOO[spec].gmacs)
    decimals = max(3, -printed.as_tuple().exponent)  # "15.47" is 15.470 printed short
    assert round(Decimal(eval_macs(spec)) / 10**9, decimals) == printed, ZOO[spec].source


@pytest.mark.parametrize("spec", sorted(name for name, row in ZOO.items() if row.train_only))
def test_train_only_layers_are_outside_torchvision_ops(spec: str) -> None:
    """With its train-only layers' MACs the total misses the printed figure: they are
    left out of it, not a rounding away."""
    every = sum(row.macs for row in report(spec).layers if row.type in COUNTED)
    assert every > eval_macs(spec)
    assert round(Decimal(every) / 10**9, 3) != Decimal(ZOO[spec].gmacs), ZOO[spec].source


def torch_builders() -> dict:
    pytest.importorskip("torch")
    import torch_zoo

    return torch_zoo.builders()


@pytest.fixture(scope="module")
def builders() -> dict:
    return torch_builders()


@pytest.mark.parametrize("spec", sorted(ZOO))
def test_layers_equal_pytorch(spec: str, builders: dict) -> None:
    import torch_zoo

    rep = report(spec)
    rows = {row.name: row for row in rep.layers}
    # Layers that run only in training are checked too, in a trace in training mode.
    traced = torch_zoo.trace(builders[spec](), rep.input, training=bool(ZOO[spec].train_only))

    # Parameters: each belongs to the layer named by its module's path (a module's own
    # parameter, ConvNeXt's layer_scale, to the layer named path.layer_scale).
    owned: dict[str, int] = {}
    for key, count in traced.params.items():
        module, _, _ = key.rpartition(".")
        owner = module if module in rows else key
        assert owner in rows, f"{spec}: no layer for parameter {key}"
        owned[owner] = owned.get(owner, 0) + count
    with_params = {name: row.params for name, row in rows.items() if row.params}
    assert with_params == owned

    # Every call of every leaf module is a layer, with the same output shape and MACs.
    for path, calls in traced.calls.items():
        for number, call in enumerate(calls):
            name = torch_zoo.layer_name(path, number)
            if name not in rows:
                assert path not in traced.leaves, f"{spec}: no layer for {name}"
                continue
            if call.output_shape is not None:
                assert tuple(rows[name].output_shape) == call.output_shape, name
            if call.macs is not None:
                assert rows[name].macs == call.macs, name


@pytest.mark.parametrize("spec", sorted(ZOO))
def test_reference_values_equal_pytorch(spec: str, builders: dict) -> None:
    """`verify` passes at a small input size, and its NumPy reference's output of every layer
    equals PyTorch's, on the weights and the input that `verify --save` writes."""
    import numpy as np
    import torch_zoo

    network = load_path(SPECS / f"{spec}.yaml")
    verification = verify(network, input_shape=ZOO[spec].small_input, keep_arrays=True)
    failed = [(layer.name, name) for layer in verification.layers
              for name, check in layer.checks.items() if not check.ok]  # fmt: skip
    assert not failed, failed  # every figure measured equals its prediction
    arrays = verification.arrays
    model = builders[spec]()
    torch_zoo.load_saved(model, arrays)
    names = [layer.name for layer in network.layers]
    until = ZOO[spec].values_until
    checked = set(names[: names.index(until)] if until else names)
    compared = 0
    for path, calls in torch_zoo.outputs(model, arrays["input"]).items():
        for number, (output, input_scale) in enumerate(calls):
            name = torch_zoo.layer_name(path, number)
            key = f"{name}/output"
            if name not in checked or key not in arrays or not hasattr(output, "numpy"):
                continue
            expected = output.numpy()
            scale = max(1.0, float(np.abs(expected).max()), input_scale)
            assert np.abs(arrays[key] - expected).max() <= 1e-3 * scale, key
            compared += 1
    assert compared >= len(checked) // 2  # most layers are a module's call


def test_trace_compares_channels_last_calls_channels_first() -> None:
    """Between a Permute to channels-last and the one back, a call's shape is recorded
    with its last dim first; the Permutes themselves are not layers."""
    torch = pytest.importorskip("torch")
    import torch_zoo

    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 1),
        torch_zoo.Permute([0, 2, 3, 1]),
        torch.nn.LayerNorm(8),
        torch.nn.Linear(8, 16),
        torch_zoo.Permute([0, 3, 1, 2]),
        torch.nn.ReLU(),
    )
    traced = torch_zoo.trace(model, (3, 5, 7))
    assert traced.leaves == {"0", "2", "3", "5"}
    assert set(traced.calls) == {"0", "2", "3", "5"}
    assert traced.calls["2"][0].output_shape == (8, 5, 7)
    # A Linear over each position's channels: 5 x 7 positions x 8 inputs x 16 outputs.
    assert traced.calls["3"][0] == torch_zoo.Call((16, 5, 7), 5 * 7 * 8 * 16)
    assert traced.calls["5"][0].output_shape == (16, 5, 7)
