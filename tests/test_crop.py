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


# --- to: a centred crop to another layer's size (the U-Net's skips) -------------------------


def center_crop_start(size: int, target: int) -> int:
    """Where torchvision.transforms.functional.center_crop starts a crop of `size` to
    `target` (and transforms.v2's _center_crop_compute_crop_anchor): int(round((size -
    target) / 2.0)), Python's round taking a half to the even integer."""
    return int(round((size - target) / 2.0))


def skip_network(spatial: list[int], targets: list[int]) -> dict:
    """A map of size `spatial` cropped `to:` a conv output of size `targets`: a valid conv
    whose kernel is the difference plus one."""
    kernel = [size - target + 1 for size, target in zip(spatial, targets, strict=True)]
    return {
        "input": [2, *spatial],
        "batch": 2,
        "layers": [
            {"name": "small", "type": "conv", "out_channels": 3, "kernel_size": kernel},
            {"name": "crop", "type": "crop", "to": "small", "inputs": ["input"]},
        ],
    }


def test_center_crop_start_rounds_half_to_even():
    """The rule documented in the README, spelled out: an odd difference 2m + 1 puts the
    extra position after when m is even, before when m is odd."""
    assert [center_crop_start(10 + d, 10) for d in range(8)] == [0, 0, 1, 2, 2, 2, 3, 4]


@pytest.mark.parametrize(
    ("spatial", "targets"),
    [([9], [9]), ([9], [8]), ([12], [9]), ([13], [8]), ([17], [10]), ([8, 11], [5, 6]),
     ([7, 9, 6], [2, 4, 6])],
)  # fmt: skip
def test_to_crops_where_center_crop_does(spatial, targets):
    """The output takes the target's spatial sizes and keeps the channels; the kept values
    are the slice center_crop takes (PyTorch's slicing too); the field starts at the crop."""
    network = build(skip_network(spatial, targets))
    result = verify(network, keep_arrays=True)
    assert result.ok
    starts = [center_crop_start(n, t) for n, t in zip(spatial, targets, strict=True)]
    kept = tuple(slice(s, s + t) for s, t in zip(starts, targets, strict=True))
    expected = result.arrays["input"][(slice(None), slice(None), *kept)]
    np.testing.assert_array_equal(result.arrays["crop/output"], expected)
    from convcalc.analysis import analyze

    row = analyze(network).layers[-1]
    assert row.output_shape == (2, *targets)
    assert (row.params, row.macs, row.flops, row.connections) == (0, 0, 0, 0)
    assert row.effective_padding == tuple(-start for start in starts)
    torch = pytest.importorskip("torch")
    theirs = torch.from_numpy(result.arrays["input"])[(slice(None), slice(None), *kept)]
    np.testing.assert_array_equal(result.arrays["crop/output"], theirs.numpy())


def test_an_odd_difference_is_a_note_naming_both_sides():
    """12 -> 9 cuts 3: center_crop starts at round(1.5) = 2, so 2 before and 1 after; 8 -> 6
    cuts 2, centred, no note."""
    row = run([2, 12, 8], {"name": "small", "type": "conv", "out_channels": 3,
                           "kernel_size": [4, 3]},
              {"type": "crop", "to": "small", "inputs": ["input"]}).layers[-1]  # fmt: skip
    assert row.notes == (
        "off centre: 3 positions to cut, an odd number: 2 before and 1 after, as torchvision's"
        " center_crop rounds (spatial dim 1)",
    )


def test_to_input_and_to_a_layer_in_a_block():
    """`to: input` crops to the network input's size; inside a block, `to` names the
    block's layers and `in`, resolved like `inputs`."""
    spec = {
        "input": [3, 10, 10],
        "blocks": {
            "grow": {
                "layers": [
                    {"name": "pad", "type": "pad", "padding": 3},
                    {"name": "conv", "type": "conv", "out_channels": 3, "kernel_size": 3},
                    {"name": "back", "type": "crop", "to": "in"},
                ]
            }
        },
        "layers": [
            {"name": "stage", "type": "block", "use": "grow", "repeat": 2},
            {"name": "wide", "type": "pad", "padding": 2},
            {"name": "home", "type": "crop", "to": "input"},
        ],
    }
    network = build(spec)
    named = {layer.name: layer.to for layer in network.layers if layer.type == "crop"}
    assert named == {"stage.0.back": "input", "stage.1.back": "stage.0.back", "home": "input"}
    from convcalc.analysis import analyze

    rows = {row.name: row for row in analyze(network).layers}
    assert rows["stage.1.back"].output_shape == rows["home"].output_shape == (3, 10, 10)
    # 14 -> 10 cuts 2 on each side, after a 3x3 conv on a map padded by 3.
    assert rows["stage.0.back"].effective_padding == (3 - 2, 3 - 2)


SMALL = {"name": "small", "type": "conv", "out_channels": 3, "kernel_size": 3}


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ([SMALL, {"name": "wide", "type": "pad", "padding": 1, "inputs": ["input"]},
          {"type": "crop", "to": "wide", "inputs": ["small"]}],
         "to: target 10 of 'wide' is larger than the input's 6 in spatial dim 1 of input 3x6x4"),
        ([{"type": "crop", "to": "input", "inputs": ["input"]}, SMALL,
          {"type": "crop", "to": "input"}],
         "to: target 8 of 'input' is larger than the input's 6"),
        ([{"type": "crop", "to": "later"}, {"name": "later", "type": "dropout"}],
         "to: 'later' comes later"),
        ([{"type": "crop", "to": "nowhere"}], "to: unknown layer 'nowhere'"),
        ([SMALL, {"type": "crop", "to": "small", "cropping": 1, "inputs": ["input"]}],
         "to: give exactly one of cropping and to"),
        ([{"type": "crop"}], "cropping: give exactly one of cropping and to"),
        ([{"name": "flat", "type": "flatten"}, {"type": "crop", "to": "flat", "inputs": ["input"]}],
         "to: 'flat' has 0 spatial dims, the input 3x8x6 has 2"),
        ([{"type": "crop", "to": 3}], "to"),
    ],
)  # fmt: skip
def test_to_mistakes_are_one_error_naming_the_field(layers, message):
    with pytest.raises(ConvCalcError) as caught:
        run([3, 8, 6], *layers)
    assert message in str(caught.value), str(caught.value)
    assert "\n" not in str(caught.value)


def test_to_refused_target_from_the_command_line(tmp_path):
    """The CLI says it on one line, exit 2."""
    from typer.testing import CliRunner

    from convcalc.cli import app

    path = tmp_path / "net.yaml"
    path.write_text(
        "input: [1, 8, 8]\nlayers:\n"
        "  - {name: big, type: pad, padding: 1}\n"
        "  - {name: crop, type: crop, to: big, inputs: [input]}\n"
    )
    result = CliRunner().invoke(app, ["shapes", str(path)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert "crop" in lines[0]
    assert "to: target 10 of 'big' is larger than the input's 8 in spatial dim 1" in lines[0]


def test_to_symbolic_offsets_and_the_parity_condition():
    """With formula sizes the crop keeps the target's formula; its offsets are known once
    the sizes are set and equal the concrete run's at every size, and an even difference
    (a centred crop) is an exact condition: `sizes --exact` keeps exactly the sizes whose
    concrete run has no off-centre note."""
    pytest.importorskip("sympy")
    from convcalc.analysis import analyze
    from convcalc.spec import load_text
    from convcalc.symbolic.scan import scan
    from tests.test_symbolic import (
        assert_conditions_agree,
        assert_same_figures,
        dropped_dims,
        is_inexact,
    )

    network = load_text(
        "input: [3, H, W]\nlayers:\n"
        "  - {name: down, type: conv, out_channels: 4, kernel_size: 3, stride: 2}\n"
        "  - {name: crop, type: crop, to: down, inputs: [input]}\n"
    )
    formulas = analyze(network)
    down, crop = formulas.layers
    assert crop.output_shape == (3, *down.output_shape[1:])
    assert crop.effective_padding is None  # depends on the size
    exact = [c for c in crop.conditions if c.kind == "exact"]
    assert len(exact) == 2 and {c.field for c in exact} == {"to"}
    centred, clean = [], []
    for size in range(3, 40):
        sizes = {"H": size, "W": 11}
        concrete = analyze(network, (3, size, 11))
        assert_same_figures(formulas, concrete, sizes)
        assert_conditions_agree(formulas, concrete, sizes)
        # The difference n - (floor((n - 3)/2) + 1) is even.
        if (size - ((size - 3) // 2 + 1)) % 2 == 0:
            centred.append(size)
        if not any(is_inexact(note) and 1 in dropped_dims(note) for _, note in concrete.notes):
            clean.append(size)
        start = center_crop_start(size, (size - 3) // 2 + 1)
        assert concrete.layers[-1].effective_padding[0] == -start
    assert centred[:4] == [3, 6, 7, 10]  # n mod 4 in {2, 3}
    assert scan(formulas, "H", 3, 39).sizes == list(range(3, 40))
    # --exact: centred, and the stride-2 conv reading every row (n odd).
    exact_sizes = [size for size in centred if (size - 3) % 2 == 0]
    assert scan(formulas, "H", 3, 39, exact=True).sizes == exact_sizes == clean


def test_to_a_constant_difference_of_formula_sizes_is_a_number():
    """Between two valid convs both sizes shrink alike: (H - 2) - (H - 6) = 4 cuts 2 on each
    side at every H, a number in the field; 5 in W is off centre at every W, so `sizes
    --exact` keeps no W (and every H)."""
    pytest.importorskip("sympy")
    from convcalc.analysis import analyze
    from convcalc.spec import load_text
    from convcalc.symbolic.scan import scan

    network = load_text(
        "input: [3, H, W]\nlayers:\n"
        "  - {name: wide, type: conv, out_channels: 4, kernel_size: 3}\n"
        "  - {name: narrow, type: conv, out_channels: 4, kernel_size: [5, 6]}\n"
        "  - {name: crop, type: crop, to: narrow, inputs: [wide]}\n"
    )
    formulas = analyze(network)
    crop = formulas.layers[-1]
    assert crop.effective_padding == (-center_crop_start(4, 0), -center_crop_start(5, 0))
    assert crop.effective_padding == (-2, -2)
    assert len(crop.notes) == 1 and "(spatial dim 2)" in crop.notes[0]
    assert scan(formulas, "H", 1, 30, exact=True).sizes == list(range(7, 31))
    assert scan(formulas, "W", 1, 30, exact=True, values={"H": 9}).sizes == []
    assert scan(formulas, "W", 1, 30, values={"H": 9}).sizes == list(range(8, 31))
