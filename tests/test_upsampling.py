"""Transposed conv, upsample and max_unpool: sizes, costs and fractional fields."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from convcalc.analysis import analyze
from convcalc.errors import ConvCalcError
from convcalc.spec import build
from tests.conftest import run


@pytest.mark.parametrize(("stride", "size"), [(1, 4), (2, 5)])
def test_transposed_conv_seed_examples(stride, size):
    # Seed 004: a 3x3 transposed conv maps 2x2 to 4x4, and to 5x5 with zeros inserted.
    report = run([1, 2, 2], {"type": "conv_transpose", "out_channels": 1, "kernel_size": 3,
                             "stride": stride, "bias": False})  # fmt: skip
    row = report.layers[0]
    assert row.output_shape == (1, size, size)
    # Every (input value, tap) pair lands inside the output: 4 inputs x 9 taps.
    assert row.macs == row.connections == 4 * 9


def test_transposed_conv_formula_and_params():
    # out = (in-1)*s - 2p + d(k-1) + output_padding + 1; weight in x out/groups x k x k.
    row = run([8, 7, 7], {"type": "conv_transpose", "out_channels": 4, "kernel_size": 4,
                          "stride": 2, "padding": 1, "output_padding": 1,
                          "groups": 2})  # fmt: skip
    row = row.layers[0]
    assert row.output_shape == (4, 15, 15)
    assert row.params == 8 * 2 * 16 + 4
    assert row.macs == 8 * 49 * 2 * 16
    assert row.effective_stride == (Fraction(1, 2),) * 2


def test_transposed_conv_padding_taps_not_connections():
    # k=3, s=1, p=1 on 3 positions: output o reads inputs o-1..o+1 that exist: 2+3+2.
    row = run([1, 3], {"type": "conv_transpose", "out_channels": 1, "kernel_size": 3,
                       "padding": 1, "bias": False}).layers[0]  # fmt: skip
    assert row.output_shape == (1, 3)
    assert row.connections == 7
    assert row.macs == 9


def test_checkerboard_note():
    report = run([1, 4, 4], {"type": "conv_transpose", "out_channels": 1, "kernel_size": 3,
                             "stride": 2})  # fmt: skip
    assert any("checkerboard" in note for _, note in report.notes)


def test_output_padding_bound():
    with pytest.raises(ConvCalcError, match="output_padding"):
        run([1, 4], {"type": "conv_transpose", "out_channels": 1, "kernel_size": 3,
                     "stride": 2, "output_padding": 2})  # fmt: skip


def test_bilinear_upsample():
    row = run([3, 4, 4], {"type": "upsample", "scale_factor": 2, "mode": "bilinear"}).layers[0]
    assert row.output_shape == (3, 8, 8)
    assert row.params == 0
    # Each output blends 4 inputs with 3 lerps of 3 FLOPs.
    assert row.flops == 3 * 64 * 9
    # align_corners=False, scale 2: src = o/2 - 1/4, clamped at 0; the first output and
    # the last reads only one input along a dim, the others two: 1+2*6+1 = 14 per dim.
    assert row.connections == 3 * 14 * 14
    # The field of an output: 2 input positions at stride 1/2, starting 1/4 before it.
    assert row.receptive_field == (2, 2)
    assert row.effective_stride == (Fraction(1, 2),) * 2
    assert row.effective_padding == (Fraction(1, 4),) * 2


def test_upsample_to_size_and_mode_rank():
    row = run([1, 5, 5], {"type": "upsample", "size": [9, 7], "mode": "bicubic",
                          "align_corners": True}).layers[0]  # fmt: skip
    assert row.output_shape == (1, 9, 7)
    with pytest.raises(ConvCalcError, match="bilinear is for 2-d"):
        run([1, 5], {"type": "upsample", "scale_factor": 2, "mode": "bilinear"})
    with pytest.raises(ConvCalcError, match="exactly one"):
        run([1, 5], {"type": "upsample"})


def test_max_unpool_restores_pool_input():
    # Seed 000: unpooling puts each max back at its stored index; SegNet's decoder.
    report = run(
        [4, 9, 9],
        {"name": "pool", "type": "max_pool", "kernel_size": 2},
        {"type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"type": "max_unpool", "of": "pool", "output_size": [9, 9]},
    )
    assert report.layers[-1].output_shape == (4, 9, 9)
    assert report.layers[-1].params == 0
    default = run([4, 9, 9], {"name": "pool", "type": "max_pool", "kernel_size": 2},
                  {"type": "max_unpool", "of": "pool"})  # fmt: skip
    assert default.layers[-1].output_shape == (4, 8, 8)
    assert any("output_size" in note for _, note in default.notes)


def test_max_unpool_needs_a_max_pool():
    with pytest.raises(ConvCalcError, match="not an earlier max_pool"):
        run([1, 8, 8], {"name": "pool", "type": "avg_pool", "kernel_size": 2},
            {"type": "max_unpool", "of": "pool"})  # fmt: skip


def test_nearest_2d_keeps_a_dim_whose_size_is_kept():
    # PyTorch 2.13: F.interpolate(x of 3x5, scale_factor=1.2, mode="nearest") gives 3x6 and
    # copies the 3 rows, so a conv after it sees 3 input rows, at stride 1, in that dim.
    report = run(
        [1, 3, 5],
        {"type": "upsample", "scale_factor": 1.2},
        {"type": "conv", "out_channels": 1, "kernel_size": 3, "padding": 1},
    )
    up, conv = report.layers
    assert up.output_shape == (1, 3, 6)
    assert up.effective_stride == (1, Fraction(5, 6))
    assert conv.receptive_field[0] == 3
    # 1-d nearest still applies the scale to a kept size.
    one_d = run([1, 5], {"type": "upsample", "scale_factor": 1.1}).layers[0]
    assert one_d.output_shape == (1, 5)
    assert one_d.effective_stride == (Fraction(10, 11),)


def test_max_unpool_takes_its_pools_stride_however_written():
    # A pool of kernel 2 strides 2 whether or not `stride` is written; an unpool with its
    # own kernel 3 then uses that stride: (4-1)*2 + 3 = 9.
    for pool in ({"kernel_size": 2}, {"kernel_size": 2, "stride": 2}):
        report = run(
            [1, 8, 8],
            {"name": "pool", "type": "max_pool", **pool},
            {"type": "max_unpool", "of": "pool", "kernel_size": 3},
        )
        assert report.layers[-1].output_shape == (1, 9, 9)


def _taps_position_by_position(size, out_size, ratio, cubic, align_corners):
    """The count of source_taps, written separately: every output position in turn."""
    from convcalc.layers.upsample import source_index

    total = 0
    for position in range(out_size):
        src = source_index(position, ratio, align_corners)
        src = src if cubic else max(src, 0.0)
        first = math.floor(src)
        if src == first:
            total += 1
        elif cubic:
            total += len({min(max(first + tap, 0), size - 1) for tap in range(-1, 3)})
        else:
            total += 2 if first < size - 1 else 1
    return total


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7])
@pytest.mark.parametrize("cubic", [False, True])
@pytest.mark.parametrize("align_corners", [False, True])
def test_taps_counted_by_runs_equal_the_count_position_by_position(size, cubic, align_corners):
    from convcalc.layers.upsample import RUNS_FROM, source_taps

    for out_size in (RUNS_FROM * (size + 2) + 1, 1000, 4099):
        ratio = (size - 1) / (out_size - 1) if align_corners else size / out_size
        expected = _taps_position_by_position(size, out_size, ratio, cubic, align_corners)
        assert source_taps.__wrapped__(size, out_size, ratio, cubic, align_corners) == expected


def test_a_huge_upsample_of_a_small_input_does_not_visit_every_output(monkeypatch):
    """Bicubic upsamples of [1, 3, 5] to sizes near 2^20 took seconds each, position by
    position; counted by runs of one floor, the work grows with the input's size."""
    from convcalc.layers import upsample

    calls = []
    original = upsample.source_index
    monkeypatch.setattr(upsample, "source_index", lambda *args: calls.append(1) or original(*args))
    upsample.source_taps.cache_clear()
    layers = [
        {"type": "upsample", "mode": mode, "size": [2**20 - 3, 2**20 - 5]}
        for mode in ("bicubic", "bilinear")
    ]
    for layer in layers:
        report = run([1, 3, 5], layer)
        assert report.layers[-1].output_shape == (1, 2**20 - 3, 2**20 - 5)
    assert len(calls) < 10_000  # position by position: over 4 million


# conv_transpose output_size: PyTorch's forward(output_size=...) chooses output_padding.
OUTPUT_SIZE = {"type": "conv_transpose", "out_channels": 4, "kernel_size": 4, "stride": 2,
               "padding": 1, "groups": 2}  # fmt: skip


@pytest.mark.parametrize(("output_size", "output_padding"), [(14, 0), (15, 1), ([14, 15], [0, 1])])
def test_output_size_is_the_output_padding_it_chooses(output_size, output_padding):
    # Smallest size (7-1)*2 - 2 + 3 + 1 = 14; stride 2 allows 14 and 15.
    chosen = run([8, 7, 7], {**OUTPUT_SIZE, "output_size": output_size}).layers[0]
    given = run([8, 7, 7], {**OUTPUT_SIZE, "output_padding": output_padding}).layers[0]
    sizes = output_size if isinstance(output_size, list) else [output_size] * 2
    assert chosen.output_shape == (4, *sizes)
    assert chosen.params == 8 * 2 * 16 + 4
    assert chosen.macs == 8 * 49 * 2 * 16
    assert chosen == given


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"output_size": 13}, r"13 in spatial dim 1 is outside the valid range \[14, 15\]"),
        ({"output_size": [14, 16]}, r"16 in spatial dim 2 is outside the valid range \[14, 15\]"),
        ({"output_size": [14, 14, 14]}, "3 values for a 2-d input"),
        ({"output_size": 15, "output_padding": 1}, "give output_padding 0, or no output_size"),
        ({"output_size": 14, "padding": "same"}, "cannot go with padding 'same'"),
    ],
)
def test_output_size_refusals(fields, message):
    with pytest.raises(ConvCalcError, match=message) as caught:
        run([8, 7, 7], {**OUTPUT_SIZE, **fields})
    assert caught.value.field == "output_size"
    assert "\n" not in str(caught.value)


def test_output_size_with_output_padding_zero_is_accepted():
    row = run([8, 7, 7], {**OUTPUT_SIZE, "output_size": 15, "output_padding": 0}).layers[0]
    assert row.output_shape == (4, 15, 15)


def test_output_size_refused_on_formula_sizes():
    # The output padding would be a formula of H: refused rather than kept as a condition.
    with pytest.raises(ConvCalcError, match="needs number input sizes, not 8xHxW") as caught:
        run([8, "H", "W"], {**OUTPUT_SIZE, "output_size": 14})
    assert caught.value.field == "output_size"
    # Number sizes given for the run (verify's input_shape) make it a plain case.
    from convcalc.spec import build
    from convcalc.verification import verify

    network = build({"input": [8, "H", "W"], "layers": [{**OUTPUT_SIZE, "output_size": 15}]})
    result = verify(network, input_shape=(8, 7, 7))
    assert result.report.layers[0].output_shape == (4, 15, 15)
    assert result.ok


def test_output_size_verifies():
    from convcalc.spec import build
    from convcalc.verification import verify

    network = build({"input": [2, 5, 5], "batch": 2, "layers": [
        {"name": "up", "type": "conv_transpose", "out_channels": 3, "kernel_size": 3,
         "stride": 3, "padding": 1, "output_size": [13, 15]},
    ]})  # fmt: skip
    result = verify(network)
    assert result.report.layers[0].output_shape == (3, 13, 15)
    assert result.ok


# --- size_of: the spatial size of an earlier layer (DeepLabV3, LRASPP) -----------------------

SKIP = [
    {"name": "stem", "type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1},
    {"name": "down", "type": "conv", "out_channels": 4, "kernel_size": 3, "stride": 2},
]


@pytest.mark.parametrize(
    "settings",
    [
        {"mode": "nearest"},
        {"mode": "bilinear"},
        {"mode": "bilinear", "align_corners": True},
        {"mode": "bicubic"},
    ],
)
@pytest.mark.parametrize(("other", "size"), [("stem", [17, 23]), ("input", [17, 23])])
def test_size_of_gives_the_figures_of_the_same_size(settings, other, size):
    # down is 8x11: resizing it to stem's (or the input's) 17x23 is `size: [17, 23]`.
    def last(sizing):
        upsample = {"name": "up", "type": "upsample", **settings, **sizing}
        return run([3, 17, 23], *SKIP, upsample).layers[-1]

    by_name, by_size = last({"size_of": other}), last({"size": size})
    assert by_name.output_shape == (4, 17, 23)
    assert by_name.figures == by_size.figures


def test_size_of_from_a_pooled_map_and_not_cached_across_names():
    # The same upsample settings on the same 1x1 input, naming layers of two sizes: each
    # gets its own (the analysis keeps no result for a layer naming another).
    report = run(
        [3, 17, 23],
        *SKIP,
        {"name": "pooled", "type": "adaptive_avg_pool", "output_size": 1},
        {"name": "to_down", "type": "upsample", "size_of": "down", "mode": "bilinear"},
        {"name": "pooled2", "type": "adaptive_avg_pool", "output_size": 1, "inputs": ["stem"]},
        {"name": "to_stem", "type": "upsample", "size_of": "stem", "mode": "bilinear"},
    )
    rows = {row.name: row for row in report.layers}
    assert rows["to_down"].output_shape == (4, 8, 11)
    assert rows["to_stem"].output_shape == (4, 17, 23)
    # A 1x1 input is copied to every output: no blend, one connection per output value.
    assert rows["to_stem"].connections == 4 * 17 * 23
    assert not any("nothing reads" in note for name, note in report.notes if name == "down")


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ([{"type": "upsample", "size_of": "stem", "size": 4}], "size_of: give exactly one"),
        ([{"type": "upsample", "size_of": "stem", "scale_factor": 2}], "exactly one"),
        ([{"type": "upsample", "size_of": "later"}, {"name": "later", "type": "dropout"}],
         "size_of: 'later' comes later"),
        ([{"type": "upsample", "size_of": "nowhere"}], "size_of: unknown layer 'nowhere'"),
        ([{"name": "flat", "type": "flatten"},
          {"type": "upsample", "size_of": "flat", "inputs": ["stem"]}],
         "size_of: 'flat' has 0 spatial dims, the input 4x17x23 has 2"),
    ],
)  # fmt: skip
def test_size_of_errors_name_the_field(layers, message):
    with pytest.raises(ConvCalcError) as caught:
        run([3, 17, 23], SKIP[0], *layers)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_size_of_resolves_like_inputs_in_blocks_and_repeats():
    spec = {
        "input": [3, 16, 16],
        "blocks": {
            "head": {
                "layers": [
                    {"name": "down", "type": "avg_pool", "kernel_size": 2},
                    {"name": "up", "type": "upsample", "size_of": "in"},
                    {"name": "back", "type": "upsample", "size_of": "down"},
                ]
            }
        },
        "layers": [
            {"name": "stage", "type": "block", "use": "head", "repeat": 2},
            {"name": "top", "type": "upsample", "size_of": "stage.1.down", "inputs": ["input"]},
        ],
    }
    network = build(spec)
    named = {layer.name: layer.size_of for layer in network.layers if layer.type == "upsample"}
    assert named == {
        "stage.0.up": "input",
        "stage.0.back": "stage.0.down",
        "stage.1.up": "stage.0.back",
        "stage.1.back": "stage.1.down",
        "top": "stage.1.down",
    }
    shapes = {row.name: row.output_shape for row in analyze(network).layers}
    assert shapes["stage.1.up"] == (3, 8, 8)
    assert shapes["stage.1.back"] == shapes["top"] == (3, 4, 4)


# Resizes whose ratio is near 1 read few outputs per input position, so runs of one floor
# are short; past a few thousand positions the count is a lattice count instead (A3).
NEAR_ONE = [
    (6001, 6002),
    (9000, 9007),
    (12345, 12000),
    (20000, 30001),
    (65535, 65536),
    (70001, 69999),
]


@pytest.mark.parametrize(("size", "out_size"), NEAR_ONE)
@pytest.mark.parametrize("cubic", [False, True])
@pytest.mark.parametrize("align_corners", [False, True])
def test_taps_of_a_resize_near_ratio_one_equal_the_count_position_by_position(
    size, out_size, cubic, align_corners
):
    from convcalc.layers.upsample import source_taps

    ratio = (size - 1) / (out_size - 1) if align_corners else size / out_size
    expected = _taps_position_by_position(size, out_size, ratio, cubic, align_corners)
    assert source_taps.__wrapped__(size, out_size, ratio, cubic, align_corners) == expected


@pytest.mark.parametrize("factor", [1.0000005, 1.25, 0.999, 1.5, 3.0])
@pytest.mark.parametrize("cubic", [False, True])
def test_taps_of_a_scale_factor_near_one_equal_the_count_position_by_position(factor, cubic):
    from convcalc.layers.upsample import source_taps

    size = 50_001
    out_size = math.floor(size * factor)
    ratio = float(Fraction(1.0 / factor))
    expected = _taps_position_by_position(size, out_size, ratio, cubic, False)
    assert source_taps.__wrapped__(size, out_size, ratio, cubic, False) == expected


def test_a_huge_resize_near_ratio_one_does_not_visit_every_output(monkeypatch):
    """Resizing 2^20 - 1 positions to 2^20 visited every output, seconds per dim."""
    from convcalc.layers import upsample

    calls = []
    original = upsample.source_index
    monkeypatch.setattr(upsample, "source_index", lambda *args: calls.append(1) or original(*args))
    upsample.source_taps.cache_clear()
    for mode, align_corners in (("bicubic", False), ("bilinear", True), ("bilinear", False)):
        layer = {"type": "upsample", "mode": mode, "align_corners": align_corners}
        report = run([1, 2**20 - 1, 3], layer | {"size": [2**20, 4]})
        assert report.layers[-1].output_shape == (1, 2**20, 4)
    assert len(calls) < 30_000  # position by position: over 3 million
