"""Layer, group and instance norm and local response normalization (convcalc/layers/norm.py).

Closed forms of their params, buffers, FLOPs and connections; the one-line errors; the
whole-map receptive field of a normalization over the spatial dims; `verify` agreeing on
every check; symbolic sizes; and the Stable Diffusion VAE block of specs/ against PyTorch.
The PyTorch oracles of each layer are in tests/test_torch_oracle.py (shapes, params,
buffers, connections) and tests/test_reference_vs_torch.py (values).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from convcalc.errors import ConvCalcError
from convcalc.spec import build, load_path
from convcalc.verification import verify
from tests.conftest import run

SPECS = Path(__file__).resolve().parent.parent / "specs"

# On a 6x4x5 input: 120 values, 20 positions.
VALUES, POSITIONS, CHANNELS = 120, 20, 6


@pytest.mark.parametrize(
    ("layer", "params", "buffers", "flops", "connections"),
    [
        # 5 per value + 3 per group (here one group per position), + 2 with affine.
        pytest.param(
            {"type": "layer_norm"}, 12, 0, 7 * VALUES + 3 * POSITIONS, VALUES * CHANNELS,
            id="layer_norm",
        ),
        pytest.param(
            {"type": "layer_norm", "bias": False}, 6, 0, 6 * VALUES + 3 * POSITIONS,
            VALUES * CHANNELS, id="layer_norm-no-bias",
        ),
        pytest.param(
            {"type": "layer_norm", "elementwise_affine": False}, 0, 0,
            5 * VALUES + 3 * POSITIONS, VALUES * CHANNELS, id="layer_norm-no-affine",
        ),
        # nn.LayerNorm([6, 4, 5]): one group of every value, a weight and a bias of 120 each.
        pytest.param(
            {"type": "layer_norm", "over": "all"}, 240, 0, 7 * VALUES + 3, VALUES * VALUES,
            id="layer_norm-all",
        ),
        # 3 groups of 2 channels x 20 positions.
        pytest.param(
            {"type": "group_norm", "num_groups": 3}, 12, 0, 7 * VALUES + 3 * 3, VALUES * 40,
            id="group_norm",
        ),
        pytest.param(
            {"type": "group_norm", "num_groups": 6, "affine": False}, 0, 0,
            5 * VALUES + 3 * 6, VALUES * POSITIONS, id="group_norm-no-affine",
        ),
        # PyTorch's defaults: no affine, no running stats; one group per channel.
        pytest.param(
            {"type": "instance_norm"}, 0, 0, 5 * VALUES + 3 * CHANNELS, VALUES * POSITIONS,
            id="instance_norm",
        ),
        pytest.param(
            {"type": "instance_norm", "affine": True}, 12, 0, 7 * VALUES + 3 * CHANNELS,
            VALUES * POSITIONS, id="instance_norm-affine",
        ),
        # Eval mode uses the running stats: batchnorm, folded, joining no values.
        pytest.param(
            {"type": "instance_norm", "track_running_stats": True}, 0, 12, 2 * VALUES, 0,
            id="instance_norm-running-stats",
        ),
        # Windows [c-2, c+2] over 6 channels: 3 + 4 + 5 + 5 + 4 + 3 = 24 channels read.
        pytest.param(
            {"type": "lrn", "size": 5}, 0, 0, 9 * VALUES, 24 * POSITIONS,
            id="lrn-5",
        ),
        # An even size: [c-2, c+1], 2 + 3 + 4 + 4 + 4 + 3 = 20.
        pytest.param(
            {"type": "lrn", "size": 4, "k": 2}, 0, 0, 8 * VALUES,
            20 * POSITIONS, id="lrn-4",
        ),
    ],
)  # fmt: skip
def test_closed_forms(layer, params, buffers, flops, connections):
    row = run([CHANNELS, 4, 5], layer).layers[0]
    assert row.output_shape == (CHANNELS, 4, 5)
    assert (row.params, row.buffers, row.flops, row.connections) == (
        params,
        buffers,
        flops,
        connections,
    )
    assert row.macs == 0  # a per-value scale accumulates nothing (README's MAC convention)


def test_batch_multiplies_all_but_params_and_buffers():
    one = run([8, 3, 3], {"type": "group_norm", "num_groups": 2}).layers[0]
    four = run([8, 3, 3], {"type": "group_norm", "num_groups": 2}, batch=4).layers[0]
    assert (four.params, four.buffers) == (one.params, one.buffers)
    assert (four.flops, four.connections) == (4 * one.flops, 4 * one.connections)


def test_layer_and_group_norm_on_a_flat_input():
    # nn.LayerNorm(10) on (N, 10) and nn.GroupNorm(5, 10): groups of features.
    layer = run([10], {"type": "layer_norm"}).layers[0]
    assert (layer.params, layer.flops, layer.connections) == (20, 7 * 10 + 3, 100)
    assert run([10], {"type": "layer_norm", "over": "all"}).layers[0].params == 20
    group = run([10], {"type": "group_norm", "num_groups": 5}).layers[0]
    assert (group.params, group.flops, group.connections) == (20, 7 * 10 + 3 * 5, 20)
    assert layer.receptive_field == group.receptive_field == ()


@pytest.mark.parametrize(
    ("input_shape", "layer", "message"),
    [
        ([6, 4, 4], {"type": "group_norm", "num_groups": 4},
         "channels 6 are not divisible by num_groups 4"),
        ([6], {"type": "instance_norm"}, "instance_norm needs spatial dims"),
        ([6], {"type": "lrn", "size": 3}, "lrn needs spatial"),
        ([6, 1, 1], {"type": "instance_norm"}, "instance_norm of a single position"),
        ([6, 4], {"type": "layer_norm", "eps": 0}, "greater than 0"),
        ([6, 4], {"type": "layer_norm", "over": "width"}, "'channels' or 'all'"),
        ([6, 4], {"type": "lrn"}, "size"),
    ],
)  # fmt: skip
def test_mistakes_are_one_error(input_shape, layer, message):
    with pytest.raises(ConvCalcError, match=message):
        run(input_shape, layer)


def test_instance_norm_with_running_stats_takes_a_single_position():
    # PyTorch's eval mode then uses the running statistics, not the single value's.
    row = run([6, 1, 1], {"type": "instance_norm", "track_running_stats": True}).layers[0]
    assert row.buffers == 12


CONV = {"type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1}


@pytest.mark.parametrize(
    "layer",
    [
        {"type": "group_norm", "num_groups": 2},
        {"type": "instance_norm"},
        {"type": "layer_norm", "over": "all"},
    ],
    ids=lambda layer: layer["type"] + layer.get("over", ""),
)
def test_a_norm_over_the_map_makes_every_field_the_whole_map(layer):
    """After a padded 3x3 conv on 9x7, each output reads [-1, 9] x [-1, 7]: the union of
    every position's field (size 3 + 8, 3 + 6), which does not move (stride 0); a later
    strided conv cannot widen it."""
    report = run([4, 9, 7], CONV, layer, {**CONV, "stride": 2})
    conv, norm, after = report.layers
    assert conv.receptive_field == (3, 3)
    assert norm.receptive_field == after.receptive_field == (11, 9)
    assert norm.effective_stride == after.effective_stride == (0, 0)
    assert norm.effective_padding == after.effective_padding == (1, 1)


@pytest.mark.parametrize(
    "layer",
    [
        {"type": "layer_norm"},
        {"type": "lrn", "size": 3},
        {"type": "instance_norm", "track_running_stats": True},
    ],
    ids=lambda layer: layer["type"],
)
def test_a_norm_at_each_position_keeps_the_field(layer):
    conv, norm = run([4, 9, 7], CONV, layer).layers
    assert norm.receptive_field == conv.receptive_field
    assert norm.effective_stride == conv.effective_stride == (1, 1)


def test_a_skip_around_a_norm_joins_a_whole_map_field():
    """x + conv(group_norm(x)), ResNet-style: the union is the norm branch's whole map."""
    report = run(
        [4, 8, 8],
        {"name": "norm", "type": "group_norm", "num_groups": 2},
        {"name": "conv", **CONV},
        {"name": "sum", "type": "add", "inputs": ["conv", "input"]},
    )
    total = report.layers[-1]
    assert total.receptive_field == (8, 8)
    assert total.effective_stride == (Fraction(0), Fraction(0))


# verify: every check agrees, whatever the rank.

NORMS = [
    {"type": "layer_norm"},
    {"type": "layer_norm", "over": "all", "eps": 1e-3},
    {"type": "layer_norm", "bias": False},
    {"type": "group_norm", "num_groups": 2},
    {"type": "group_norm", "num_groups": 4, "affine": False},
    {"type": "instance_norm"},
    {"type": "instance_norm", "affine": True},
    {"type": "instance_norm", "affine": True, "track_running_stats": True},
    {"type": "lrn", "size": 3},
    {"type": "lrn", "size": 6, "alpha": 0.1, "beta": 0.5, "k": 2},
]


def agrees(spec: dict) -> None:
    verification = verify(build(spec))
    assert verification.ok, [
        f"{layer.name} {name}: {check.predicted} != {check.measured}"
        for layer, name, check in verification.mismatches
    ]


@pytest.mark.parametrize("layer", NORMS, ids=lambda layer: str(sorted(layer.items())))
@pytest.mark.parametrize("spatial", [[11], [7, 6], [4, 3, 5]], ids=["1d", "2d", "3d"])
def test_verify_agrees(layer, spatial):
    """Between convs, one padded and one strided, so the fields have padding to show."""
    agrees(
        {
            "input": [4, *spatial],
            "batch": 2,
            "layers": [CONV, layer, {**CONV, "stride": 2, "padding": 0, "kernel_size": 2}],
        }
    )


@pytest.mark.parametrize("layer", NORMS[:5], ids=lambda layer: str(sorted(layer.items())))
def test_verify_agrees_on_flat_inputs(layer):
    agrees(
        {
            "input": [3, 4],
            "batch": 2,
            "layers": [{"type": "flatten"}, layer, {"type": "dense", "out_features": 3}],
        }
    )


@st.composite
def norm_network(draw):
    """A random stack of convs, pools, upsampling, skips and normalizations."""
    dims = draw(st.integers(1, 3))
    spatial = [draw(st.integers(3, {1: 14, 2: 9, 3: 5}[dims])) for _ in range(dims)]
    layers: list[dict] = []
    for index in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["norm", "conv", "pool", "upsample", "skip"]))
        if kind == "norm":
            layers.append(dict(draw(st.sampled_from(NORMS))))
        elif kind == "conv":
            layers.append(
                {
                    "type": "conv",
                    "out_channels": 4,
                    "kernel_size": draw(st.integers(1, 3)),
                    "stride": draw(st.integers(1, 2)),
                    "padding": draw(st.integers(0, 1)),
                }
            )
        elif kind == "pool":
            layers.append({"type": "max_pool", "kernel_size": 2, "ceil_mode": True})
        elif kind == "upsample":
            layers.append({"type": "upsample", "scale_factor": 2})
        else:  # a padded conv beside the identity: a union with the previous field
            before = layers[-1]["name"] if layers else "input"
            layers.append({"name": f"side{index}", "inputs": [before], **CONV})
            layers.append({"type": "add", "inputs": [before, f"side{index}"]})
        layers[-1].setdefault("name", f"layer{index}")
    return {"input": [4, *spatial], "batch": 2, "layers": layers}


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(norm_network())
def test_random_networks_with_norms_agree(spec):
    try:
        network = build(spec)
        verification = verify(network)
    except ConvCalcError:
        assume(False)
        raise
    assert verification.ok, [
        f"{layer.name} {name}: {check.predicted} != {check.measured}"
        for layer, name, check in verification.mismatches
    ]


# Symbolic sizes: the formulas are the concrete figures.

SYMBOLIC = """\
input: [8, H, W]
layers:
  - {name: conv, type: conv, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: gn, type: group_norm, num_groups: 4}
  - {name: ln, type: layer_norm}
  - {name: all, type: layer_norm, over: all}
  - {name: in, type: instance_norm, affine: true}
  - {name: lrn, type: lrn, size: 5}
  - {name: tracked, type: instance_norm, track_running_stats: true}
"""


def test_symbolic_sizes_give_the_concrete_figures():
    pytest.importorskip("sympy")
    from convcalc.analysis import analyze
    from convcalc.spec import load_text
    from tests.test_symbolic import assert_same_figures

    network = load_text(SYMBOLIC)
    formulas = analyze(network)
    by_name = {row.name: row for row in formulas.layers}
    assert str(by_name["gn"].flops) == "56*H*W + 12"
    assert str(by_name["in"].connections) == "8*H**2*W**2"
    assert str(by_name["lrn"].connections) == "34*H*W"  # 3 + 4 + 5 + 5 + 5 + 5 + 4 + 3
    assert str(by_name["all"].params) == "16*H*W"
    assert any("grow with the input size" in note for note in by_name["all"].notes)
    # The whole map's field is known once the sizes are set, as a global pool's.
    assert by_name["gn"].receptive_field is None
    assert by_name["ln"].receptive_field is None
    for sizes in ({"H": 5, "W": 7}, {"H": 12, "W": 3}, {"H": 1, "W": 2}):
        concrete = analyze(network, (8, sizes["H"], sizes["W"]))
        assert_same_figures(formulas, concrete, sizes)


def test_symbolic_instance_norm_needs_two_positions():
    pytest.importorskip("sympy")
    from convcalc.analysis import analyze
    from convcalc.spec import load_text

    network = load_text("input: [2, L]\nlayers: [{name: in, type: instance_norm}]")
    (condition,) = analyze(network).layers[0].conditions
    assert str(condition.relation) == "L >= 2"
    with pytest.raises(ConvCalcError, match="single position"):
        analyze(network, (2, 1))


# specs/sd_vae_down_block.yaml: diffusers' DownEncoderBlock2D, against a PyTorch twin.


def test_sd_vae_down_block_totals():
    """Params of each GroupNorm 2 per channel, no buffers (GroupNorm tracks no statistics);
    the conv MACs of 3x3 and 1x1 convs at 128x128 and the stride-2 conv at 64x64."""
    from convcalc.analysis import analyze

    report = analyze(load_path(SPECS / "sd_vae_down_block.yaml"))
    conv3 = 9 * 128 * 128
    assert report.totals.macs == (
        conv3 * (128 * 256 + 3 * 256 * 256) + 128 * 128 * 128 * 256 + 9 * 64 * 64 * 256 * 256
    )
    assert report.totals.buffers == 0
    norms = [row for row in report.layers if row.type == "group_norm"]
    assert [row.params for row in norms] == [256, 512, 512, 512]
    assert report.layers[-1].output_shape == (256, 64, 64)


def test_sd_vae_down_block_matches_pytorch():
    """Params, buffers and output shape of the twin, and the reference forward's values with
    the twin loaded from `verify --save`'s arrays (its keys are the twin's module paths)."""
    torch = pytest.importorskip("torch")
    import numpy as np

    from convcalc.analysis import analyze
    from tests.test_published import torch_counts, vae_down_block

    report = analyze(load_path(SPECS / "sd_vae_down_block.yaml"))
    params, macs, output_shape = torch_counts("sd_vae_down_block")  # on the meta device
    assert (report.totals.params, report.totals.macs) == (params, macs)
    assert (report.layers[-1].output_shape,) == output_shape
    twin = vae_down_block(128, 256)
    assert report.totals.buffers == sum(buffer.numel() for buffer in twin.buffers()) == 0

    small = verify(load_path(SPECS / "sd_vae_down_block.yaml"), (128, 16, 12), keep_arrays=True)
    assert small.ok
    arrays = small.arrays
    state = {
        key.replace("/", "."): torch.from_numpy(array)
        for key, array in arrays.items()
        if "/" in key and not key.endswith("/output")
    }
    twin.load_state_dict(state, strict=True)
    with torch.no_grad():
        expected = twin.eval()(torch.from_numpy(arrays["input"])).numpy()
    actual = arrays["downsamplers.0.conv/output"]
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * scale)
