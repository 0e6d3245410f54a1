"""Whole-network figures: memory, batch, overrides, totals."""

from __future__ import annotations

from convcalc.figures import last_use
from tests.conftest import run


def test_peak_memory_frees_tensors_after_last_use():
    # Chain: input 1x8x8 (64 values) -> a 4x8x8 (256) -> b 2x8x8 (128). While b runs, a is
    # live with it and input is freed: peak = max(64 + 256, 256 + 128) values.
    report = run(
        [1, 8, 8],
        {"name": "a", "type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"name": "b", "type": "conv", "out_channels": 2, "kernel_size": 3, "padding": 1},
    )
    assert report.totals.peak_activation_bytes == 4 * (256 + 128)
    assert [row.output_bytes for row in report.layers] == [4 * 256, 4 * 128]


def test_peak_memory_keeps_skip_connections_live():
    # The input (256 values) stays live until the add: input + a + b at the second conv.
    report = run(
        [4, 8, 8],
        {"name": "a", "type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"name": "b", "type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"name": "sum", "type": "add", "inputs": ["b", "input"]},
        dtype="float16",
    )
    assert report.totals.peak_activation_bytes == 2 * 3 * 256


def test_last_use_is_keyed_by_row_index():
    report = run(
        [4, 8, 8],
        {"name": "a", "type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"name": "b", "type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"name": "sum", "type": "add", "inputs": ["b", "input"]},
    )
    assert [row.index for row in report.layers] == [1, 2, 3]
    assert last_use(report.layers) == {"input": 3, "a": 2, "b": 3}


def test_last_spatial_row_skips_flat_outputs():
    report = run(
        [3, 8, 8],
        {"name": "a", "type": "conv", "out_channels": 4, "kernel_size": 3},
        {"name": "flat", "type": "flatten"},
    )
    assert report.last_spatial_row() is report.layers[0]
    assert run([8], {"name": "f", "type": "dense", "out_features": 2}).last_spatial_row() is None


def test_batch_scales_costs_not_params():
    layers = [{"type": "conv", "out_channels": 4, "kernel_size": 3}]
    one, eight = run([3, 10, 10], *layers), run([3, 10, 10], *layers, batch=8)
    assert eight.totals.params == one.totals.params
    assert eight.totals.macs == 8 * one.totals.macs
    assert eight.totals.flops == 8 * one.totals.flops
    assert eight.totals.peak_activation_bytes == 8 * one.totals.peak_activation_bytes


def test_totals_are_column_sums():
    report = run(
        [3, 16, 16],
        {"type": "conv", "out_channels": 8, "kernel_size": 3, "padding": "same",
         "activation": "relu"},
        {"type": "batchnorm"},
        {"type": "max_pool", "kernel_size": 2},
        {"type": "flatten"},
        {"type": "dense", "out_features": 10},
    )  # fmt: skip
    for key in ("params", "buffers", "macs", "flops", "connections"):
        assert getattr(report.totals, key) == sum(getattr(row, key) for row in report.layers)
    assert report.totals.model_bytes == 4 * (report.totals.params + report.totals.buffers)


def test_a_layer_nobody_reads_gets_a_note(network):
    report = network(
        [3, 8, 8],
        {"name": "a", "type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"name": "forgotten", "type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"name": "b", "type": "conv", "out_channels": 4, "kernel_size": 1, "inputs": ["a"]},
        {"name": "out", "type": "add", "inputs": ["a", "b"]},
    )
    noted = [layer for layer, note in report.notes if "nothing reads this output" in note]
    assert noted == ["forgotten"]  # not `out`, the network's output
    # It still counts, and the note says so.
    assert report.totals.params == sum(row.params for row in report.layers)


def test_max_unpool_reads_its_pool(network):
    report = network(
        [2, 8, 8],
        {"name": "pool", "type": "max_pool", "kernel_size": 2},
        {"name": "conv", "type": "conv", "out_channels": 2, "kernel_size": 1},
        {"name": "unpool", "type": "max_unpool", "of": "pool"},
    )
    assert not report.notes


def test_an_nchw_looking_input_gets_a_note():
    from convcalc.analysis import analyze
    from convcalc.spec import load_text

    text = "input: {}\nlayers:\n  - {{name: c, type: conv, out_channels: 4, kernel_size: 3}}\n"
    ((layer, note),) = analyze(load_text(text.format("[1, 3, 32, 32]"))).notes
    assert layer == "c" and "1 channel of a 3x32x32 volume" in note and "batch:" in note
    assert not analyze(load_text(text.format("[3, 32, 32]"))).notes
