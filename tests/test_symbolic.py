"""Symbolic input sizes (`input: [3, H, W]`): formulas checked against the concrete engine.

Every formula is evaluated at sizes and compared with `analyze` of the same network run with
those sizes as numbers; every "valid" condition is checked against the sizes the concrete
engine refuses; printed formulas against closed forms written here; the evaluator against
sympy's own substitution and plain integer arithmetic.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from convcalc import symbolic
from convcalc.analysis import Report, analyze
from convcalc.cli import app
from convcalc.commands import analyze_spec
from convcalc.errors import ConvCalcError
from convcalc.flags import said
from convcalc.spec import build, load_path, load_text, set_sizes
from convcalc.symbolic.scan import scan

sympy = pytest.importorskip("sympy")  # the `symbolic` extra, which CI installs

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
CONCRETE_SPECS = sorted(path for path in SPECS.glob("*.yaml") if "symbolic" not in path.stem)
UNET = SPECS / "unet_same_symbolic.yaml"
FCN16S = SPECS / "fcn16s_symbolic.yaml"
PAPER_UNET = SPECS / "unet_symbolic.yaml"  # valid convs, cropped skips

FIGURES = ("output_shape", "params", "buffers", "macs", "flops", "output_bytes")
TOTALS = ("params", "buffers", "macs", "flops", "model_bytes")
FIELDS = ("receptive_field", "effective_stride", "effective_padding")
AXES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
# Notes of an inexact size (`sizes --exact` refuses it): rows a stride drops, a crop `to:`
# another layer off centre.
INEXACT = ("never reads the last", "off centre")


def is_inexact(note: str) -> bool:
    """Whether a note says its layer drops rows or columns, or crops off centre."""
    return any(piece in note for piece in INEXACT)


runner = CliRunner()


# --- helpers ------------------------------------------------------------------------------


def at(value, sizes: dict[str, int]):
    """A figure (or a shape, a tuple of them) evaluated at sizes {name: int}."""
    if isinstance(value, tuple):
        return tuple(at(item, sizes) for item in value)
    return symbolic.evaluate(value, {symbolic.symbol(name): size for name, size in sizes.items()})


def holds(condition: symbolic.Condition, sizes: dict[str, int]) -> bool:
    """True when a recorded condition holds at the sizes."""
    return bool(at(condition.relation, sizes))


def runs(network, shape: tuple[int, ...]) -> Report | None:
    """The concrete report at `shape`, or None when the concrete engine refuses it."""
    try:
        if len(network.inputs) > 1:  # --input replaces one input only: set the symbols
            names = [size for size in network.input.spatial]
            return analyze(set_sizes(network, dict(zip(names, shape[1:], strict=True))))
        return analyze(network, shape)
    except ConvCalcError:
        return None


def dropped_dims(note: str) -> set[int]:
    """The spatial dims (1-based) an inexact note (see INEXACT) is about."""
    found = re.search(r"\(spatial dims? ([0-9, ]+)\)", note)
    assert found, note
    return {int(dim) for dim in found[1].split(", ")}


def assert_same_figures(formulas: Report, concrete: Report, sizes: dict[str, int]) -> None:
    """Every row figure and total of `formulas` at `sizes` equals the concrete report's."""
    assert [row.name for row in formulas.layers] == [row.name for row in concrete.layers]
    for row, number in zip(formulas.layers, concrete.layers, strict=True):
        for name in FIGURES:
            assert at(getattr(row, name), sizes) == getattr(number, name), (row.name, name)
        if row.connections is not None:  # None: known only once the sizes are set
            assert at(row.connections, sizes) == number.connections, row.name
        for name in FIELDS:  # None: the field depends on the size (a formula padding)
            if getattr(row, name) is not None:
                assert getattr(row, name) == getattr(number, name), (row.name, name)
    for name in TOTALS:
        assert at(getattr(formulas.totals, name), sizes) == getattr(concrete.totals, name), name


def assert_conditions_agree(formulas: Report, concrete: Report, sizes: dict[str, int]) -> None:
    """At sizes the concrete engine runs: every valid condition holds, and an exact condition
    fails in a row exactly when that row drops trailing rows or columns of a symbolic dim."""
    symbolic_dims = {
        axis + 1 for axis, size in enumerate(formulas.input[1:]) if not isinstance(size, int)
    }
    for row, number in zip(formulas.layers, concrete.layers, strict=True):
        for condition in row.conditions:
            if condition.kind == "valid":
                assert holds(condition, sizes), (row.name, condition)
        drops = any(dropped_dims(note) & symbolic_dims for note in number.notes if is_inexact(note))
        # A failure at a number size names its axis; it counts when that axis is symbolic.
        inexact = any(
            not holds(c, sizes)
            for c in row.conditions
            if c.kind == "exact" and (c.axis is None or c.axis + 1 in symbolic_dims)
        )
        assert inexact == drops, (row.name, sizes, number.notes)


def symbolic_twin(path: Path):
    """The spec at `path` with each spatial input size replaced by its own symbol."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if "inputs" in document:  # named inputs: the same symbols in each (their sizes agree)
        shapes = list(document["inputs"].values())
        assert all(shape[1:] == shapes[0][1:] for shape in shapes)
        channels, *spatial = shapes[0]
        names = AXES[len(spatial)]
        symbolic = {name: [shape[0], *names] for name, shape in document["inputs"].items()}
        network = build({**document, "inputs": symbolic}, default_name=path.stem)
        return network, channels, dict(zip(names, spatial, strict=True))
    channels, *spatial = document["input"]
    names = AXES[len(spatial)]
    network = build({**document, "input": [channels, *names]}, default_name=path.stem)
    return network, channels, dict(zip(names, spatial, strict=True))


# Specs that run at their own sizes only: SegNet's unpools restore sizes given as numbers.
PINNED_SIZES = {"segnet"}


def nearby_sizes(first: dict[str, int], count: int = 32):
    """Sizes near the spec's own, a different offset per axis."""
    for step in range(1, count + 1):
        yield {name: size + step * (axis + 1) for axis, (name, size) in enumerate(first.items())}


# --- 1. substitution equals the concrete path, on every spec --------------------------------


@pytest.mark.parametrize("path", CONCRETE_SPECS, ids=[path.stem for path in CONCRETE_SPECS])
def test_formulas_of_every_spec_equal_the_concrete_figures(path: Path):
    """Each spec with its input sizes made symbols gives, at the spec's own sizes and at the
    first nearby size the concrete engine runs, exactly its figures and fields; nearby sizes
    it refuses on the way each break a valid condition."""
    network, channels, own = symbolic_twin(path)
    formulas = analyze(network)
    assert formulas.symbols == tuple(own)
    # A window's connections change with the size modulo its stride: known once set.
    assert formulas.totals.connections is None
    assert formulas.totals.peak_activation_bytes is None
    # At its own sizes the reference is the spec as written.
    as_written = analyze(load_path(path))
    assert_same_figures(formulas, as_written, own)
    assert_conditions_agree(formulas, as_written, own)
    compared = False
    for sizes in nearby_sizes(own):
        concrete = runs(network, (channels, *sizes.values()))
        if concrete is None:
            assert not all(holds(c, sizes) for _, c in formulas.conditions if c.kind == "valid")
            continue
        assert_same_figures(formulas, concrete, sizes)
        assert_conditions_agree(formulas, concrete, sizes)
        compared = True
        break
    assert compared or path.stem in PINNED_SIZES


@pytest.mark.parametrize(
    ("path", "sizes"),
    [
        pytest.param(UNET, {"H": 64, "W": 32}, id="unet-64x32"),
        pytest.param(UNET, {"H": 48, "W": 160}, id="unet-48x160"),
        pytest.param(FCN16S, {"H": 32, "W": 47}, id="fcn16s-32x47"),
        pytest.param(PAPER_UNET, {"H": 572, "W": 189}, id="paper-unet-572x189"),
        pytest.param(FCN16S, {"H": 100, "W": 64}, id="fcn16s-100x64"),
    ],
)
def test_simplified_formulas_equal_the_numbers_of_the_same_report(path: Path, sizes: dict):
    """analyze_spec with every size set: its simplified formulas, evaluated at the sizes,
    give its own numbers, which equal analyze() with the sizes as --input."""
    report = analyze_spec(path, sizes=sizes)
    assert report.symbols == ()
    assert report.sizes_set == tuple(sizes.items())
    assert report.formulas is not None and report.formulas.symbols == tuple(sizes)
    assert_same_figures(report.formulas, report, sizes)
    shape = (load_path(path).input.channels, *sizes.values())
    assert_same_figures(report.formulas, analyze(load_path(path), shape), sizes)
    assert_same_figures(report.formulas, analyze_spec(path, input_shape=shape), sizes)


def test_partly_set_sizes_leave_formulas_in_the_rest():
    """Setting H only keeps W a symbol, and the W formulas match the concrete engine."""
    report = analyze_spec(UNET, sizes={"H": 64})
    assert report.symbols == ("W",)
    assert report.assumptions == ("W is a multiple of 16",)
    for width in (16, 48, 80):
        concrete = analyze(load_path(UNET), (1, 64, width))
        assert_same_figures(report, concrete, {"W": width})


# --- 2. sizes the concrete engine refuses break a valid condition ----------------------------


def conv(**fields) -> dict:
    """A 3x3 conv to 4 channels, with `fields` changed."""
    return {"type": "conv", "out_channels": 4, "kernel_size": 3, **fields}


# Small networks on [2, H, 8] (W a number, so symbols and numbers mix), one feature each.
SMALL_NETWORKS = [
    pytest.param([conv(stride=2, padding=1)], id="conv-stride"),
    pytest.param([conv(kernel_size=5, stride=3, dilation=2, padding=2)], id="conv-dilated"),
    pytest.param([conv(stride=2, padding="same")], id="conv-same-stride"),
    pytest.param([conv(kernel_size=2, stride=3, padding="same")], id="conv-same-stride-3"),
    pytest.param(
        [{"type": "max_pool", "kernel_size": 3, "stride": 2, "ceil_mode": True}],
        id="max-pool-ceil",
    ),
    pytest.param(
        [{"type": "avg_pool", "kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}],
        id="avg-pool-ceil-padded",
    ),
    # Stacked ceil_mode pools (SegNet's encoder): nested choices of the last window.
    pytest.param(
        [{"type": "max_pool", "kernel_size": 2, "ceil_mode": True, "repeat": 2}],
        id="max-pool-ceil-twice",
    ),
    pytest.param(
        [{"type": "max_pool", "kernel_size": 3, "stride": 2, "ceil_mode": True, "repeat": 3}],
        id="max-pool-ceil-thrice",
    ),
    pytest.param(
        [{"type": "max_pool", "kernel_size": 2, "padding": 1, "ceil_mode": True, "repeat": 2}],
        id="max-pool-ceil-padded-twice",
    ),
    pytest.param(
        [{"type": "max_pool", "kernel_size": 2, "stride": 1, "dilation": 3}], id="pool-dil"
    ),
    pytest.param(
        [
            {
                "type": "conv_transpose",
                "out_channels": 3,
                "kernel_size": 4,
                "stride": 2,
                "padding": 1,
            },
            conv(stride=2, padding=1),
        ],
        id="transposed",
    ),
    pytest.param(
        [
            {
                "type": "conv_transpose",
                "out_channels": 3,
                "kernel_size": 3,
                "stride": 2,
                "padding": "same",
            }
        ],
        id="transposed-same",
    ),
    pytest.param([{"type": "upsample", "scale_factor": 0.5}], id="upsample-half"),
    pytest.param([{"type": "upsample", "scale_factor": 2, "mode": "bilinear"}], id="bilinear"),
    pytest.param([{"type": "upsample", "size": [9, 5], "mode": "bilinear"}], id="upsample-size"),
    pytest.param(
        [
            {"name": "down", **conv(stride=2, padding=1)},
            {
                "name": "up",
                "type": "conv_transpose",
                "out_channels": 2,
                "kernel_size": 2,
                "stride": 2,
            },
            {"type": "add", "inputs": ["up", "input"]},
        ],
        id="skip-add",
    ),
    pytest.param(
        [
            {"name": "pool", "type": "max_pool", "kernel_size": 2},
            {"name": "strided", **conv(stride=2, padding=1), "inputs": ["input"]},
            {"type": "concat", "inputs": ["pool", "strided"]},
        ],
        id="concat",
    ),
    pytest.param(
        [
            conv(stride=2, padding=1),
            {"type": "flatten"},
            {"type": "dense", "out_features": 5, "in_features": 64},
        ],
        id="dense-in-features",
    ),
    pytest.param(
        [conv(stride=2, padding=1), {"type": "flatten"}, {"type": "dense", "out_features": 5}],
        id="dense-grows",
    ),
    pytest.param(
        [
            {"type": "adaptive_avg_pool", "output_size": 3},
            {"type": "flatten"},
            {"type": "dense", "out_features": 5, "in_features": 18},
        ],
        id="adaptive-pool",
    ),
    pytest.param([{"type": "adaptive_max_pool", "output_size": [4, 2]}], id="adaptive-max"),
    pytest.param(
        [
            {"name": "pool", "type": "max_pool", "kernel_size": 2},
            {"name": "unpool", "type": "max_unpool", "of": "pool"},
            {"type": "concat", "inputs": ["unpool", "input"]},
        ],
        id="unpool",
    ),
    pytest.param(
        [
            {"name": "pool", "type": "max_pool", "kernel_size": 2, "ceil_mode": True},
            {"name": "unpool", "type": "max_unpool", "of": "pool", "output_size": [9, 7]},
        ],
        id="unpool-output-size",
    ),
    pytest.param(
        [
            {"type": "pad", "padding": [[0, 1], [1, 0]]},
            {"type": "depthwise_conv", "kernel_size": 3, "stride": 2},
        ],
        id="pad-depthwise",
    ),
    pytest.param(
        [
            {
                "type": "separable_conv",
                "out_channels": 4,
                "kernel_size": 3,
                "stride": 2,
                "padding": "same",
            }
        ],
        id="separable-same",
    ),
    pytest.param([{"type": "subsample", "kernel_size": 2}], id="subsample"),
    pytest.param(
        [
            conv(stride=2),
            {"type": "global_avg_pool"},
            {"type": "flatten"},
            {"type": "dense", "out_features": 3},
        ],
        id="global-pool-dense",
    ),
    pytest.param(
        [
            conv(stride=2),
            {"type": "channel_shuffle", "groups": 2},
            {"type": "batchnorm"},
            {"type": "activation", "function": "relu"},
            {"type": "dropout", "p": 0.5},
        ],
        id="shuffle-norm",
    ),
]
SMALL_NETWORKS.append(
    pytest.param(
        [
            {"name": "x", **conv(stride=2, padding=1)},
            {"type": "global_avg_pool"},
            {"name": "gate", "type": "conv", "out_channels": 4, "kernel_size": 1,
             "activation": "sigmoid"},
            {"name": "scaled", "type": "multiply", "inputs": ["x", "gate"]},
            {"type": "add", "inputs": ["scaled", "x"]},
            {"type": "prelu", "num_parameters": 4},
            {"type": "scale"},
            {"type": "activation", "function": "mish"},
        ],
        id="se-gate",
    )
)  # fmt: skip
SMALL_INPUT = [2, "H", 8]
SMALL_RANGE = range(1, 41)


@pytest.mark.parametrize("layers", SMALL_NETWORKS)
def test_valid_conditions_hold_exactly_where_the_concrete_engine_runs(layers: list):
    """For each H in 1..40 the concrete engine runs exactly when every valid condition holds,
    and then the formulas give its figures and the exact conditions its dropped rows."""
    network = build({"input": SMALL_INPUT, "layers": layers})
    formulas = analyze(network)
    accepted = 0
    for height in SMALL_RANGE:
        sizes = {"H": height}
        valid = all(holds(c, sizes) for _, c in formulas.conditions if c.kind == "valid")
        concrete = runs(network, (2, height, 8))
        assert valid == (concrete is not None), height
        if concrete is not None:
            accepted += 1
            assert_same_figures(formulas, concrete, sizes)
            assert_conditions_agree(formulas, concrete, sizes)
    assert accepted  # the table's networks all run at some size


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        pytest.param(UNET, (1, 40, 64), id="unet-H40"),
        pytest.param(UNET, (1, 64, 72), id="unet-W72"),
        pytest.param(FCN16S, (3, 48, 64), id="fcn16s-H48"),
        pytest.param(PAPER_UNET, (1, 187, 572), id="paper-unet-H187"),
        pytest.param(FCN16S, (3, 64, 31), id="fcn16s-W31"),
    ],
)
def test_refused_size_breaks_a_valid_condition_of_the_failing_layer(path: Path, refused):
    """Where the concrete engine refuses a size, a valid condition of the very layer it
    names evaluates False."""
    network = load_path(path)
    with pytest.raises(ConvCalcError) as refusal:
        analyze(network, refused)
    sizes = dict(zip(network.symbols, refused[1:], strict=True))
    formulas = analyze(network)
    broken = [
        row.name for row, c in formulas.conditions if c.kind == "valid" and not holds(c, sizes)
    ]
    assert broken and broken[0] == refusal.value.layer_name


# --- 3. formula text ------------------------------------------------------------------------


def test_strided_conv_prints_floor_over_one_denominator():
    """conv k3 s2 p1 prints floor((H - 1)/2) + 1, which is (H + 2 - 3)//2 + 1 at every H;
    its params are a plain int, 3*8*9 + 8."""
    row = analyze(
        build({"input": [3, "H", "W"], "layers": [conv(out_channels=8, stride=2, padding=1)]})
    ).layers[0]
    assert row.output_shape[0] == 8 and type(row.output_shape[0]) is int
    assert [symbolic.formula(size) for size in row.output_shape[1:]] == [
        "floor((H - 1)/2) + 1",
        "floor((W - 1)/2) + 1",
    ]
    assert all(at(row.output_shape[1], {"H": h}) == (h + 2 - 3) // 2 + 1 for h in range(1, 99))
    assert type(row.params) is int and row.params == 3 * 8 * 9 + 8
    assert row.connections is None


def test_unet_formulas_assume_the_residue_its_skips_require():
    """Through analyze_spec U-Net's pool4 prints H/16 (H must be a multiple of 16, said in
    the assumptions); plain analyze keeps floor(H/16) and assumes nothing."""

    def pool4(report: Report) -> list[str]:
        row = next(row for row in report.layers if row.name == "pool4")
        return [symbolic.formula(size) for size in row.output_shape]

    simplified = analyze_spec(UNET)
    assert pool4(simplified) == ["512", "H/16", "W/16"]
    assert simplified.assumptions == ("H is a multiple of 16", "W is a multiple of 16")
    raw = analyze(load_path(UNET))
    assert pool4(raw) == ["512", "floor(H/16)", "floor(W/16)"]
    assert raw.assumptions == ()


SIZE_OF = """
input: [3, H, W]
layers:
  - {name: stem, type: conv, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: down, type: conv, out_channels: 4, kernel_size: 3, stride: 2}
  - {name: pooled, type: adaptive_avg_pool, output_size: 1}
  - {name: gate, type: upsample, size_of: down, mode: bilinear}
  - {name: up, type: upsample, size_of: stem, mode: bilinear, inputs: [gate]}
  - {name: sum, type: add, inputs: [up, stem]}
"""


def test_size_of_takes_the_formula_size_of_the_layer_it_names(tmp_path: Path):
    network = load_text(SIZE_OF, name="size_of")
    formulas = analyze(network)
    rows = {row.name: row for row in formulas.layers}
    assert rows["gate"].output_shape == rows["down"].output_shape  # from a 1x1 map
    assert rows["up"].output_shape == rows["stem"].output_shape
    assert [symbolic.formula(size) for size in rows["up"].output_shape[1:]] == ["H", "W"]
    for sizes in ({"H": 17, "W": 23}, {"H": 8, "W": 3}, {"H": 3, "W": 40}):
        assert_same_figures(formulas, analyze(network, (3, *sizes.values())), sizes)
    path = tmp_path / "size_of.yaml"
    path.write_text(SIZE_OF)
    result = runner.invoke(app, ["sizes", str(path), "--range", "1..40"])
    assert result.exit_code == 0, result.output
    assert "H must be at least 3" in result.output


def test_unet_macs_are_a_constant_times_h_times_w():
    """U-Net's simplified total MACs is c*H*W, c the concrete MACs of unet.yaml at 512x512
    over 512*512."""
    macs = analyze_spec(UNET).totals.macs
    height, width = symbolic.symbol("H"), symbolic.symbol("W")
    terms = sympy.Poly(macs, height, width).as_dict()
    assert list(terms) == [(1, 1)]
    concrete = analyze(load_path(SPECS / "unet_same.yaml"))
    assert concrete.input == (1, 512, 512)
    assert Fraction(concrete.totals.macs, 512 * 512) == terms[(1, 1)]


def test_shapes_json_with_sizes_set_gives_numbers_and_formulas():
    """`shapes --set` JSON: numbers equal to --input's, and per-layer formulas whose text
    matches closed forms (first conv: 64*3*3*1 MACs per position)."""
    result = runner.invoke(
        app, ["shapes", str(UNET), "--set", "H=64", "--set", "W=32", "--format", "json"]
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    given_input = runner.invoke(app, ["shapes", str(UNET), "--input", "1x64x32", "-f", "json"])
    assert given_input.exit_code == 0, given_input.stderr
    assert data["totals"] == json.loads(given_input.stdout)["totals"]
    assert data["symbols"] == ["H", "W"]
    assert data["sizes"] == {"H": 64, "W": 32}
    assert data["assumptions"] == ["H is a multiple of 16", "W is a multiple of 16"]
    first = data["layers"][0]
    assert first["output_shape"] == [64, 64, 32]
    assert first["formula"]["output_shape"] == ["64", "H", "W"]
    assert first["formula"]["macs"] == f"{64 * 3 * 3 * 1}*H*W"
    assert first["formula"]["params"] == str(64 * 3 * 3 * 1 + 64)
    pool4 = next(layer for layer in data["layers"] if layer["name"] == "pool4")
    assert pool4["formula"]["output_shape"] == ["512", "H/16", "W/16"]
    assert data["formula_totals"]["params"] == str(data["totals"]["params"])


def test_shapes_json_formula_totals_have_no_none_strings():
    """formula_totals holds formula strings, or null for a figure known only once sizes are
    set, never the text 'None'."""
    result = runner.invoke(
        app, ["shapes", str(UNET), "--set", "H=64", "--set", "W=32", "--format", "json"]
    )
    assert result.exit_code == 0, result.stderr
    totals = json.loads(result.stdout)["formula_totals"]
    assert "None" not in totals.values()
    assert totals["connections"] is None


@pytest.mark.parametrize(
    ("path", "layer", "shape"),
    [
        # pool4 of a U-Net whose skips need H, W multiples of 16: H/16 exactly.
        pytest.param(UNET, "pool4", [512, "H/16", "W/16"], id="unet"),
        # upscore2 (4x4, stride 2, padding 1) of pool5's floor(H/32): 2*floor(H/32).
        pytest.param(FCN16S, "fuse_pool4", [21, "2*floor(H/32)", "2*floor(W/32)"], id="fcn16s"),
    ],
)
def test_shapes_json_of_a_symbolic_spec_gives_formula_strings(path: Path, layer: str, shape):
    """`shapes --format json` on a symbolic spec: the input's symbols and the figures as
    formula strings, figures known only once the sizes are set as null."""
    result = runner.invoke(app, ["shapes", str(path), "--format", "json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["input"][1:] == ["H", "W"]
    assert data["symbols"] == ["H", "W"]
    row = next(row for row in data["layers"] if row["name"] == layer)
    assert row["output_shape"] == shape
    assert data["totals"]["connections"] is None
    assert data["totals"]["peak_activation_bytes"] is None
    assert isinstance(data["totals"]["macs"], str) and "H" in data["totals"]["macs"]
    assert isinstance(data["totals"]["params"], int)


def test_shapes_json_names_the_condition_of_the_fcn16s_skip():
    """FCN-16s's skip sum states its condition in the JSON: floor(H/16) == 2*floor(H/32)."""
    result = runner.invoke(app, ["shapes", str(FCN16S), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    row = next(row for row in json.loads(result.stdout)["layers"] if row["name"] == "fuse_pool4")
    valid = [c for c in row["conditions"] if c["kind"] == "valid" and c["field"] == "inputs"]
    assert len(valid) == 2
    for condition, dim in zip(valid, "HW", strict=True):
        left, right = condition["condition"].split(" == ")
        assert {left, right} == {f"floor({dim}/16)", f"2*floor({dim}/32)"}


# --- 4. the numeric path never imports sympy ------------------------------------------------

IMPORTS = """
import sys
from convcalc.cli import app
for args in {calls!r}:
    code = app(args, standalone_mode=False)
    assert code in (None, 0), (args, code)
print(sorted(name for name in sys.modules if name == "sympy"))
"""


@pytest.mark.parametrize(
    ("calls", "imported"),
    [
        pytest.param(
            [
                ["shapes", "specs/resnet50.yaml"],
                ["shapes", "specs/resnet50.yaml", "--format", "json"],
                ["shapes", "specs/unet_same.yaml", "--input", "1x64x64", "-f", "markdown"],
                ["check", "specs/resnet50.yaml"],
            ],
            [],
            id="numeric",
        ),
        pytest.param(
            [["shapes", "specs/lenet5.yaml", "-f", "csv"]],
            [],
            id="numeric-csv",
        ),
        pytest.param(
            [["shapes", "specs/unet_same_symbolic.yaml", "--set", "H=64", "--set", "W=64"]],
            ["sympy"],
            id="symbolic",
        ),
    ],
)
def test_sympy_is_imported_only_for_a_symbolic_spec(calls: list, imported: list):
    """A fresh process running the numeric commands never imports sympy; a symbolic spec
    does (so the check can see the import)."""
    process = subprocess.run(
        [sys.executable, "-c", IMPORTS.format(calls=calls)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr
    assert process.stdout.splitlines()[-1] == repr(imported)


# --- 5. safety and bad input ---------------------------------------------------------------

LAYERS = "layers:\n  - {name: c1, type: conv, out_channels: 4, kernel_size: 3}\n"

# (spec text, the field the error names, a piece of its message)
BAD_SPECS = [
    pytest.param(
        "input: [3, \"__import__('os').system('touch {marker}')\", W]\n",
        "input",
        "neither a whole number nor a symbol name",
        id="python-code",
    ),
    pytest.param("input: [3, 'H+1', W]\n", "input", "'H+1'", id="expression"),
    pytest.param("input: [3, '1H', W]\n", "input", "'1H'", id="leading-digit"),
    pytest.param("input: [3, 'H W', W]\n", "input", "'H W'", id="space"),
    pytest.param("input: [3, '', W]\n", "input", "''", id="empty"),
    pytest.param(f"input: [3, {'A' * 33}, W]\n", "input", "at most 32", id="33-characters"),
    pytest.param("input: [C, H, W]\n", "input", "channels must be a whole number", id="channels"),
    pytest.param("input: [null, H, W]\n", "input", "channels must be a whole number", id="null-c"),
    pytest.param(
        "input: [3, H, W]\nconstraints: {X: {multiple_of: 2}}\n",
        "constraints.X",
        "not a symbol of the input (symbols: H, W)",
        id="constraint-unknown-symbol",
    ),
    pytest.param(
        "input: [3, H, W]\nconstraints: {H: {step: 2}}\n",
        "constraints.H.step",
        "unknown key 'step'",
        id="constraint-unknown-key",
    ),
    pytest.param(
        "input: [3, H, W]\nconstraints: {H: {min: 64, max: 32}}\n",
        "constraints.H",
        "min 64 exceeds max 32",
        id="constraint-min-above-max",
    ),
    pytest.param(
        "input: [3, H, W]\nconstraints: {H: {multiple_of: 0}}\n",
        "constraints.H.multiple_of",
        "got 0",
        id="constraint-zero",
    ),
    pytest.param(
        "input: [3, H, W]\nconstraints: {H: 16}\n",
        "constraints.H",
        "a mapping",
        id="constraint-not-a-mapping",
    ),
    pytest.param(
        "input: [3, 32, 32]\nconstraints: {H: {multiple_of: 2}}\n",
        "constraints.H",
        "the input has no symbolic sizes",
        id="constraint-on-numbers",
    ),
]


def assert_one_error_line(result, *pieces: str) -> str:
    """Exit 2, nothing on stdout, one `error:` line on stderr holding every piece."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for piece in pieces:
        assert piece in lines[0], (piece, lines[0])
    return lines[0]


@pytest.mark.parametrize(("head", "field", "message"), BAD_SPECS)
def test_bad_symbolic_spec_is_one_error_naming_its_field(
    tmp_path: Path, head: str, field: str, message: str
):
    """A bad symbol name, symbolic channel count or constraint is a ConvCalcError naming the
    field, and one `error:` line with exit 2 from the CLI; no text in it ever runs."""
    marker = tmp_path / "ran"
    text = head.replace("{marker}", str(marker)) + LAYERS
    with pytest.raises(ConvCalcError) as error:
        load_text(text)
    assert said(error.value.field) == field  # the core's option, as the flag says it
    assert message in error.value.message
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    for command in ("shapes", "sizes"):
        assert_one_error_line(runner.invoke(app, [command, str(path)]), f"{field}: ", message)
    assert not marker.exists()


CONSTRAINED = "input: [1, H, W]\nconstraints: {H: {multiple_of: 16, min: 32}}\n" + LAYERS

# (--set values, the field the error names, a piece of its message)
BAD_SETTINGS = [
    pytest.param({"X": 3}, "--set X", "not a symbol of the input (symbols: H, W)", id="unknown"),
    pytest.param({"H": 100}, "--set H", "breaks the spec's constraint", id="not-multiple"),
    pytest.param({"H": 16}, "--set H", "breaks the spec's constraint", id="below-min"),
    pytest.param({"H": 0}, "--set H", "got 0", id="zero"),
    pytest.param({"H": 2**21}, "--set H", "got 2097152", id="too-large"),
]


@pytest.mark.parametrize(("sizes", "field", "message"), BAD_SETTINGS)
def test_bad_size_setting_is_one_error_naming_it(
    tmp_path: Path, sizes: dict, field: str, message: str
):
    """set_sizes refuses an unknown symbol or a size breaking the spec's constraint, and so
    do `shapes --set` and `sizes --set`, in one line with exit 2."""
    with pytest.raises(ConvCalcError) as error:
        set_sizes(load_text(CONSTRAINED), sizes)
    assert said(error.value.field) == field  # the core's option, as the flag says it
    assert message in error.value.message
    path = tmp_path / "spec.yaml"
    path.write_text(CONSTRAINED, encoding="utf-8")
    settings_ = [f"--set={name}={size}" for name, size in sizes.items()]
    for command in ("shapes", "sizes"):
        result = runner.invoke(app, [command, str(path), *settings_])
        assert_one_error_line(result, f"{field}: ", message)


@pytest.mark.parametrize(
    ("settings_", "message"),
    [
        pytest.param(["H=abc"], "'H=abc' is not NAME=SIZE", id="not-a-number"),
        pytest.param(["H"], "'H' is not NAME=SIZE", id="no-value"),
        pytest.param(["H=-3"], "'H=-3' is not NAME=SIZE", id="negative"),
        pytest.param(["H=²"], "'H=²' is not NAME=SIZE", id="superscript"),
        pytest.param(["H=64", "H=32"], "H is set twice", id="twice"),
    ],
)
def test_malformed_size_setting_is_one_error(settings_: list, message: str):
    """A --set that is not NAME=SIZE, or sets one symbol twice, is one error line."""
    options = [f"--set={setting}" for setting in settings_]
    for command in ("shapes", "sizes"):
        result = runner.invoke(app, [command, str(UNET), *options])
        assert_one_error_line(result, "--set: ", message)


@pytest.mark.parametrize(
    "command",
    [["verify"], ["check"], ["compare", "vs", str(SPECS / "unet_same.yaml")]],
    ids=["verify", "check", "compare"],
)
def test_commands_needing_numbers_refuse_a_symbolic_spec(command: list):
    """verify, check and compare need numbers: a symbolic spec is one error line, exit 2."""
    args = [command[0], str(UNET), *command[1:]]
    assert_one_error_line(runner.invoke(app, args), "input: ", "symbols (H, W)")


WITHOUT_SYMPY = """
import sys
sys.modules["sympy"] = None  # as if the optional extra were not installed: import fails
from convcalc.cli import app
assert app(["shapes", "specs/resnet50.yaml", "-f", "json"], standalone_mode=False) in (None, 0)
assert app(["shapes", "specs/unet_same.yaml", "-f", "markdown"], standalone_mode=False) in (None, 0)
print(app(["shapes", "specs/unet_same_symbolic.yaml"], standalone_mode=False))
"""


def test_without_sympy_numeric_specs_run_and_symbolic_ones_say_what_to_install():
    """With sympy missing, numeric specs still give figures; a symbolic spec is one error
    line naming the convcalc[symbolic] extra, exit 2."""
    process = subprocess.run(
        [sys.executable, "-c", WITHOUT_SYMPY], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert process.returncode == 0, process.stderr
    assert process.stdout.splitlines()[-1] == "2"
    (line,) = process.stderr.splitlines()
    assert line.startswith("error: specs/unet_same_symbolic.yaml: input: ")
    assert "sympy" in line and "convcalc[symbolic]" in line


def test_no_text_is_parsed_into_an_expression(monkeypatch):
    """Analysis, simplification, scans and printing of both symbolic specs run with sympy's
    string parsing, eval and lambdify made to fail (and the trap is shown to be live)."""
    parser = sys.modules["sympy.parsing.sympy_parser"]
    sympify_module = sys.modules["sympy.core.sympify"]
    original = sympify_module.sympify

    def refuse(*args, **kwargs):
        raise AssertionError(f"text parsed into an expression: {args!r}")

    def no_text(value, *args, **kwargs):
        if isinstance(value, str):
            refuse(value)
        return original(value, *args, **kwargs)

    for module, name in [(parser, "parse_expr"), (parser, "eval_expr"), (sympy, "lambdify")]:
        monkeypatch.setattr(module, name, refuse)
    monkeypatch.setattr(sympy, "sympify", no_text)
    monkeypatch.setattr(sympify_module, "sympify", no_text)
    for path in (UNET, FCN16S):
        report = analyze_spec(path)
        assert symbolic.formula(report.totals.macs)
        assert analyze_spec(path, sizes={"H": 64, "W": 64}).formulas is not None
        assert scan(report, "H", 1, 200, exact=True).sizes
    with pytest.raises(AssertionError, match="text parsed"):
        sympy.sympify("H + 1")


def test_source_never_parses_text_into_expressions():
    """No convcalc module calls sympify, parse_expr, eval, exec or lambdify."""
    pattern = re.compile(r"\b(sympify|parse_expr|eval|exec|lambdify|S)\(")
    calls = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted((ROOT / "convcalc").rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line.split("#")[0]) and not line.strip().startswith(('"', "'"))
    ]
    assert calls == []


# --- 6. the exact evaluator ---------------------------------------------------------------

H, W = symbolic.symbol("H"), symbolic.symbol("W")


RELATIONS = {
    "==": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


@st.composite
def expressions(draw, depth: int = 3, piecewise: bool = True):
    """(sympy expression built as convcalc builds them, its value as a function of the sizes
    computed with Python integers and Fractions). A choice's condition compares expressions
    without choices: a choice in a condition is tested below."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        choice = draw(st.integers(0, 3))
        if choice == 0:
            return H, lambda v: v["H"]
        if choice == 1:
            return W, lambda v: v["W"]
        number = draw(st.integers(-20, 20))
        return sympy.Integer(number), lambda v: number
    kinds = ["add", "scale", "mul", "floor", "ceiling", "max", "min"]
    kind = draw(st.sampled_from(kinds + ["piecewise"] * piecewise))
    first, first_at = draw(expressions(depth - 1, piecewise))
    second, second_at = draw(expressions(depth - 1, piecewise))
    if kind == "add":
        return first + second, lambda v: first_at(v) + second_at(v)
    if kind == "scale":
        factor = Fraction(draw(st.integers(-6, 6)), draw(st.integers(1, 6)))
        rational = sympy.Rational(factor.numerator, factor.denominator)
        return rational * first, lambda v: factor * first_at(v)
    if kind == "mul":
        return first * second, lambda v: first_at(v) * second_at(v)
    if kind in ("floor", "ceiling"):
        divisor = draw(st.integers(1, 7))
        if kind == "floor":
            return symbolic.floor_div(first, divisor), lambda v: math.floor(
                Fraction(first_at(v)) / divisor
            )
        return symbolic.ceil_div(first, divisor), lambda v: math.ceil(
            Fraction(first_at(v)) / divisor
        )
    if kind == "max":
        return symbolic.maximum(first, second), lambda v: max(first_at(v), second_at(v))
    if kind == "min":
        return symbolic.minimum(first, second), lambda v: min(first_at(v), second_at(v))
    operator = draw(st.sampled_from(sorted(RELATIONS)))
    left, left_at = draw(expressions(depth - 1, piecewise=False))
    right, right_at = draw(expressions(depth - 1, piecewise=False))
    return (
        symbolic.choose(symbolic.relation(left, operator, right), first, second),
        lambda v: first_at(v) if RELATIONS[operator](left_at(v), right_at(v)) else second_at(v),
    )


def sympy_value(value):
    """A sympy number or truth value as int, Fraction or bool."""
    if value in (sympy.true, sympy.false):
        return bool(value)
    assert value.is_Rational, value
    return int(value) if value.is_Integer else Fraction(int(value.p), int(value.q))


@settings(max_examples=200, deadline=None)
@given(
    built=expressions(),
    operator=st.sampled_from([None, *sorted(RELATIONS)]),
    height=st.integers(1, 300),
    width=st.integers(1, 300),
)
def test_evaluate_agrees_with_sympy_subs_and_integer_arithmetic(built, operator, height, width):
    """symbolic.evaluate of floor/ceiling/Max/Min/Piecewise expressions, and of relations
    on them, equals both sympy's subs() and the same arithmetic on Python ints and
    Fractions."""
    expression, value_at = built
    expected = value_at({"H": height, "W": width})
    if operator is not None:
        expression = symbolic.relation(expression, operator, 2 * H - 7)
        expected = RELATIONS[operator](expected, 2 * height - 7)
    value = symbolic.evaluate(expression, {H: height, W: width})
    assert value == expected
    assert type(value) in ((bool,) if operator else (int, Fraction))
    assert value == sympy_value(expression.subs({H: height, W: width}))


def test_evaluate_reads_a_piecewise_whose_condition_holds_a_piecewise():
    """A choice on a condition about another choice (as stacked ceil_mode pools build)
    evaluates like the integer arithmetic it stands for, at every size up to 12x12."""
    inner = symbolic.choose(symbolic.relation(H, ">=", W), H, W)  # max(H, W)
    outer = symbolic.choose(symbolic.relation(inner, ">=", 2 * W), H - W, W)
    for height in range(1, 13):
        for width in range(1, 13):
            expected = height - width if max(height, width) >= 2 * width else width
            assert symbolic.evaluate(outer, {H: height, W: width}) == expected


# --- 7. null sizes are anonymous symbols named after their axis ----------------------------


@pytest.mark.parametrize(
    ("sizes", "spatial"),
    [
        pytest.param([None, None], ("H", "W"), id="both-null"),
        pytest.param(["H", None], ("H", "W"), id="H-null"),
        pytest.param([None, "W"], ("H", "W"), id="null-W"),
        pytest.param([None, "H"], ("S1", "H"), id="null-H-clash"),
        pytest.param(["W", None], ("W", "S2"), id="W-null-clash"),
        pytest.param([None, 32], ("H", 32), id="null-number"),
        pytest.param(["H", "H"], ("H", "H"), id="square"),
        pytest.param([None], ("L",), id="1d"),
        pytest.param([None, None, None], ("D", "H", "W"), id="3d"),
        pytest.param([16, None, "size"], (16, "H", "size"), id="3d-mixed"),
    ],
)
def test_null_size_becomes_a_symbol_named_after_its_axis(sizes: list, spatial: tuple):
    """`null` in the input is a symbol named after its axis (S<axis> on a clash)."""
    network = build({"input": [3, *sizes], "layers": [{"type": "flatten"}]})
    assert network.input.spatial == spatial
    assert network.symbols == tuple(dict.fromkeys(s for s in spatial if isinstance(s, str)))


def test_null_sizes_give_the_same_formulas_as_named_ones():
    """[3, null, null] analyzes exactly like [3, H, W]."""
    document = yaml.safe_load(UNET.read_text(encoding="utf-8"))
    anonymous = analyze(build({**document, "input": [1, None, None]}))
    assert anonymous.symbols == ("H", "W")
    for left, right in zip(anonymous.layers, analyze(load_path(UNET)).layers, strict=True):
        for name in FIGURES:
            assert getattr(left, name) == getattr(right, name), (left.name, name)


@pytest.mark.parametrize(
    "sizes", [[None, "D", "S1"], ["H", None, "S2"]], ids=["null-D-S1", "H-null-S2"]
)
def test_every_null_size_is_its_own_symbol(sizes: list):
    """A null is an anonymous size: it never shares a symbol with another axis."""
    network = build({"input": [3, *sizes], "layers": [{"type": "flatten"}]})
    assert len(network.symbols) == len(sizes)


# google-research/receptive_field computes fields at input size None for TF-Slim nets whose
# convs use 'SAME' padding; its tests expect numbers where stride-1 'same' and kernel-1
# stride-2 'same' keep the padding fixed, and size and stride (never the padding) where a
# strided 'same' padding depends on the size (inception_v2, mobilenet_v1, resnet_v1).
SAME_STACK = [
    {"name": "c1", "type": "conv", "out_channels": 4, "kernel_size": 3, "padding": "same"},
    {"name": "c2", "type": "conv", "out_channels": 4, "kernel_size": 1, "stride": 2,
     "padding": "same"},
    {"name": "c3", "type": "conv", "out_channels": 4, "kernel_size": 3, "stride": 2,
     "padding": "same"},
    {"name": "c4", "type": "conv", "out_channels": 4, "kernel_size": 3, "padding": "same"},
    {"name": "c5", "type": "conv", "out_channels": 4, "kernel_size": 2, "stride": 2,
     "padding": "same"},
]  # fmt: skip


def test_same_padding_fields_stay_numbers_where_no_size_changes_them():
    symbolic_report = analyze(build({"input": [3, "H", "W"], "layers": SAME_STACK}))
    concrete = [
        analyze(build({"input": [3, size, size + 1], "layers": SAME_STACK}))
        for size in range(5, 21)
    ]
    for position, row in enumerate(symbolic_report.layers):
        at_sizes = [report.layers[position] for report in concrete]
        assert all(r.receptive_field == row.receptive_field for r in at_sizes), row.name
        assert all(r.effective_stride == row.effective_stride for r in at_sizes), row.name
        paddings = {r.effective_padding for r in at_sizes}
        # Known exactly where every size gives the same; '?' (None) where sizes differ.
        assert row.effective_padding == (paddings.pop() if len(paddings) == 1 else None)
    assert symbolic_report.layers[1].effective_padding == (1, 1)  # kernel 1, stride 2
    assert symbolic_report.layers[3].receptive_field == (15, 15)
    # an even kernel at stride 2: its left padding is (k-2)//2 = 0 at every size
    assert symbolic_report.layers[4].effective_stride == (8, 8)


# --- 9. long networks: sympy's slow paths done at once, with the same results ------------
# (issue 10, A4: a symbolic chain took ~25 ms a layer and grew quadratically.)


def chain_spec(layers: int, symbols: tuple[str, str] = ("H", "W"), stride: int = 2):
    """One strided conv repeated `layers` times on symbolic sizes."""
    conv = {"name": "c", "type": "conv", "out_channels": 1, "kernel_size": 3}
    conv |= {"stride": stride, "padding": 1, "repeat": layers}
    return build({"input": [1, *symbols], "layers": [conv]})


def test_a_long_sum_prints_without_sympys_dense_term_vectors(monkeypatch):
    """sympy orders a sum's terms by a vector of exponents over every distinct factor of
    the sum: for the totals of N layers, N terms times 2N factors. Printing them must not
    take that quadratic route."""
    layers = 200
    report = analyze(chain_spec(layers))
    work = []
    as_terms = sympy.Expr.as_terms

    def counted(self):
        terms, factors = as_terms(self)
        work.append(len(terms) * len(factors))
        return terms, factors

    monkeypatch.setattr(sympy.Expr, "as_terms", counted)
    text = symbolic.formula(report.totals.macs)
    assert text.count("floor") == 2 * layers
    assert max(work, default=0) <= 20 * layers


def test_linear_floors_are_built_without_sympys_evaluation(monkeypatch):
    """floor(a*H + c) is worked out at once (sympy's evaluation asks the assumptions of
    every new argument, milliseconds each): analyzing a chain never calls it."""
    from sympy.functions.elementary.integers import RoundFunction

    sympy.core.cache.clear_cache()  # no floor built by an earlier test comes from the cache
    calls = []
    evaluate = RoundFunction.eval.__func__

    def counted(cls, arg):
        calls.append(arg)
        return evaluate(cls, arg)

    monkeypatch.setattr(RoundFunction, "eval", classmethod(counted))
    report = analyze(chain_spec(30, ("Q", "R"), stride=3))
    assert symbolic.formula(report.layers[-1].output_shape[1]) == f"floor((Q - 1)/{3**30}) + 1"
    assert calls == []


LINEAR = [
    sympy.Rational(slope, slope_denominator) * H + sympy.Rational(offset, offset_denominator)
    for slope in (1, 2, 3, 5, 12)
    for slope_denominator in (1, 2, 3, 4, 8, 2**70, 3**40)
    for offset in range(-13, 14)
    for offset_denominator in (1, 2, 3, 6, 2**70)
]


def test_linear_floor_and_ceiling_equal_sympys_evaluation():
    """The rounding done at once is the expression sympy's evaluation gives, term for term."""
    from convcalc.symbolic.arithmetic import _rounded

    for argument in LINEAR:
        for rounding in (sympy.floor, sympy.ceiling):
            assert sympy.srepr(_rounded(rounding, argument)) == sympy.srepr(rounding(argument))


class SympyPrinter(sympy.printing.str.StrPrinter):
    """convcalc's formula text as sympy alone writes it (the printer before A4)."""

    def _print_floor(self, expr) -> str:
        return f"floor({self._print(sympy.together(expr.args[0]))})"

    def _print_ceiling(self, expr) -> str:
        return f"ceil({self._print(sympy.together(expr.args[0]))})"

    def _print_Equality(self, expr) -> str:
        return f"{self._print(expr.lhs)} == {self._print(expr.rhs)}"

    def _print_Unequality(self, expr) -> str:
        return f"{self._print(expr.lhs)} != {self._print(expr.rhs)}"


def sympy_text(value) -> str:
    return "?" if symbolic.is_unknown(value) else SympyPrinter().doprint(value)


def test_linear_floor_text_equals_sympys():
    for argument in LINEAR:
        for rounding in (sympy.floor, sympy.ceiling):
            value = rounding(argument, evaluate=False)
            assert symbolic.formula(value) == sympy_text(value)


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(expressions(), min_size=1, max_size=6),
    scales=st.lists(st.integers(-3, 19), min_size=6, max_size=6),
    operator=st.sampled_from([None, *sorted(RELATIONS)]),
)
def test_formula_text_equals_sympys_printer(parts, scales, operator):
    """Sums, products and powers of what convcalc builds print as sympy prints them; and
    sort in sympy's order."""
    from convcalc.symbolic.printing import ordered_factors, ordered_terms, sort_key

    terms = [
        scale * part * parts[0][0] ** (scale % 3)
        for (part, _), scale in zip(parts, scales, strict=False)
    ]
    total = symbolic.total(terms)
    product = sympy.Mul(*(part for part, _ in parts))
    values = [total, product, 1 / (1 + product), *(part for part, _ in parts)]
    if operator is not None:
        values.append(symbolic.relation(total, operator, product))
    for value in values:
        assert symbolic.formula(value) == sympy_text(value)
    for value in (total, product):
        if isinstance(value, sympy.Add):
            assert ordered_terms(value) == value.as_ordered_terms()
        if isinstance(value, sympy.Mul):
            assert ordered_factors(value) == value.as_ordered_factors()
    expressions_ = [value for value in values if isinstance(value, sympy.Expr)]
    if not any(symbolic.is_unknown(value) for value in expressions_):
        assert sorted(expressions_, key=sort_key) == sorted(
            expressions_, key=sympy.default_sort_key
        )
