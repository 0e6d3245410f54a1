"""Convolutions: params, MACs, connections and receptive fields against the seeds' figures."""

from __future__ import annotations

import pytest

from tests.conftest import run

# LeNet-5's C3 connection table (LeCun et al. 1998, Table I): output map -> input maps.
LENET_C3 = [
    [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [0, 4, 5], [0, 1, 5],
    [0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5], [0, 3, 4, 5], [0, 1, 4, 5], [0, 1, 2, 5],
    [0, 1, 3, 4], [1, 2, 4, 5], [0, 2, 3, 5],
    [0, 1, 2, 3, 4, 5],
]  # fmt: skip


def test_lenet_c1_params_and_connections():
    # Seed 000: (25 + 1) * 6 params and (25 + 1) * 6 * 28 * 28 connections.
    row = run([1, 32, 32], {"type": "conv", "out_channels": 6, "kernel_size": 5}).layers[0]
    assert row.output_shape == (6, 28, 28)
    assert row.params == (25 + 1) * 6 == 156
    assert row.connections == (25 + 1) * 6 * 28 * 28 == 122_304


def test_lenet_c3_connection_table():
    # LeCun et al. 1998: C3 has 1,516 trainable parameters and 151,600 connections.
    row = run(
        [6, 14, 14],
        {"type": "conv", "out_channels": 16, "kernel_size": 5, "connection_table": LENET_C3},
    ).layers[0]
    assert row.params == 1_516
    assert row.connections == 151_600
    assert row.macs == 60 * 25 * 10 * 10


@pytest.mark.parametrize(
    ("input_shape", "layer", "params", "source"),
    [
        # Seed 001, exercise 2: 3 -> 10 channels, 3x3 kernel, with bias: 280.
        ([3, 256, 256], {"out_channels": 10, "kernel_size": 3}, 280, "seed 001 ex. 2"),
        # Seed 002: a 3x3 kernel on 10 channels, 3 of them, no bias: 3*3*10*3.
        ([10, 32, 32], {"out_channels": 3, "kernel_size": 3, "bias": False}, 270, "seed 002"),
        # Seed 001: Conv2d(2, 3, kernel_size=(3, 5)): weight 3x2x3x5, bias 3.
        ([2, 3, 5], {"out_channels": 3, "kernel_size": [3, 5], "padding": [1, 2]}, 93, "seed 001"),
        # Seed 004, grouped conv: h*w*Din/2*Dout/2*2, half the ungrouped count.
        ([8, 9, 9], {"out_channels": 16, "kernel_size": 3, "groups": 2, "bias": False},
         3 * 3 * 4 * 8 * 2, "seed 004 grouped"),
        # Seed 004, 3D conv: a 3x3x3 kernel slides in depth too; params don't depend on it.
        ([1, 16, 16, 16], {"out_channels": 4, "kernel_size": 3}, 4 * 27 + 4, "seed 004 3D"),
    ],
)  # fmt: skip
def test_conv_params(input_shape, layer, params, source):
    assert run(input_shape, {"type": "conv", **layer}).layers[0].params == params, source


def test_seed_001_conv2d_example_shape():
    # X = torch.rand(4, 2, 3, 5); Conv2d(2, 3, kernel_size=(3, 5), padding=(1, 2)) -> 4x3x3x5.
    report = run(
        [2, 3, 5], {"type": "conv", "out_channels": 3, "kernel_size": [3, 5], "padding": [1, 2]},
        batch=4,
    )  # fmt: skip
    assert report.layers[0].output_shape == (3, 3, 5)
    assert report.batch == 4


def test_depthwise_separable_multiplications():
    # Seed 004: 7x7x3 to 5x5x128 costs 128*3*3*3*5*5 = 86,400 multiplications as a standard
    # 3x3 conv and 675 + 9,600 = 10,275 as a depthwise separable one.
    standard = run([3, 7, 7], {"type": "conv", "out_channels": 128, "kernel_size": 3})
    separable = run(
        [3, 7, 7],
        {"type": "separable_conv", "out_channels": 128, "kernel_size": 3, "bias": False},
    )
    assert standard.layers[0].output_shape == separable.layers[0].output_shape == (128, 5, 5)
    assert standard.totals.macs == 86_400
    depthwise, pointwise = separable.layers[0].parts
    assert (depthwise.cost.macs, pointwise.cost.macs) == (675, 9_600)
    assert separable.totals.macs == 10_275


def test_depthwise_separable_ratio():
    # Seed 004: separable / standard = 1/Nc + 1/h^2 (multiplications, valid padding).
    channels, kernel, out = 16, 3, 256
    standard = run([channels, 40, 40], {"type": "conv", "out_channels": out, "kernel_size": 3})
    separable = run(
        [channels, 40, 40],
        {"type": "separable_conv", "out_channels": out, "kernel_size": kernel},
    )
    ratio = separable.totals.macs / standard.totals.macs
    assert ratio == pytest.approx(1 / out + 1 / kernel**2)


def test_spatially_separable_multiplications():
    # Seed 004: on a 5x5 input a 3x3 kernel costs 9*9 = 81 multiplications, a 3x1 then a
    # 1x3 kernel 45 + 27 = 72.
    full = run([1, 5, 5], {"type": "conv", "out_channels": 1, "kernel_size": 3})
    split = run(
        [1, 5, 5],
        {"type": "conv", "out_channels": 1, "kernel_size": [3, 1]},
        {"type": "conv", "out_channels": 1, "kernel_size": [1, 3]},
    )
    assert full.totals.macs == 81
    assert [row.macs for row in split.layers] == [45, 27]
    assert split.layers[-1].output_shape == (1, 3, 3)
    assert split.layers[-1].receptive_field == full.layers[0].receptive_field == (3, 3)


def test_stacked_small_kernels_match_large_receptive_field():
    # Seed 002: two 3x3 layers see what one 5x5 sees with 18 instead of 25 weights (28%
    # fewer); three 3x3 layers replace a 7x7 with 27 instead of 49 (45% fewer).
    conv = {"type": "conv", "out_channels": 1, "bias": False}
    for stack, large in ((2, 5), (3, 7)):
        small = run([1, 32, 32], {**conv, "kernel_size": 3, "repeat": stack})
        big = run([1, 32, 32], {**conv, "kernel_size": large})
        assert small.layers[-1].receptive_field == big.layers[0].receptive_field
        assert small.layers[-1].output_shape == big.layers[0].output_shape
        saved = 1 - small.totals.params / big.totals.params
        assert round(saved * 100) == {2: 28, 3: 45}[stack]


def test_stacked_kernel_cost_per_position():
    # Seed 002: for an HxH input, two 3x3 layers cost about 18*H^2 MACs and a 5x5 25*H^2.
    size = 2000
    conv = {"type": "conv", "out_channels": 1, "bias": False}
    small = run([1, size, size], {**conv, "kernel_size": 3, "repeat": 2}).totals.macs
    big = run([1, size, size], {**conv, "kernel_size": 5}).totals.macs
    assert small == (size - 2) ** 2 * 9 + (size - 4) ** 2 * 9
    assert small / size**2 == pytest.approx(18, rel=0.01)
    assert big / size**2 == pytest.approx(25, rel=0.01)


@pytest.mark.parametrize(("dilation", "field"), [(1, 3), (2, 5), (4, 9)])
def test_dilated_kernel_receptive_field(dilation, field):
    # Seed 004: a 3x3 kernel with dilation rate l spans l*(3-1)+1 positions.
    row = run(
        [1, 32, 32],
        {"type": "conv", "out_channels": 1, "kernel_size": 3, "dilation": dilation},
    ).layers[0]
    assert row.receptive_field == (field, field)
    assert row.params == 10


def test_exponentially_dilated_stack():
    # Seed 004 (Yu & Koltun 2016): rates 1, 2, 4 stacked give fields 3x3, 7x7, 15x15.
    layers = [
        {"type": "conv", "out_channels": 1, "kernel_size": 3, "dilation": rate, "padding": rate}
        for rate in (1, 2, 4)
    ]
    report = run([1, 32, 32], *layers)
    assert [row.receptive_field[0] for row in report.layers] == [3, 7, 15]
    assert not report.notes  # no holes: each rate fills the gaps of the next


def test_gridding_is_noted():
    layers = [
        {"type": "conv", "out_channels": 1, "kernel_size": 3, "dilation": 2, "padding": 2}
    ] * 3
    report = run([1, 32, 32], *layers)
    assert report.layers[-1].receptive_field == (13, 13)
    assert any("gridding" in note for _, note in report.notes)


def test_even_kernel_symmetric_padding_is_noted():
    # Seed 002: a 2x2 kernel on 4x4 with padding 1 on both sides cannot keep the size.
    report = run([1, 4, 4], {"type": "conv", "out_channels": 1, "kernel_size": 2, "padding": 1})
    assert report.layers[0].output_shape == (1, 5, 5)
    assert any("even kernel" in note for _, note in report.notes)


def test_same_padding_asymmetric_for_strided_conv():
    # TensorFlow rule: n=7, k=3, s=2 -> ceil(7/2)=4 outputs, total padding 2, split 1/1;
    # n=8 -> 4 outputs, total padding 1, all after (so the field starts at 0).
    seven = run([1, 7], {"type": "conv", "out_channels": 1, "kernel_size": 3, "stride": 2,
                         "padding": "same"}).layers[0]  # fmt: skip
    eight = run([1, 8], {"type": "conv", "out_channels": 1, "kernel_size": 3, "stride": 2,
                         "padding": "same"}).layers[0]  # fmt: skip
    assert seven.output_shape == eight.output_shape == (1, 4)
    assert seven.effective_padding == (1,)
    assert eight.effective_padding == (0,)


def test_connections_exclude_padding_taps_but_macs_count_them():
    # 3x3 conv, padding 1 on 4x4: corner outputs see 4 real taps, edges 6, inside 9.
    row = run([1, 4, 4], {"type": "conv", "out_channels": 1, "kernel_size": 3, "padding": 1,
                          "bias": False}).layers[0]  # fmt: skip
    assert row.macs == 16 * 9
    assert row.connections == 4 * 4 + 8 * 6 + 4 * 9


def test_depthwise_multiplier():
    row = run([4, 8, 8], {"type": "depthwise_conv", "kernel_size": 3, "multiplier": 2}).layers[0]
    assert row.output_shape == (8, 6, 6)
    assert row.params == 8 * 9 + 8
    assert row.macs == 8 * 36 * 9
