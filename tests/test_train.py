"""Training figures (`shapes --train`) against PyTorch autograd and closed forms.

The oracle (tests/train_oracle.py) runs a training-mode forward of a PyTorch model and
counts what autograd does: each conv's and linear's backward MACs from whether its weight
and its input require a gradient, and the storages autograd saves for the backward
(`saved_tensors_hooks`, each once, parameters and buffers left out). The zoo's models are
the ones tests/test_zoo.py checks layer by layer, with torchvision's module paths, so the
per-layer backward MACs line up by name.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from convcalc.cli import app
from convcalc.commands import analyze_spec
from convcalc.training import Setup

# The zoo specs the training figures are checked on (issue list: the ones training users
# reach for), at torchvision's 224x224 and a batch of 2.
TRAIN_ZOO = (
    "resnet18",
    "resnet50",
    "mobilenet_v2",
    "densenet121",
    "efficientnet_b0",
    "mobilenet_v3_large",
    "shufflenet_v2_x1_0",
    "convnext_tiny",
    "squeezenet1_0",
    "googlenet",
)
BATCH = 2
SAVED_TOLERANCE = 0.01  # saved activations within 1% of autograd's


def train_report(spec, batch=BATCH, setup=None, **options):
    return analyze_spec(spec, batch=batch, training=setup or Setup(), **options)


@pytest.mark.parametrize("name", TRAIN_ZOO)
def test_zoo_against_autograd(name):
    torch = pytest.importorskip("torch")
    import train_oracle
    from torch_zoo import builders

    torch.manual_seed(0)
    model = builders()[name]()
    x = torch.randn(BATCH, 3, 224, 224)
    report = train_report(f"specs/{name}.yaml")
    by_name = {row.name: row for row in report.layers}

    measured = train_oracle.backward_macs(model, x)
    for layer, macs in measured.items():
        assert by_name[layer].backward_macs == macs, layer
    assert report.totals.backward_macs == sum(measured.values())

    saved = train_oracle.saved_bytes(model, x)
    assert report.totals.saved_activation_bytes == pytest.approx(saved, rel=SAVED_TOLERANCE)


def test_frozen_block_against_autograd():
    """A frozen stem (a block use with trainable: false) and a frozen conv: no weight
    gradient there, no input gradient below the first trainable layer."""
    torch = pytest.importorskip("torch")
    import train_oracle
    from torch import nn

    spec = {
        "name": "frozen",
        "input": [3, 32, 32],
        "blocks": {
            "stem": {
                "layers": [
                    {"name": "conv", "type": "conv", "out_channels": 8, "kernel_size": 3},
                    {"name": "bn", "type": "batchnorm"},
                    {"name": "relu", "type": "activation", "function": "relu"},
                ]
            }
        },
        "layers": [
            {"name": "stem", "type": "block", "use": "stem", "trainable": False},
            {"name": "pool", "type": "max_pool", "kernel_size": 2},
            {"name": "conv1", "type": "conv", "out_channels": 16, "kernel_size": 3},
            {"name": "act1", "type": "activation", "function": "silu"},
            {
                "name": "conv2",
                "type": "conv",
                "out_channels": 16,
                "kernel_size": 3,
                "trainable": False,
            },
            {"name": "gap", "type": "global_avg_pool"},
            {"name": "flat", "type": "flatten"},
            {"name": "drop", "type": "dropout", "p": 0.2},
            {"name": "fc", "type": "dense", "out_features": 10},
        ],
    }

    class Stem(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn, self.relu = nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU()

        def forward(self, x):
            return self.relu(self.bn(self.conv(x)))

    model = nn.Sequential()
    for name, module in (
        ("stem", Stem()),
        ("pool", nn.MaxPool2d(2)),
        ("conv1", nn.Conv2d(8, 16, 3)),
        ("act1", nn.SiLU()),
        ("conv2", nn.Conv2d(16, 16, 3)),
        ("gap", nn.AdaptiveAvgPool2d(1)),
        ("flat", nn.Flatten()),
        ("drop", nn.Dropout(0.2)),
        ("fc", nn.Linear(16, 10)),
    ):
        model.add_module(name, module)
    model.stem.requires_grad_(False)
    model.conv2.requires_grad_(False)
    x = torch.randn(4, 3, 32, 32)

    report = train_report(spec, batch=4)
    rows = {row.name: row for row in report.layers}
    measured = train_oracle.backward_macs(model, x)
    assert {name: rows[name].backward_macs for name in measured} == measured
    assert rows["stem.conv"].backward_macs == 0  # frozen, and its input is the network's
    # conv1 trains but reads the frozen stem: its weight gradient only.
    assert rows["conv1"].backward_macs == rows["conv1"].macs
    # conv2 is frozen but conv1 below it trains: its input gradient only.
    assert rows["conv2"].backward_macs == rows["conv2"].macs
    assert report.totals.saved_activation_bytes == train_oracle.saved_bytes(model, x)
    frozen = sum(rows[name].params for name in ("stem.conv", "stem.bn", "conv2"))
    assert report.totals.non_trainable_params == frozen
    assert report.totals.trainable_params == report.totals.params - frozen


def test_a_tensor_saved_twice_counts_once():
    """relu keeps its output and the conv after it keeps its input: the same tensor."""
    spec = {
        "name": "twice",
        "input": [3, 8, 8],
        "layers": [
            {"name": "a", "type": "conv", "out_channels": 4, "kernel_size": 1},
            {"name": "r", "type": "activation", "function": "relu"},
            {"name": "b", "type": "conv", "out_channels": 4, "kernel_size": 1},
        ],
    }
    report = train_report(spec, batch=1)
    values = 4 * 8 * 8 * 4  # one 4x8x8 float32 tensor
    rows = {row.name: row for row in report.layers}
    assert rows["a"].saved_bytes == 3 * 8 * 8 * 4  # the network input
    assert rows["r"].saved_bytes == values
    assert rows["b"].saved_bytes == 0  # r's output, counted at r
    assert report.totals.saved_activation_bytes == 3 * 8 * 8 * 4 + values


@pytest.mark.parametrize(
    ("optimizer", "amp", "state_bytes_per_param", "value_bytes"),
    [
        ("sgd", False, 0, 4),
        ("momentum", False, 4, 4),
        ("adam", False, 8, 4),
        ("adamw", False, 8, 4),
        ("adam", True, 12, 2),  # two float32 moments and a float32 master copy
    ],
)
def test_optimizer_and_precision(optimizer, amp, state_bytes_per_param, value_bytes):
    report = train_report("specs/resnet18.yaml", batch=1, setup=Setup(optimizer, amp))
    totals = report.totals
    trainable = totals.trainable_params
    assert totals.optimizer_state_bytes == state_bytes_per_param * trainable
    assert totals.gradient_bytes == value_bytes * trainable
    weights = (totals.params + totals.buffers) * value_bytes
    assert totals.train_peak_bytes == (
        weights
        + totals.gradient_bytes
        + totals.optimizer_state_bytes
        + totals.saved_activation_bytes
        + totals.backward_transient_bytes
    )


def test_training_figures_scale_with_the_batch():
    """Backward MACs and saved bytes are per sample, but batchnorm's statistics, which are
    one per channel for the batch (2 float32 per channel)."""
    one, four = (train_report("specs/resnet18.yaml", batch=batch) for batch in (1, 4))
    assert four.totals.backward_macs == 4 * one.totals.backward_macs
    channels = sum(row.output_shape[0] for row in one.layers if row.type == "batchnorm")
    statistics = 2 * channels * 4
    saved_one = one.totals.saved_activation_bytes - statistics
    assert four.totals.saved_activation_bytes - statistics == 4 * saved_one


def test_columns_sum_to_the_totals():
    report = train_report("specs/googlenet.yaml")
    totals = report.totals
    assert sum(row.backward_macs for row in report.layers) == totals.backward_macs
    assert sum(row.saved_bytes for row in report.layers) == totals.saved_activation_bytes
    assert totals.train_macs == totals.macs + totals.backward_macs


def test_symbolic_sizes_give_formulas():
    report = analyze_spec("specs/unet_same_symbolic.yaml", training=Setup())
    assert report.totals.train_peak_bytes is None  # a maximum over steps: set the sizes
    sized = analyze_spec(
        "specs/unet_same_symbolic.yaml", sizes={"H": 64, "W": 64}, training=Setup()
    )
    formula = report.totals.saved_activation_bytes
    sizes = {symbol: 64 for symbol in formula.free_symbols}  # H and W
    assert formula.subs(sizes) == sized.totals.saved_activation_bytes


def test_cli_train_json_and_refusals():
    runner = CliRunner()
    result = runner.invoke(
        app, ["shapes", "specs/resnet18.yaml", "--train", "--optimizer", "sgd", "-f", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["training"] == {"optimizer": "sgd", "amp": False}
    assert data["totals"]["optimizer_state_bytes"] == 0
    assert "saved_bytes" in data["layers"][0]

    plain = json.loads(runner.invoke(app, ["shapes", "specs/resnet18.yaml", "-f", "json"]).output)
    assert "saved_bytes" not in plain["layers"][0]
    assert "train_peak_bytes" not in plain["totals"]

    refused = runner.invoke(app, ["shapes", "specs/resnet18.yaml", "--columns", "saved"])
    assert refused.exit_code == 2
    assert "add --train" in refused.output
    bad = runner.invoke(app, ["shapes", "specs/resnet18.yaml", "--train", "--optimizer", "lion"])
    assert bad.exit_code == 2
    assert "unknown optimizer" in bad.output


def test_trainable_must_be_a_bool_on_a_block_use():
    from convcalc.errors import ConvCalcError

    spec = {
        "name": "bad",
        "input": [3, 8, 8],
        "blocks": {"b": {"layers": [{"type": "conv", "out_channels": 4, "kernel_size": 1}]}},
        "layers": [{"name": "x", "type": "block", "use": "b", "trainable": "no"}],
    }
    with pytest.raises(ConvCalcError, match="true or false"):
        analyze_spec(spec)


def test_every_layer_type_states_its_backward_rule():
    from convcalc.layers import LAYER_TYPES
    from convcalc.layers.base import Layer

    stated = {name for name, cls in LAYER_TYPES.items() if cls.backward is not Layer.backward}
    assert stated == set(LAYER_TYPES)


def test_every_spec_has_training_figures():
    from pathlib import Path

    for path in sorted(Path("specs").glob("*.yaml")):
        report = analyze_spec(path, training=Setup())
        assert report.totals.backward_macs is not None, path


# One layer after a conv (so that its input needs a gradient), in the spec and in PyTorch:
# the saved bytes of the two must be equal, rule by rule (autograd's, torch 2.13).
SINGLE_LAYERS = [
    ({"type": "avg_pool", "kernel_size": 2}, lambda nn: nn.AvgPool2d(2)),
    ({"type": "max_pool", "kernel_size": 3, "stride": 2}, lambda nn: nn.MaxPool2d(3, 2)),
    ({"type": "adaptive_avg_pool", "output_size": 3}, lambda nn: nn.AdaptiveAvgPool2d(3)),
    ({"type": "adaptive_avg_pool", "output_size": 1}, lambda nn: nn.AdaptiveAvgPool2d(1)),
    ({"type": "global_max_pool"}, lambda nn: nn.AdaptiveMaxPool2d(1)),
    (
        {"type": "upsample", "scale_factor": 2, "mode": "bilinear"},
        lambda nn: nn.Upsample(scale_factor=2, mode="bilinear"),
    ),
    ({"type": "group_norm", "num_groups": 2}, lambda nn: nn.GroupNorm(2, 8)),
    ({"type": "prelu", "num_parameters": 8}, lambda nn: nn.PReLU(8)),
    ({"type": "lrn", "size": 5}, lambda nn: nn.LocalResponseNorm(5)),
    ({"type": "pad", "padding": 1, "mode": "reflect"}, lambda nn: nn.ReflectionPad2d(1)),
    ({"type": "pad", "padding": 1, "mode": "replicate"}, lambda nn: nn.ReplicationPad2d(1)),
    (
        {
            "type": "conv",
            "out_channels": 4,
            "kernel_size": 3,
            "padding": 1,
            "padding_mode": "reflect",
        },
        lambda nn: nn.Conv2d(8, 4, 3, padding=1, padding_mode="reflect"),
    ),
    (
        {"type": "conv_transpose", "out_channels": 4, "kernel_size": 2, "stride": 2},
        lambda nn: nn.ConvTranspose2d(8, 4, 2, 2),
    ),
    ({"type": "activation", "function": "gelu"}, lambda nn: nn.GELU()),
    ({"type": "activation", "function": "sigmoid"}, lambda nn: nn.Sigmoid()),
    ({"type": "activation", "function": "hardswish"}, lambda nn: nn.Hardswish()),
    ({"type": "activation", "function": "elu"}, lambda nn: nn.ELU()),
    ({"type": "pixel_shuffle", "upscale_factor": 2}, lambda nn: nn.PixelShuffle(2)),
    ({"type": "dropout", "p": 0.5}, lambda nn: nn.Dropout(0.5)),
]


@pytest.mark.parametrize(("layer", "module"), SINGLE_LAYERS, ids=lambda item: str(item))
def test_single_layer_saves_what_autograd_saves(layer, module):
    torch = pytest.importorskip("torch")
    import train_oracle
    from torch import nn

    spec = {
        "name": "one",
        "input": [3, 12, 12],
        "layers": [
            {"name": "conv", "type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 1},
            {"name": "layer", **layer},
        ],
    }
    model = nn.Sequential()
    model.add_module("conv", nn.Conv2d(3, 8, 3, padding=1))
    model.add_module("layer", module(nn))
    x = torch.randn(2, 3, 12, 12)
    report = train_report(spec)
    assert report.totals.saved_activation_bytes == train_oracle.saved_bytes(model, x)
    measured = train_oracle.backward_macs(model, x)
    rows = {row.name: row for row in report.layers}
    assert {name: rows[name].backward_macs for name in measured} == measured
