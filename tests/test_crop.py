"""Cropping (convcalc/layers/pad.py's Crop): shapes, zero costs, the field (pad's step with
the opposite sign), the one-line errors, values against slicing (PyTorch's and NumPy's),
`verify` agreeing on every check, and symbolic sizes."""

from __future__ import annotations

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


def crop(cropping) -> dict:
    return {"name": "crop", "type": "crop", "cropping": cropping}


@pytest.mark.parametrize(
    ("input_shape", "cropping", "output"),
    [
        ([3, 8, 6], 1, (3, 6, 4)),
        ([3, 8, 6], [2, 0], (3, 4, 6)),
        ([3, 8, 6], [[1, 2], [0, 3]], (3, 5, 3)),
        ([3, 9], [[4, 4]], (3, 1)),
        ([2, 5, 5, 5], [[0, 1], 2, [3, 0]], (2, 4, 1, 2)),
    ],
)  # fmt: skip
def test_shapes_and_zero_costs(input_shape, cropping, output):
    """Cropping copies the values it keeps: no params, arithmetic or connections."""
    row = run(input_shape, crop(cropping)).layers[0]
    assert row.output_shape == output
    assert (row.params, row.buffers, row.macs, row.flops, row.connections) == (0, 0, 0, 0, 0)


@pytest.mark.parametrize(
    ("input_shape", "cropping", "message"),
    [
        ([3, 8, 6], [[4, 4], 0], "cropping 4 \\+ 4 leaves nothing of size 8 in spatial dim 1"),
        ([3, 8, 6], 3, "cropping 3 \\+ 3 leaves nothing of size 6 in spatial dim 2"),
        ([3, 8, 6], [1, 1, 1], "3 values for a 2-d input"),
        ([3, 8, 6], -1, "cropping"),
        ([3, 8, 6], "same", "cropping"),
        ([12], 1, "crop needs spatial dims"),
    ],
)  # fmt: skip
def test_mistakes_are_one_error(input_shape, cropping, message):
    with pytest.raises(ConvCalcError, match=message):
        run(input_shape, crop(cropping))


CONV = {"type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1}


def test_field_starts_where_the_crop_does():
    """Output o is input o + before: pad's step (1, 1, padding) with padding -before. After a
    padded conv (padding 1), cropping 2 leaves an effective padding of 1 - 2 = -1."""
    conv, row = run([2, 9, 7], CONV, crop([[2, 1], 0])).layers
    assert row.receptive_field == conv.receptive_field == (3, 3)
    assert row.effective_stride == (1, 1)
    assert row.effective_padding == (-1, 1)
    assert row.field_kind is FieldKind.EXACT
    # Pad then crop by the same amounts gives back the field of the conv.
    *_, back = run([2, 9, 7], CONV, {"type": "pad", "padding": 2}, crop(2)).layers
    assert back.effective_padding == conv.effective_padding


@SETTINGS
@given(st.integers(1, 3), st.data())
def test_values_are_the_slice(dims, data):
    sizes = [data.draw(st.integers(1, 6)) for _ in range(dims)]
    cuts = []
    for size in sizes:
        before = data.draw(st.integers(0, size - 1))
        cuts.append([before, data.draw(st.integers(0, size - 1 - before))])
    spec = {"input": [2, *sizes], "batch": 2, "layers": [crop(cuts)]}
    arrays = verify(build(spec), keep_arrays=True).arrays
    kept = tuple(
        slice(before, size - after) for size, (before, after) in zip(sizes, cuts, strict=True)
    )
    expected = arrays["input"][(slice(None), slice(None), *kept)]
    np.testing.assert_array_equal(arrays["crop/output"], expected)
    torch = pytest.importorskip("torch")
    theirs = torch.from_numpy(arrays["input"])[(slice(None), slice(None), *kept)]
    np.testing.assert_array_equal(arrays["crop/output"], theirs.numpy())


def test_verify_agrees():
    """Between convs, one padded and one strided, so the fields have padding to show; a
    crop of a padded map keeps some of the padding in the field."""
    after = {**CONV, "stride": 2, "padding": 0, "kernel_size": 2}
    for spatial, cropping in (([9], [[1, 2]]), ([8, 7], [[2, 1], 1]), ([5, 6, 4], [0, [1, 2], 1])):
        for layers in (
            [CONV, crop(cropping), after],
            [CONV, {"type": "pad", "padding": 2}, crop(cropping), after],
        ):
            verification = verify(build({"input": [4, *spatial], "batch": 2, "layers": layers}))
            assert verification.ok, [
                f"{layer.name} {name}: {check.predicted} != {check.measured}"
                for layer, name, check in verification.mismatches
            ]


def test_symbolic_sizes_give_the_concrete_figures():
    pytest.importorskip("sympy")
    from convcalc.analysis import analyze
    from convcalc.spec import load_text
    from tests.test_symbolic import assert_same_figures

    network = load_text(
        "input: [3, H, W]\nlayers:\n"
        "  - {name: conv, type: conv, out_channels: 4, kernel_size: 3}\n"
        "  - {name: crop, type: crop, cropping: [[1, 2], 3]}\n"
    )
    formulas = analyze(network)
    assert [str(size) for size in formulas.layers[-1].output_shape[1:]] == ["H - 5", "W - 8"]
    for sizes in ({"H": 6, "W": 9}, {"H": 12, "W": 20}):
        concrete = analyze(network, (3, sizes["H"], sizes["W"]))
        assert_same_figures(formulas, concrete, sizes)
    with pytest.raises(ConvCalcError, match="leaves nothing"):
        analyze(network, (3, 5, 9))
