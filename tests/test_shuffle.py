"""Pixel shuffle and unshuffle (convcalc/layers/shuffle.py; channel_shuffle's tests are in
tests/test_layers_misc.py and the PyTorch oracles).

Closed forms of their shapes and (zero) costs, their receptive fields, the one-line errors,
values against PyTorch (2-d) and against the index formula (any rank), `verify` agreeing
on every check, and symbolic sizes.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convcalc.errors import ConvCalcError
from convcalc.field import FieldKind
from convcalc.spec import build
from convcalc.verification import verify
from tests.conftest import run

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def shuffle(factor: int) -> dict:
    return {"name": "shuffle", "type": "pixel_shuffle", "upscale_factor": factor}


def unshuffle(factor: int) -> dict:
    return {"name": "unshuffle", "type": "pixel_unshuffle", "downscale_factor": factor}


@pytest.mark.parametrize(
    ("input_shape", "layer", "output"),
    [
        ([12, 5, 3], shuffle(2), (3, 10, 6)),
        ([18, 2, 1], shuffle(3), (2, 6, 3)),
        ([6, 7], shuffle(3), (2, 21)),
        ([16, 1, 2, 3], shuffle(2), (2, 2, 4, 6)),
        ([5, 4, 4], shuffle(1), (5, 4, 4)),
        ([3, 10, 6], unshuffle(2), (12, 5, 3)),
        ([2, 6, 3], unshuffle(3), (18, 2, 1)),
        ([2, 21], unshuffle(3), (6, 7)),
        ([2, 2, 4, 6], unshuffle(2), (16, 1, 2, 3)),
    ],
)  # fmt: skip
def test_shapes_and_zero_costs(input_shape, layer, output):
    """They move values: no params, no arithmetic, no connections (README 'Conventions')."""
    row = run(input_shape, layer).layers[0]
    assert row.output_shape == output
    assert (row.params, row.buffers, row.macs, row.flops, row.connections) == (0, 0, 0, 0, 0)


@pytest.mark.parametrize(
    ("input_shape", "layer", "message"),
    [
        ([6, 4, 4], shuffle(2), "channels 6 are not divisible by upscale_factor\\^2 = 4"),
        ([9, 4, 4, 4], shuffle(2), "channels 9 are not divisible by upscale_factor\\^3 = 8"),
        ([3, 6, 5], unshuffle(2), "spatial size 5 \\(dim 2\\) is not divisible by"
         " downscale_factor 2"),
        ([3, 6], unshuffle(4), "spatial size 6 \\(dim 1\\) is not divisible"),
        ([12], shuffle(2), "pixel_shuffle needs spatial dims"),
        ([12], unshuffle(2), "pixel_unshuffle needs spatial dims"),
        ([12, 4, 4], {"type": "pixel_shuffle", "upscale_factor": 0}, "upscale_factor"),
    ],
)  # fmt: skip
def test_mistakes_are_one_error(input_shape, layer, message):
    with pytest.raises(ConvCalcError, match=message):
        run(input_shape, layer)


CONV = {"type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 1}


def test_unshuffle_field_is_a_window_of_r_at_stride_r():
    """Output position i's channels read inputs r*i .. r*i + r - 1: after a padded 3x3 conv,
    3 + (3-1)*1 = 5 wide, moving by 3, starting 1 before the input; exact taps."""
    conv, row = run([2, 9, 6], CONV, unshuffle(3)).layers
    assert row.receptive_field == (5, 5)
    assert row.effective_stride == (3, 3)
    assert row.effective_padding == (1, 1)
    assert row.field_kind is FieldKind.EXACT


def test_shuffle_field_moves_by_one_over_r():
    """Output o reads input floor(o/r), as nearest upsampling by r: stride 1/r, and a 3x3
    conv after it spans 1 + 2/r inputs; an envelope, as upsample's."""
    row, conv = run([8, 5, 5], shuffle(2), CONV).layers
    assert row.receptive_field == (1, 1)
    assert row.effective_stride == (Fraction(1, 2),) * 2
    assert row.field_kind is conv.field_kind is FieldKind.ENVELOPE
    assert conv.receptive_field == (2, 2)
    assert conv.effective_padding == (Fraction(1, 2),) * 2
    nearest = run([8, 5, 5], {"type": "upsample", "scale_factor": 2}, CONV).layers
    assert [r.receptive_field for r in nearest] == [row.receptive_field, conv.receptive_field]


def test_unshuffle_then_shuffle_is_the_identity():
    for factor, sizes in ((2, [4, 6]), (3, [6]), (2, [2, 4, 2])):
        arrays = verify(
            build({"input": [3, *sizes], "layers": [unshuffle(factor), shuffle(factor)]}),
            keep_arrays=True,
        ).arrays
        np.testing.assert_array_equal(arrays["shuffle/output"], arrays["input"])


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.data())
def test_shuffle_values_follow_the_index_formula(dims, factor, channels, data):
    """out[c, r*i + a] = in[c*r^N + a (row-major over dims), i], at every rank."""
    sizes = [data.draw(st.integers(1, 3)) for _ in range(dims)]
    block = factor**dims
    arrays = verify(
        build({"input": [channels * block, *sizes], "batch": 2, "layers": [shuffle(factor)]}),
        keep_arrays=True,
    ).arrays
    values, out = arrays["input"], arrays["shuffle/output"]
    for offset_number, offsets in enumerate(itertools.product(range(factor), repeat=dims)):
        for channel in range(channels):
            taken = out[(slice(None), channel, *(slice(a, None, factor) for a in offsets))]
            np.testing.assert_array_equal(taken, values[:, channel * block + offset_number])


def test_verify_agrees():
    """Between convs, one padded and one strided, so the fields have padding to show."""
    after = {**CONV, "stride": 2, "padding": 0, "kernel_size": 2}
    for spatial, factor in (([6], 2), ([6, 9], 3), ([4, 4, 6], 2)):
        for layers in (
            [{**CONV, "out_channels": 8 * factor ** len(spatial)}, shuffle(factor), after],
            [CONV, unshuffle(factor), after],
            [CONV, unshuffle(factor), shuffle(factor), after],
        ):
            verification = verify(build({"input": [4, *spatial], "batch": 2, "layers": layers}))
            assert verification.ok, [
                f"{layer.name} {name}: {check.predicted} != {check.measured}"
                for layer, name, check in verification.mismatches
            ]


SYMBOLIC = """
input: [4, H, W]
layers:
  - {name: unshuffle, type: pixel_unshuffle, downscale_factor: 2}
  - {name: conv, type: conv, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: shuffle, type: pixel_shuffle, upscale_factor: 2}
"""


def test_symbolic_sizes_give_the_concrete_figures():
    pytest.importorskip("sympy")
    from convcalc.analysis import analyze
    from convcalc.spec import load_text
    from tests.test_symbolic import assert_same_figures

    network = load_text(SYMBOLIC)
    formulas = analyze(network)
    first = formulas.layers[0]
    assert [str(condition.relation) for condition in first.conditions[:2]] == [
        "Eq(2*floor(H/2), H)",
        "Eq(2*floor(W/2), W)",
    ]
    assert formulas.layers[-1].receptive_field == (6, 6)
    for sizes in ({"H": 4, "W": 6}, {"H": 10, "W": 2}):
        concrete = analyze(network, (4, sizes["H"], sizes["W"]))
        assert_same_figures(formulas, concrete, sizes)
    with pytest.raises(ConvCalcError, match="spatial size 5"):
        analyze(network, (4, 5, 6))


# PyTorch: F.pixel_shuffle and F.pixel_unshuffle are 2-d.


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 8), st.integers(1, 6), st.integers(1, 6))
def test_shapes_and_values_agree_with_pytorch(factor, channels, height, width):
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional

    def outcome(function):
        try:
            return function()
        except (ConvCalcError, RuntimeError):
            return None

    for layer, torch_function in (
        (shuffle(factor), functional.pixel_shuffle),
        (unshuffle(factor), functional.pixel_unshuffle),
    ):
        spec = {"input": [channels, height, width], "batch": 2, "layers": [layer]}
        arrays = outcome(lambda spec=spec: verify(build(spec), keep_arrays=True).arrays)
        expected = outcome(
            lambda f=torch_function: f(torch.randn(2, channels, height, width), factor)
        )
        assert (arrays is None) == (expected is None)
        if arrays is not None:
            theirs = torch_function(torch.from_numpy(arrays["input"]), factor).numpy()
            np.testing.assert_array_equal(arrays[f"{layer['name']}/output"], theirs)
