"""Channel slices and splits (convcalc/layers/slice.py) and the loader's one row per part:
closed forms of the shapes and (zero) costs, the receptive field (the input's), the
one-line errors, names and references of the parts, shapes and values against PyTorch
(x[:, a:b], torch.split, torch.chunk), `verify` agreeing on every check, and symbolic sizes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convcalc.errors import ConvCalcError
from convcalc.spec import build, load_text
from convcalc.verification import verify
from tests.conftest import run

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def chunk(chunks: int, name: str = "s") -> dict:
    return {"name": name, "type": "split", "chunks": chunks}


def sections(sizes: list[int], name: str = "s") -> dict:
    return {"name": name, "type": "split", "split_size_or_sections": sizes}


def channel_slice(begin: int | None = None, end: int | None = None) -> dict:
    layer = {"name": "slice", "type": "slice"}
    if begin is not None:
        layer["begin"] = begin
    if end is not None:
        layer["end"] = end
    return layer


@pytest.mark.parametrize(
    ("input_shape", "layer", "outputs"),
    [
        # x[:, begin:end] keeps end - begin channels; end defaults to the last channel's.
        ([6, 5, 4], channel_slice(2, 5), [(3, 5, 4)]),
        ([6, 5, 4], channel_slice(end=1), [(1, 5, 4)]),
        ([6, 5, 4], channel_slice(4), [(2, 5, 4)]),
        ([6], channel_slice(0, 6), [(6,)]),
        ([7, 3, 3, 3], channel_slice(6), [(1, 3, 3, 3)]),
        # torch.chunk: parts of ceil(C / chunks), the last one what is left.
        ([116, 28, 28], chunk(2), [(58, 28, 28)] * 2),
        ([7, 4, 4], chunk(3), [(3, 4, 4), (3, 4, 4), (1, 4, 4)]),
        ([5, 2], chunk(1), [(5, 2)]),
        ([10], chunk(4), [(3,), (3,), (3,), (1,)]),
        # torch.split with sections: those sizes, in order.
        ([8, 3, 3], sections([3, 5]), [(3, 3, 3), (5, 3, 3)]),
        ([4, 2, 2], sections([1, 1, 2]), [(1, 2, 2), (1, 2, 2), (2, 2, 2)]),
        ([4, 2], sections([4]), [(4, 2)]),
    ],
)  # fmt: skip
def test_shapes_and_zero_costs(input_shape, layer, outputs):
    """They copy the channels they keep: no params, no arithmetic, no connections."""
    rows = run(input_shape, layer).layers
    assert [row.output_shape for row in rows] == outputs
    for row in rows:
        assert (row.params, row.buffers, row.macs, row.flops, row.connections) == (0, 0, 0, 0, 0)


def test_a_split_is_one_row_per_part_named_after_it():
    rows = run([6, 4, 4], chunk(3, "halves")).layers
    assert [row.name for row in rows] == ["halves.0", "halves.1", "halves.2"]
    assert [row.type for row in rows] == ["split"] * 3
    assert all(row.inputs == ("input",) for row in rows)


def test_parts_are_read_by_name_inside_blocks_too():
    """ShuffleNet v2's unit: x1, x2 = x.chunk(2); cat(x1, branch(x2)); shuffle."""
    spec = """
input: [8, 6, 6]
blocks:
  unit:
    layers:
      - {name: split, type: split, chunks: 2}
      - {name: branch, type: conv, out_channels: 4, kernel_size: 1, inputs: [split.1]}
      - {name: cat, type: concat, inputs: [split.0, branch]}
      - {name: shuffle, type: channel_shuffle, groups: 2}
layers:
  - {name: stage, type: block, use: unit, repeat: 2}
  - {name: tail, type: slice, begin: 3, inputs: [stage.0.split.1]}
"""
    from convcalc.analysis import analyze

    rows = {row.name: row for row in analyze(load_text(spec)).layers}
    assert rows["stage.0.split.1"].inputs == ("input",)
    assert rows["stage.1.split.0"].inputs == ("stage.0.shuffle",)
    assert rows["stage.1.branch"].inputs == ("stage.1.split.1",)
    assert rows["stage.1.cat"].inputs == ("stage.1.split.0", "stage.1.branch")
    assert rows["stage.1.cat"].output_shape == (8, 6, 6)
    assert rows["tail"].output_shape == (1, 6, 6)


CONV = {"type": "conv", "out_channels": 6, "kernel_size": 3, "stride": 2, "padding": 1}


def test_field_is_the_inputs():
    """Each output channel reads its input channel at the same position: the field, stride
    and padding of the layer before (a 3x3 stride-2 conv padded by 1: 3, 2, 1)."""
    conv, *parts, last = run(
        [3, 9, 9], CONV, chunk(2), {**channel_slice(1), "inputs": ["s.1"]}
    ).layers
    for row in (*parts, last):
        assert row.receptive_field == (3, 3)
        assert row.effective_stride == (2, 2)
        assert row.effective_padding == (1, 1)


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ([channel_slice(5, 3)], "begin: begin 5 is not before end 3: no channels left"),
        ([channel_slice(6)], "begin: begin 6 is not before end 6"),
        ([channel_slice(end=7)], "end: end 7 is past the input's 6 channels"),
        ([channel_slice(-1)], "begin: must be at least 0, got -1"),
        ([channel_slice(end=0)], "end: must be at least 1, got 0"),
        ([{"type": "slice", "stop": 3}], "stop: unknown field"),
        ([chunk(4)], "layer 4 \\(s.3\\): chunks: torch.chunk cuts 6 channels into 3 parts of 2,"
         " not 4: part 3 would be empty"),
        ([chunk(0)], "chunks: a whole number from 1, got 0"),
        ([sections([3, 2])], "split_size_or_sections: sections sum to 5, but the input has 6"
         " channels"),
        ([sections([3, 4])], "sections sum to 7"),
        ([sections([])], "split_size_or_sections: a non-empty list"),
        ([sections([6, 0])], "must be at least 1, got 0"),
        ([sections(3)], "split_size_or_sections: 3 as one size: give the parts' sizes as a list"),
        ([{"name": "s", "type": "split"}], "give one of chunks .* and split_size_or_sections"),
        ([{**chunk(2), "split_size_or_sections": [3, 3]}], "give one of chunks"),
        ([{**chunk(2), "part": 1}], "part: set by convcalc"),
        ([{**chunk(2), "repeat": 2}], "repeat: a layer of several outputs cannot be repeated"),
        ([chunk(2), {"type": "activation", "function": "relu"}],
         "inputs: follows 's', which makes 2 outputs: name one of them, s.0 to s.1"),
        ([chunk(2), {"type": "activation", "function": "relu", "inputs": ["s"]}],
         "inputs: names 's', which makes 2 outputs"),
        ([chunk(2), {"type": "activation", "function": "relu", "inputs": ["s.2"]}],
         "unknown layer 's.2'"),
        ([chunk(2), {"name": "s.1", "type": "activation", "function": "relu",
                     "inputs": ["s.0"]}], "names two layers"),
        ([{"name": "s.0", "type": "dropout"}, chunk(2)], "names two layers"),
        ([chunk(2), {"name": "s", "type": "dropout", "inputs": ["s.0"]}], "names two layers"),
        ([chunk(2), {"type": "upsample", "scale_factor": 1, "size_of": "s", "inputs": ["s.0"]}],
         "size_of: names 's', which makes 2 outputs"),
        ([chunk(2), {"type": "concat", "inputs": ["s.0", "s.1"]}, chunk(2, "s")],
         "names two layers"),
    ],
)  # fmt: skip
def test_mistakes_are_one_error(layers, message):
    with pytest.raises(ConvCalcError, match=message) as caught:
        run([6, 4, 4], *layers)
    assert "\n" not in str(caught.value)


def test_a_block_ending_in_a_split_is_read_by_its_parts():
    spec = {
        "input": [4, 3, 3],
        "blocks": {"halve": {"layers": [{"name": "split", "type": "split", "chunks": 2}]}},
        "layers": [{"name": "h", "type": "block", "use": "halve"}, {"type": "dropout"}],
    }
    with pytest.raises(ConvCalcError, match="follows 'h.split', which makes 2 outputs"):
        build(spec)
    spec["layers"][1]["inputs"] = ["h.split.1"]
    assert build(spec).layers[-1].inputs == ["h.split.1"]


def test_outputs_and_shares_name_a_part_not_the_split():
    spec = {
        "input": [4, 3, 3],
        "layers": [chunk(2), {"name": "d", "type": "dropout", "inputs": ["s.1"]}],
        "outputs": ["s"],
    }
    with pytest.raises(ConvCalcError, match="outputs: names 's', which makes 2 outputs"):
        build(spec)
    spec["outputs"] = ["s.0", "d"]
    assert build(spec).outputs == ("s.0", "d")
    del spec["outputs"]
    spec["layers"] = [
        chunk(2),
        {"type": "conv", "inputs": ["s.0"], "out_channels": 2, "kernel_size": 1, "shares": "s"},
    ]
    with pytest.raises(ConvCalcError, match="shares: names 's', which makes 2 outputs"):
        build(spec)


def _outcome(function):
    try:
        return function()
    except (ConvCalcError, RuntimeError, ValueError):
        return None


def _parts_of(layer: dict, channels: int, height: int, width: int):
    """The arrays of every row of `layer` on a random input (batch 2), or None if refused."""
    spec = {"input": [channels, height, width], "batch": 2, "layers": [layer]}
    arrays = _outcome(lambda: verify(build(spec), keep_arrays=True).arrays)
    if arrays is None:
        return None
    network = build(spec)
    return arrays["input"], [arrays[f"{row.name}/output"] for row in network.layers]


@SETTINGS
@given(st.integers(1, 12), st.integers(1, 6), st.integers(1, 3), st.integers(1, 3))
def test_chunk_agrees_with_pytorch(channels, chunks, height, width):
    """Same parts, same values; convcalc refuses where torch.chunk makes fewer parts."""
    torch = pytest.importorskip("torch")
    found = _parts_of(chunk(chunks), channels, height, width)
    expected = torch.chunk(torch.zeros(2, channels, height, width), chunks, dim=1)
    if len(expected) != chunks:
        assert found is None
        return
    values, parts = found
    theirs = torch.chunk(torch.from_numpy(values), chunks, dim=1)
    assert [part.shape for part in parts] == [tuple(part.shape) for part in theirs]
    for ours, reference in zip(parts, theirs, strict=True):
        np.testing.assert_array_equal(ours, reference.numpy())


@SETTINGS
@given(st.lists(st.integers(1, 5), min_size=1, max_size=4), st.integers(-2, 2), st.data())
def test_split_sections_agree_with_pytorch(sizes, off_by, data):
    """torch.split(x, sections, dim=1): refused by both where the sections miss the channels."""
    torch = pytest.importorskip("torch")
    channels = max(sum(sizes) + off_by, 1)
    height, width = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    found = _parts_of(sections(sizes), channels, height, width)
    expected = _outcome(lambda: torch.split(torch.zeros(2, channels, height, width), sizes, 1))
    assert (found is None) == (expected is None)
    if found is not None:
        values, parts = found
        theirs = torch.split(torch.from_numpy(values), sizes, dim=1)
        for ours, reference in zip(parts, theirs, strict=True):
            np.testing.assert_array_equal(ours, reference.numpy())


@SETTINGS
@given(st.integers(1, 8), st.integers(0, 9), st.none() | st.integers(1, 9), st.integers(1, 3))
def test_slice_agrees_with_pytorch(channels, begin, end, size):
    """x[:, begin:end] where PyTorch's slice is a real range of the channels; where Python
    would cut it short or leave it empty, convcalc refuses."""
    torch = pytest.importorskip("torch")
    found = _parts_of(channel_slice(begin, end), channels, size, size)
    last = channels if end is None else end
    if not begin < last <= channels:
        assert found is None
        return
    values, (ours,) = found
    theirs = torch.from_numpy(values)[:, begin:end]
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours, theirs.numpy())


def test_verify_agrees():
    """A ShuffleNet v2 unit of each kind between padded, strided convs, so that the fields
    have padding and stride to show."""
    layers = [
        {"name": "stem", **CONV, "out_channels": 8},
        chunk(2),
        {"name": "branch", **CONV, "stride": 1, "out_channels": 4, "inputs": ["s.1"]},
        {"name": "cat", "type": "concat", "inputs": ["s.0", "branch"]},
        {"name": "shuffle", "type": "channel_shuffle", "groups": 2},
        sections([3, 5], "t"),
        {"name": "down", **CONV, "out_channels": 3, "inputs": ["t.1"]},
        {"name": "pool", "type": "max_pool", "kernel_size": 3, "stride": 2, "padding": 1,
         "inputs": ["t.0"]},
        {"name": "cat2", "type": "concat", "inputs": ["pool", "down"]},
        channel_slice(1, 5),
        {"name": "tail", **CONV},
    ]  # fmt: skip
    for spatial in ([9], [9, 6], [5, 4, 6]):
        verification = verify(build({"input": [3, *spatial], "batch": 2, "layers": layers}))
        assert verification.ok, [
            f"{layer.name} {name}: {check.predicted} != {check.measured}"
            for layer, name, check in verification.mismatches
        ]


SYMBOLIC = """
input: [3, H, W]
layers:
  - {name: stem, type: conv, out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
  - {name: s, type: split, chunks: 2}
  - {name: branch, type: depthwise_conv, kernel_size: 3, padding: 1, inputs: [s.1]}
  - {name: cat, type: concat, inputs: [s.0, branch]}
  - {name: shuffle, type: channel_shuffle, groups: 2}
  - {name: t, type: split, split_size_or_sections: [3, 5]}
  - {name: head, type: slice, begin: 1, end: 4, inputs: [t.1]}
"""


def test_symbolic_sizes_give_the_concrete_figures():
    """Channels are numbers whatever the spatial sizes: the parts' formulas are the input's
    sizes, and every figure at given sizes is the concrete run's."""
    pytest.importorskip("sympy")
    from convcalc.analysis import analyze
    from tests.test_symbolic import assert_same_figures

    network = load_text(SYMBOLIC)
    formulas = analyze(network)
    rows = {row.name: row for row in formulas.layers}
    stem_sizes = rows["stem"].output_shape[1:]
    assert [rows[name].output_shape for name in ("s.0", "t.0", "t.1", "head")] == [
        (4, *stem_sizes),
        (3, *stem_sizes),
        (5, *stem_sizes),
        (3, *stem_sizes),
    ]
    assert rows["head"].receptive_field == (7, 7)  # stem 3, then the 3x3 at stride 2
    for sizes in ({"H": 7, "W": 10}, {"H": 1, "W": 2}, {"H": 224, "W": 224}):
        concrete = analyze(network, (3, sizes["H"], sizes["W"]))
        assert_same_figures(formulas, concrete, sizes)
