"""specs/shufflenet_v2_x1_0.yaml against torchvision's published figures and against a
PyTorch model written here from torchvision's definition (torchvision/models/
shufflenetv2.py; torchvision itself is not imported), module by module."""

from __future__ import annotations

import math
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest

from convcalc.analysis import Report
from convcalc.commands import analyze_spec
from convcalc.verification import verify_path

SPEC = Path(__file__).resolve().parent.parent / "specs" / "shufflenet_v2_x1_0.yaml"

# torchvision, ShuffleNet_V2_X1_0_Weights.IMAGENET1K_V1.meta: "num_params": 2278604,
# "_ops": 0.145 (GMACs of its conv and linear layers at 224x224).
PUBLISHED_PARAMS = 2_278_604
PUBLISHED_GMACS = "0.145"
# Layer types whose MACs torchvision's "_ops" counts: convolutions and linear layers.
CONV_AND_DENSE = {"conv", "depthwise_conv", "dense"}
# Steps of the spec that are no modules in torchvision (x.chunk, torch.cat, the
# channel_shuffle function, x.mean([2, 3]) and the flatten it implies).
NOT_MODULES = {"split", "concat", "channel_shuffle", "global_avg_pool", "flatten"}


@cache
def report() -> Report:
    return analyze_spec(SPEC)


def test_params_are_torchvisions():
    assert report().totals.params == PUBLISHED_PARAMS


def test_conv_and_dense_macs_round_to_torchvisions():
    """0.145 G printed: anything in [0.1445, 0.1455) G."""
    macs = sum(row.macs for row in report().layers if row.type in CONV_AND_DENSE)
    assert macs == report().totals.macs  # MACs are conv and dense ones only (README)
    published = Decimal(PUBLISHED_GMACS) * 10**9
    half_unit = Decimal("0.0005") * 10**9
    assert published - half_unit <= macs < published + half_unit


def test_stage_outputs_are_torchvisions_stage_out_channels():
    """stages_out_channels [24, 116, 232, 464, 1024] at 56, 28, 14, 7, 7 positions."""
    rows = {row.name: row.output_shape for row in report().layers}
    assert rows["maxpool"] == (24, 56, 56)
    assert rows["stage2.3.shuffle"] == (116, 28, 28)
    assert rows["stage3.7.shuffle"] == (232, 14, 14)
    assert rows["stage4.3.shuffle"] == (464, 7, 7)
    assert rows["conv5.2"] == (1024, 7, 7)
    assert rows["fc"] == (1000,)


def test_verify_agrees():
    verification = verify_path(SPEC)
    assert verification.ok, [
        f"{layer.name} {name}: {check.predicted} != {check.measured}"
        for layer, name, check in verification.mismatches
    ]


def shufflenet_v2_x1_0():
    """torchvision's ShuffleNetV2 with stages_repeats [4, 8, 4] and stages_out_channels
    [24, 116, 232, 464, 1024], its modules named as torchvision names them."""
    torch = pytest.importorskip("torch")
    from torch import nn

    def channel_shuffle(x, groups: int):
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

        def forward(self, x):
            if self.stride == 1:
                x1, x2 = x.chunk(2, dim=1)
                out = torch.cat((x1, self.branch2(x2)), dim=1)
            else:
                out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
            return channel_shuffle(out, 2)

    class ShuffleNetV2(nn.Module):
        def __init__(self, repeats: list[int], out_channels: list[int]) -> None:
            super().__init__()
            channels = out_channels[0]
            self.conv1 = nn.Sequential(
                nn.Conv2d(3, channels, 3, 2, 1, bias=False), nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            )  # fmt: skip
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            for stage, count, width in zip((2, 3, 4), repeats, out_channels[1:], strict=False):
                units = [InvertedResidual(channels, width, 2)]
                units += [InvertedResidual(width, width, 1) for _ in range(count - 1)]
                setattr(self, f"stage{stage}", nn.Sequential(*units))
                channels = width
            self.conv5 = nn.Sequential(
                nn.Conv2d(channels, out_channels[-1], 1, 1, 0, bias=False),
                nn.BatchNorm2d(out_channels[-1]), nn.ReLU(inplace=True),
            )  # fmt: skip
            self.fc = nn.Linear(out_channels[-1], 1000)

        def forward(self, x):
            x = self.conv1(x)
            x = self.maxpool(x)
            x = self.stage4(self.stage3(self.stage2(x)))
            x = self.conv5(x)
            return self.fc(x.mean([2, 3]))

    return ShuffleNetV2([4, 8, 4], [24, 116, 232, 464, 1024]), InvertedResidual


@cache
def traced():
    """(params, output shape of its first call, MACs of conv and linear) per module name of
    the PyTorch model, run once on the meta device at 3x224x224."""
    torch = pytest.importorskip("torch")
    from torch import nn

    with torch.device("meta"):
        model, unit = shufflenet_v2_x1_0()
    found: dict[str, tuple[int, tuple[int, ...], int]] = {}

    def record(name: str):
        def hook(module, inputs, output) -> None:
            if name in found:
                return
            macs = 0
            if isinstance(module, nn.Conv2d):
                taps = math.prod(module.kernel_size)
                macs = output.numel() * module.in_channels // module.groups * taps
            elif isinstance(module, nn.Linear):
                macs = module.in_features * module.out_features * output.shape[0]
            params = sum(p.numel() for p in module.parameters())
            found[name] = (params, tuple(output.shape[1:]), macs)

        return hook

    modules = {
        name: module
        for name, module in model.named_modules()
        if name and (not list(module.children()) or isinstance(module, unit))
    }
    hooks = [module.register_forward_hook(record(name)) for name, module in modules.items()]
    with torch.no_grad():
        model.eval()(torch.empty(1, 3, 224, 224, device="meta"))
    for hook in hooks:
        hook.remove()
    units = {name for name, module in modules.items() if isinstance(module, unit)}
    total_params = sum(p.numel() for p in model.parameters())
    return found, units, total_params


def test_every_module_is_the_spec_layer_of_its_name():
    """Each module of torchvision's model (its name: stage2.0.branch1.0) is the spec layer
    of the same name, with the same params and the output shape of its first call; each
    unit (stage2.0) has the params of the spec's layers in it and ends in its
    `<unit>.shuffle`; and the spec has no other layers
    than the modules and the steps that are functions in torchvision."""
    found, units, total_params = traced()
    rows = {row.name: row for row in report().layers}
    for name, (params, shape, _) in found.items():
        if name in units:
            inside = sum(row.params for row in rows.values() if row.name.startswith(f"{name}."))
            assert (inside, rows[f"{name}.shuffle"].output_shape) == (params, shape), name
        else:
            assert (rows[name].params, rows[name].output_shape) == (params, shape), name
    modules = {name for name in found if name not in units}
    assert {name for name, row in rows.items() if row.type not in NOT_MODULES} == modules
    assert report().totals.params == total_params


def test_macs_are_the_pytorch_models():
    found, _, _ = traced()
    rows = {row.name: row for row in report().layers}
    for name, (_, _, macs) in found.items():
        if macs:
            assert rows[name].macs == macs, name
    assert report().totals.macs == sum(macs for _, _, macs in found.values())
