"""Dense, flatten, activation, prelu, scale, batchnorm, dropout, pad, channel shuffle, add,
multiply and concat."""

from __future__ import annotations

import pytest

from convcalc.errors import ConvCalcError
from convcalc.layers.elementwise import ACTIVATION_FLOPS
from tests.conftest import run


def test_dense_on_a_flattened_image():
    # Seed 001, exercise 1: a 256x256 RGB image fully connected to 1000 units with bias:
    # 3*256*256*1000 + 1000 = 196,609,000 params.
    report = run([3, 256, 256], {"type": "flatten"}, {"type": "dense", "out_features": 1000})
    dense = report.layers[-1]
    assert dense.params == 196_609_000
    assert dense.macs == 3 * 256 * 256 * 1000
    assert dense.connections == dense.params  # LeNet F6: connections = weights + biases


def test_lenet_f6():
    # LeCun et al. 1998: F6 has 84 * (120 + 1) = 10,164 params.
    assert run([120], {"type": "dense", "out_features": 84}).totals.params == 10_164


def test_dense_needs_flat_input():
    with pytest.raises(ConvCalcError, match="add a flatten layer"):
        run([3, 8, 8], {"type": "dense", "out_features": 10})


def test_pointwise_conv_is_dense_over_channels():
    # Seed 001: a 1x1 conv acts as a dense layer on the channels at every position.
    conv = run([3, 5, 5], {"type": "conv", "out_channels": 2, "kernel_size": 1}).layers[0]
    dense = run([3], {"type": "dense", "out_features": 2}).layers[0]
    assert conv.params == dense.params
    assert conv.macs == 25 * dense.macs


@pytest.mark.parametrize("function", sorted(ACTIVATION_FLOPS))
def test_activation_flops_per_value(function):
    row = run([2, 3, 3], {"type": "activation", "function": function}).layers[0]
    assert row.flops == ACTIVATION_FLOPS[function] * 18
    assert row.params == row.macs == row.connections == 0


def test_fused_activation_adds_flops_only():
    plain = run([1, 6, 6], {"type": "conv", "out_channels": 2, "kernel_size": 3}).layers[0]
    fused = run([1, 6, 6], {"type": "conv", "out_channels": 2, "kernel_size": 3,
                            "activation": "relu"}).layers[0]  # fmt: skip
    assert fused.flops - plain.flops == 2 * 16
    assert (fused.params, fused.macs) == (plain.params, plain.macs)
    # FLOPs of a conv: 2 per MAC plus one bias add per output value.
    assert plain.flops == 2 * plain.macs + 2 * 16


@pytest.mark.parametrize(
    ("function", "flops"),
    [("hardsigmoid", 4), ("elu", 4), ("selu", 5), ("mish", 5), ("softplus", 5), ("identity", 0)],
)
def test_flops_of_the_added_activations_on_their_textbook_formulas(function, flops):
    # hardsigmoid min(max(x + 3, 0), 6) / 6; elu x if x > 0 else alpha*(exp(x) - 1); selu
    # a scale times elu; mish x * tanh(log(1 + exp(x))); softplus log(1 + exp(beta x)) / beta.
    assert ACTIVATION_FLOPS[function] == flops
    fused = run([1, 6, 6], {"type": "conv", "out_channels": 2, "kernel_size": 3,
                            "activation": function}).layers[0]  # fmt: skip
    plain = run([1, 6, 6], {"type": "conv", "out_channels": 2, "kernel_size": 3}).layers[0]
    assert fused.flops - plain.flops == flops * 2 * 16


@pytest.mark.parametrize(("num_parameters", "params"), [(1, 1), (16, 16)])
def test_prelu_holds_one_slope_or_one_per_channel(num_parameters, params):
    row = run([16, 5, 5], {"type": "prelu", "num_parameters": num_parameters}).layers[0]
    assert row.output_shape == (16, 5, 5)
    assert (row.params, row.buffers, row.macs, row.connections) == (params, 0, 0, 0)
    # x if x >= 0 else a*x (He et al. 2015, eq. 1): a comparison and a multiply.
    assert row.flops == 2 * 16 * 25
    assert run([10], {"type": "prelu"}).layers[0].params == 1


def test_prelu_refuses_a_slope_count_that_is_neither_1_nor_the_channels():
    with pytest.raises(ConvCalcError, match="num_parameters 4 is neither 1 nor the input's 16"):
        run([16, 5, 5], {"type": "prelu", "num_parameters": 4})


def test_scale_is_one_learnable_factor_per_channel():
    # ConvNeXt's layer scale on a 96x56x56 stage: 96 params, one multiply per value, no MAC.
    row = run([96, 56, 56], {"type": "scale"}).layers[0]
    assert row.output_shape == (96, 56, 56)
    assert (row.params, row.macs, row.flops, row.connections) == (96, 0, 96 * 56 * 56, 0)
    assert run([7], {"type": "scale"}).layers[0].params == 7


def test_batchnorm_params_and_buffers():
    row = run([64, 8, 8], {"type": "batchnorm"}).layers[0]
    assert (row.params, row.buffers) == (128, 128)
    assert row.flops == 2 * 64 * 64


def test_dropout_and_shuffle_are_free():
    report = run([6, 4, 4], {"type": "dropout", "p": 0.5},
                 {"type": "channel_shuffle", "groups": 3})  # fmt: skip
    assert report.totals.flops == report.totals.params == 0
    with pytest.raises(ConvCalcError, match="not divisible by groups 4"):
        run([6, 4, 4], {"type": "channel_shuffle", "groups": 4})


def test_pad_layer():
    row = run([1, 5, 5], {"type": "pad", "padding": [[1, 2], 0]}).layers[0]
    assert row.output_shape == (1, 8, 5)
    assert row.effective_padding == (1, 0)


def test_add_and_concat():
    report = run(
        [4, 8, 8],
        {"name": "a", "type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"name": "b", "type": "conv", "out_channels": 4, "kernel_size": 1, "inputs": ["input"]},
        {"name": "sum", "type": "add", "inputs": ["a", "b", "input"]},
        {"name": "cat", "type": "concat", "inputs": ["sum", "a"]},
    )
    by_name = {row.name: row for row in report.layers}
    assert by_name["sum"].output_shape == (4, 8, 8)
    assert by_name["sum"].flops == 2 * 256
    assert by_name["cat"].output_shape == (8, 8, 8)
    # Union of fields: the 3x3 branch dominates the 1x1 and the identity.
    assert by_name["sum"].receptive_field == (3, 3)
    assert by_name["sum"].effective_padding == (1, 1)
    with pytest.raises(ConvCalcError, match="shapes differ"):
        run([4, 8, 8], {"name": "a", "type": "conv", "out_channels": 4, "kernel_size": 3},
            {"type": "add", "inputs": ["a", "input"]})  # fmt: skip


def test_flatten_then_dense_sees_whole_input():
    report = run([1, 6, 6], {"type": "conv", "out_channels": 2, "kernel_size": 3},
                 {"type": "flatten"}, {"type": "dense", "out_features": 3})  # fmt: skip
    assert report.layers[-1].receptive_field == (6, 6)


# The squeeze-and-excitation gate of Hu et al. 2018 on an 8x6x6 input: x is a valid 3x3 conv
# (8x4x4), the gate a global pool of x, a 1x1 conv and a sigmoid (8x1x1).
SE_GATE = (
    {"name": "x", "type": "conv", "out_channels": 8, "kernel_size": 3},
    {"name": "squeeze", "type": "global_avg_pool"},
    {"name": "gate", "type": "conv", "out_channels": 8, "kernel_size": 1, "activation": "sigmoid"},
)


def test_multiply_broadcasts_the_se_gate_over_the_map():
    scale = {"name": "scaled", "type": "multiply", "inputs": ["x", "gate"]}
    report = run([8, 6, 6], *SE_GATE, scale)
    scaled = report.layers[-1]
    assert scaled.output_shape == (8, 4, 4)
    # One product per output value, no MAC (no weight); each output joins its 2 operands.
    assert (scaled.params, scaled.macs, scaled.flops) == (0, 0, 128)
    assert scaled.connections == 2 * 128
    # Every output reads the gate, which read all of x: the field is the gate's, the whole
    # 6x6 input, and it stays put as the output position moves (stride 0).
    assert scaled.receptive_field == (6, 6)
    assert scaled.effective_stride == (0, 0)
    assert scaled.effective_padding == (0, 0)


def test_a_field_that_holds_still_stays_so_through_a_residual_and_a_conv():
    report = run(
        [8, 6, 6],
        *SE_GATE,
        {"name": "scaled", "type": "multiply", "inputs": ["gate", "x"]},
        {"name": "sum", "type": "add", "inputs": ["scaled", "x"]},
        {"name": "after", "type": "conv", "out_channels": 2, "kernel_size": 3, "stride": 2},
    )
    by_name = {row.name: row for row in report.layers}
    assert by_name["scaled"].output_shape == (8, 4, 4)  # the order of the inputs is free
    # The union of the whole map (still) and x's 3x3 windows (moving) is the whole map.
    assert by_name["sum"].receptive_field == (6, 6)
    assert by_name["sum"].effective_stride == (0, 0)
    # A stride of 0 adds nothing: r' = r + (k-1)*0.
    assert by_name["after"].receptive_field == (6, 6)
    assert by_name["after"].effective_stride == (0, 0)


def test_add_broadcasts_a_single_channel_and_a_global_tensor():
    report = run(
        [4, 5, 3],
        {"name": "one_channel", "type": "conv", "out_channels": 1, "kernel_size": 1},
        {"name": "context", "type": "global_max_pool", "inputs": ["input"]},
        {"name": "sum", "type": "add", "inputs": ["one_channel", "input", "context"]},
    )
    total = report.layers[-1]
    assert total.output_shape == (4, 5, 3)
    assert (total.flops, total.connections) == (2 * 60, 3 * 60)
    # The global context read the whole map: so does every output, which no longer moves.
    assert total.receptive_field == (5, 3)
    assert total.effective_stride == (0, 0)
    # A channel broadcast alone leaves the field as the union of the operands' fields.
    only_channels = run(
        [4, 5, 3],
        {"name": "one_channel", "type": "conv", "out_channels": 1, "kernel_size": 3,
         "padding": 1},
        {"name": "sum", "type": "multiply", "inputs": ["one_channel", "input"]},
    ).layers[-1]  # fmt: skip
    assert (only_channels.receptive_field, only_channels.effective_stride) == ((3, 3), (1, 1))


def test_a_single_row_is_not_broadcast_over_a_map():
    # PyTorch would broadcast a 4x1x3 row over a 4x5x3 map; convcalc wants a global tensor.
    with pytest.raises(ConvCalcError, match="spatial sizes equal or all 1"):
        run([4, 5, 3], {"name": "row", "type": "adaptive_avg_pool", "output_size": [1, 3]},
            {"type": "add", "inputs": ["row", "input"]})  # fmt: skip


def test_wavenet_gating_multiplies_two_branches_of_one_shape():
    # van den Oord et al. 2016, eq. 2: tanh(W_f * x) * sigmoid(W_g * x).
    report = run(
        [16, 100],
        {"name": "filter", "type": "conv", "out_channels": 16, "kernel_size": 2, "dilation": 4,
         "activation": "tanh"},
        {"name": "gate", "type": "conv", "out_channels": 16, "kernel_size": 2, "dilation": 4,
         "activation": "sigmoid", "inputs": ["input"]},
        {"name": "gated", "type": "multiply", "inputs": ["filter", "gate"]},
    )  # fmt: skip
    gated = report.layers[-1]
    assert gated.output_shape == (16, 96)
    assert (gated.macs, gated.flops, gated.connections) == (0, 16 * 96, 2 * 16 * 96)
    assert (gated.receptive_field, gated.effective_stride) == ((5,), (1,))


@pytest.mark.parametrize("kind", ["add", "multiply"])
def test_shapes_that_do_not_broadcast_are_refused(kind):
    refused = r"shapes differ: a 4x6x6, input 4x8x8 \(broadcasting needs channels equal or 1"
    with pytest.raises(ConvCalcError, match=refused):
        run([4, 8, 8], {"name": "a", "type": "conv", "out_channels": 4, "kernel_size": 3},
            {"type": kind, "inputs": ["a", "input"]})  # fmt: skip
    with pytest.raises(ConvCalcError, match="broadcasting needs the same number of dims"):
        run([4, 1, 1], {"name": "flat", "type": "flatten"},
            {"type": kind, "inputs": ["flat", "input"]})  # fmt: skip
    with pytest.raises(ConvCalcError, match="takes at least 2 input"):
        run([4, 8, 8], {"type": kind, "inputs": ["input"]})
