"""Pooling and LeNet subsampling against the seeds' figures and closed forms."""

from __future__ import annotations

import pytest

from convcalc.errors import ConvCalcError
from tests.conftest import run


def test_lenet_s2_subsampling():
    # Seed 000: a 2x2 unit has 2 params per map (coefficient and bias): 2*6 params and
    # (2*2 + 1) * 6 * 14 * 14 = 5,880 connections.
    row = run([6, 28, 28], {"type": "subsample", "kernel_size": 2}).layers[0]
    assert row.output_shape == (6, 14, 14)
    assert row.params == 12
    assert row.connections == (2 * 2 + 1) * 6 * 14 * 14 == 5_880


def test_seed_001_maxpool_example_shape():
    # MaxPool2d(kernel_size=3, padding=1, stride=(2, 1)) on 1x2x4x4 gives 1x2x2x4.
    row = run(
        [2, 4, 4], {"type": "max_pool", "kernel_size": 3, "padding": 1, "stride": [2, 1]}
    ).layers[0]
    assert row.output_shape == (2, 2, 4)


def test_pooling_has_no_params_and_keeps_channels():
    # Seed 001, exercise 5: pooling has no parameters and keeps the channel count.
    for kind in ("max_pool", "avg_pool"):
        row = run([5, 8, 8], {"type": kind, "kernel_size": 2}).layers[0]
        assert row.params == 0 and row.output_shape == (5, 4, 4)


def test_ceil_mode_drops_window_starting_in_right_padding():
    # PyTorch docs: with ceil_mode the last window must start inside the input or the
    # left padding. n=5, k=2, s=2, p=1: ceil((5+2-2)/2)+1 = 4, and the 4th window starts
    # at 6 = n + p, so it is dropped: 3.
    row = run([1, 5], {"type": "max_pool", "kernel_size": 2, "stride": 2, "padding": 1,
                       "ceil_mode": True}).layers[0]  # fmt: skip
    assert row.output_shape == (1, 3)
    floor = run([1, 5], {"type": "max_pool", "kernel_size": 2, "stride": 2}).layers[0]
    assert floor.output_shape == (1, 2)


def test_stride_dropping_rows_is_noted():
    report = run([1, 7, 8], {"type": "max_pool", "kernel_size": 2})
    assert report.layers[0].output_shape == (1, 3, 4)
    (note,) = [note for _, note in report.notes]
    assert "last 1 of 7" in note and "spatial dim 1" in note


def test_pool_connections_count_real_taps():
    # avg pool 3x3, stride 1, padding 1 on 3x3: taps per output 4,6,4 / 6,9,6 / 4,6,4.
    row = run([2, 3, 3], {"type": "avg_pool", "kernel_size": 3, "stride": 1,
                          "padding": 1}).layers[0]  # fmt: skip
    assert row.connections == 2 * (4 * 4 + 4 * 6 + 9)
    assert row.flops == 2 * 9 * 9  # k*k per output value, padding included


def test_pool_padding_over_half_kernel_refused():
    with pytest.raises(ConvCalcError, match="half the kernel"):
        run([1, 8, 8], {"type": "max_pool", "kernel_size": 2, "padding": 2})


def test_global_pooling():
    # Seed 002: global pooling takes each map to one value.
    row = run([512, 7, 7], {"type": "global_avg_pool"}).layers[0]
    assert row.output_shape == (512, 1, 1)
    assert row.connections == 512 * 49
    assert row.receptive_field == (7, 7)


def test_adaptive_pool_windows():
    # PyTorch adaptive windows for 10 -> 4: [0,3) [2,5) [5,8) [7,10): 3 taps each.
    row = run([1, 10], {"type": "adaptive_max_pool", "output_size": 4}).layers[0]
    assert row.output_shape == (1, 4)
    assert row.connections == 12
    assert row.flops == 12 - 4


def test_ceil_mode_window_may_exceed_a_small_input():
    # PyTorch: MaxPool1d(2, 2, ceil_mode=True) on one position gives one output.
    row = run([1, 1], {"type": "max_pool", "kernel_size": 2, "ceil_mode": True}).layers[0]
    assert row.output_shape == (1, 1)
    assert row.connections == 1
    with pytest.raises(ConvCalcError, match="below size 1"):
        run([1, 1], {"type": "max_pool", "kernel_size": 5, "stride": 2, "ceil_mode": True})


def test_avg_pool3d_larger_than_the_unpadded_input_is_kept_with_a_note():
    layer = {"type": "avg_pool", "kernel_size": [3, 2, 2], "padding": 1, "stride": 1}
    report = run([2, 2, 4, 4], layer)
    assert report.layers[0].output_shape == (2, 2, 5, 5)  # over the padded input
    (note,) = [note for _, note in report.notes if "avg_pool3d" in note]
    assert "3 > 2" in note and "PyTorch's avg_pool3d refuses it" in note
    assert not run([1, 2, 4], {**layer, "kernel_size": [3, 2]}).notes  # 2-d: PyTorch accepts


def test_pytorch_refuses_what_the_avg_pool3d_note_says():
    torch = pytest.importorskip("torch")
    pool = torch.nn.AvgPool3d(kernel_size=(3, 2, 2), stride=1, padding=1)
    with pytest.raises(RuntimeError):
        pool(torch.zeros(1, 1, 2, 4, 4))
    # and its 2-d pool computes the same case
    assert torch.nn.AvgPool2d((3, 2), stride=1, padding=1)(torch.zeros(1, 1, 2, 4)).shape[-2:] == (
        2,
        5,
    )


@pytest.mark.parametrize(
    ("output_padding", "message"),
    [(-1, "output_padding -1 must be at least 0"), (2, "must be below max(stride, dilation) = 2")],
)
def test_output_padding_refusals_state_the_bound_broken(output_padding: int, message: str):
    layer = {
        "type": "conv_transpose",
        "out_channels": 2,
        "kernel_size": 3,
        "stride": 2,
        "output_padding": output_padding,
    }
    with pytest.raises(ConvCalcError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run([1, 4, 4], layer)


def test_max_pool_saves_its_argmax_only_for_a_layer_that_needs_it():
    """The argmax goes through the run's ForwardContext, asked for by max_unpool's `needs`;
    the kernels keep nothing, and a pool nobody unpools computes no argmax."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from convcalc import numeric
    from convcalc.layers.base import ForwardContext, Inputs
    from convcalc.spec import build

    network = build(
        {
            "input": [2, 6, 6],
            "layers": [
                {"name": "pool", "type": "max_pool", "kernel_size": 2},
                {"name": "unpool", "type": "max_unpool", "of": "pool"},
            ],
        }
    )
    pool, unpool = network.layers
    assert unpool.needs() == (("pool", "indices"),)
    values = np.random.default_rng(0).standard_normal((1, 2, 6, 6)).astype(np.float32)
    inputs = Inputs([network.input], ["input"])
    kernels = numeric.Kernels()

    unwanted = ForwardContext()
    pool.forward(inputs, [values], {}, kernels, unwanted)
    assert not unwanted.wanted("pool", "indices")
    with pytest.raises(KeyError):
        unwanted.saved("pool", "indices")

    context = ForwardContext(unpool.needs())
    pooled = pool.forward(inputs, [values], {}, kernels, context)
    _, expected = F.max_pool2d(torch.from_numpy(values), 2, return_indices=True)
    np.testing.assert_array_equal(context.saved("pool", "indices"), expected.numpy())
    assert pooled.shape == (1, 2, 3, 3)
