"""`convcalc compare` end to end: the seeds' worked design comparisons, spec diffs, errors.

Every case runs the command line through typer's CliRunner and reads the exact integers of
`--format json`. Without --size, MACs are per output position of the last layer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from convcalc.cli import app
from convcalc.comparison import compare

runner = CliRunner()

CANDIDATE_KEYS = {
    "label",
    "layers",
    "params",
    "macs",
    "receptive_field",
    "output_shape",
    "nonlinearities",
    "params_vs_first",
    "macs_vs_first",
    "notes",
}


def compare_json(*args: str) -> dict:
    """The JSON of `convcalc compare ARGS`, which must succeed."""
    result = runner.invoke(app, ["compare", *args, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def column(data: dict, key: str) -> list:
    """One figure of every candidate."""
    return [candidate[key] for candidate in data["candidates"]]


@dataclass(frozen=True)
class Worked:
    """One worked comparison of the seeds and what the command must print for it."""

    source: str
    args: tuple[str, ...]
    params: list[int]
    macs: list[int]
    receptive_field: list[list[int]]
    output_shape: list[list[int | None]]
    macs_vs_first: list[str]


WORKED = [
    Worked(
        "seed 002: two stacked 3x3 replace a 5x5, 5*5 - 2*3*3 = 7 fewer weights, 28%; seed 001:"
        " two 3x3 layers see a 5x5 field",
        ("5x5", "vs", "3x3", "+", "3x3", "--channels", "1"),
        params=[25, 18],
        macs=[25, 18],  # seed 002: H^2*25 against H^2*18 for a large H
        receptive_field=[[5, 5], [5, 5]],
        output_shape=[[1, None, None], [1, None, None]],
        macs_vs_first=["0%", "-28%"],
    ),
    Worked(
        "seed 002: three stacked 3x3 replace a 7x7, 7*7 - 3*3*3 = 22 fewer weights, 45%",
        ("7x7", "vs", "3x3x3", "--channels", "1"),
        params=[49, 27],
        macs=[49, 27],
        receptive_field=[[7, 7], [7, 7]],
        output_shape=[[1, None, None], [1, None, None]],
        macs_vs_first=["0%", "-45%"],
    ),
    Worked(
        "seed 002: with L channels the savings are 22*L of 49*L computations, still 45%",
        ("7x7", "vs", "3x3x3", "--channels", "64"),
        params=[49 * 64 * 64, 27 * 64 * 64],
        macs=[49 * 64 * 64, 27 * 64 * 64],
        receptive_field=[[7, 7], [7, 7]],
        output_shape=[[64, None, None], [64, None, None]],
        macs_vs_first=["0%", "-45%"],
    ),
    Worked(
        "seed 002: on an HxH input, (H-3+1)^2*3*3 + (H-1-3+1)^2*3*3 against (H-5+1)^2*5*5",
        ("3x3x2", "vs", "5x5", "--channels", "1", "--size", "100"),
        params=[18, 25],
        macs=[98**2 * 9 + 96**2 * 9, 96**2 * 25],
        receptive_field=[[5, 5], [5, 5]],
        output_shape=[[1, 96, 96], [1, 96, 96]],
        macs_vs_first=["0%", "+36%"],
    ),
    Worked(
        "seed 004: a 3x3 kernel on a 5x5 image takes 9x9 = 81 multiplications, 3x1 then 1x3"
        " take 15x3 + 9x3 = 72",
        ("3x3", "vs", "3x1", "+", "1x3", "--channels", "1", "--size", "5"),
        params=[9, 6],
        macs=[81, 72],
        receptive_field=[[3, 3], [3, 3]],
        output_shape=[[1, 3, 3], [1, 3, 3]],
        macs_vs_first=["0%", "-11%"],
    ),
    Worked(
        "seed 004: on an NxN image, (N-2)x(N-2)xmxm against (2N-2)x(N-2)xm (N=10, m=3)",
        ("3x3", "vs", "3x1+1x3", "--channels", "1", "--size", "10"),
        params=[9, 6],
        macs=[8 * 8 * 3 * 3, (2 * 10 - 2) * 8 * 3],
        receptive_field=[[3, 3], [3, 3]],
        output_shape=[[1, 8, 8], [1, 8, 8]],
        macs_vs_first=["0%", "-25%"],
    ),
    Worked(
        "seed 004: for N >> m the spatially separable cost is 2/m of the standard one",
        ("3x3", "vs", "3x1+1x3", "vs", "5x5", "vs", "5x1+1x5", "vs", "7x7", "vs", "7x1+1x7",
         "--channels", "1"),
        params=[9, 6, 25, 10, 49, 14],
        macs=[9, 6, 25, 10, 49, 14],  # 6/9 = 2/3, 10/25 = 2/5, 14/49 = 2/7
        receptive_field=[[3, 3], [3, 3], [5, 5], [5, 5], [7, 7], [7, 7]],
        output_shape=[[1, None, None]] * 6,
        macs_vs_first=["0%", "-33%", "+178%", "+11%", "+444%", "+56%"],
    ),
    Worked(
        "seed 004: 7x7x3 to 5x5x128 takes 128x3x3x3x5x5 = 86,400 multiplications as a standard"
        " 3x3 conv, 675 + 9,600 = 10,275 depthwise separable (about 12%)",
        ("3x3", "vs", "dw3x3", "+", "1x1", "--in-channels", "3", "--out-channels", "128",
         "--size", "7"),
        params=[128 * 3 * 3 * 3, 3 * 3 * 3 + 128 * 3],
        macs=[86_400, 10_275],
        receptive_field=[[3, 3], [3, 3]],
        output_shape=[[128, 5, 5], [128, 5, 5]],
        macs_vs_first=["0%", "-88%"],
    ),
    Worked(
        "seed 004: 2 filter groups take (h x w x Din/2 x Dout/2) x 2 params, half of h x w x"
        " Din x Dout",
        ("3x3", "vs", "3x3g2", "--in-channels", "8", "--out-channels", "16"),
        params=[3 * 3 * 8 * 16, 3 * 3 * 4 * 8 * 2],
        macs=[3 * 3 * 8 * 16, 3 * 3 * 4 * 8 * 2],
        receptive_field=[[3, 3], [3, 3]],
        output_shape=[[16, None, None], [16, None, None]],
        macs_vs_first=["0%", "-50%"],
    ),
    Worked(
        "seed 004: pointwise grouped convolution (ShuffleNet): 1x1s in 4 groups cost a quarter;"
        " the channel shuffle between them costs nothing, so a shuffled stack costs the same",
        ("1x1", "+", "dw3x3", "+", "1x1", "vs", "1x1g4", "+", "dw3x3", "+", "1x1g4"),
        params=[64 * 64 + 64 * 9 + 64 * 64, 64 * 16 + 64 * 9 + 64 * 16],
        macs=[64 * 64 + 64 * 9 + 64 * 64, 64 * 16 + 64 * 9 + 64 * 16],
        receptive_field=[[3, 3], [3, 3]],
        output_shape=[[64, None, None], [64, None, None]],
        macs_vs_first=["0%", "-70%"],
    ),
    Worked(
        "seed 004: dilation rates 1, 2, 4 stacked see 3x3, 7x7 and 15x15 fields with the same"
        " params per layer",
        ("3x3", "vs", "3x3+3x3d2", "vs", "3x3+3x3d2+3x3d4", "--channels", "1"),
        params=[9, 18, 27],
        macs=[9, 18, 27],
        receptive_field=[[3, 3], [7, 7], [15, 15]],
        output_shape=[[1, None, None]] * 3,
        macs_vs_first=["0%", "+100%", "+200%"],
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", WORKED, ids=[case.source[:40] for case in WORKED])
def test_worked_comparisons(case):
    data = compare_json(*case.args)
    assert data["macs_per_output_position"] == ("--size" not in case.args), case.source
    for candidate in data["candidates"]:
        assert set(candidate) == CANDIDATE_KEYS
    assert column(data, "params") == case.params, case.source
    assert column(data, "macs") == case.macs, case.source
    assert column(data, "receptive_field") == case.receptive_field, case.source
    assert column(data, "output_shape") == case.output_shape, case.source
    assert column(data, "macs_vs_first") == case.macs_vs_first, case.source
    # Every layer of a stack is a conv with its own nonlinearity.
    assert column(data, "nonlinearities") == column(data, "layers")


def test_depthwise_separable_ratio():
    # Seed 004: depthwise separable over standard is 1/Nc + 1/h^2, for any image size.
    for kernel in (3, 5):
        data = compare_json(
            f"{kernel}x{kernel}", "vs", f"dw{kernel}x{kernel}+1x1",
            "--in-channels", "3", "--out-channels", "128",
        )  # fmt: skip
        standard, separable = column(data, "macs")
        assert Fraction(separable, standard) == Fraction(1, 128) + Fraction(1, kernel**2)


def test_verdict_names_the_cheapest_at_equal_field():
    # Seed 002: the stacked 3x3s win at the same 5x5 field.
    data = compare_json("5x5", "vs", "3x3", "+", "3x3", "vs", "3x3")
    assert data["verdict"] == [
        {
            "receptive_field": [5, 5],
            "cheapest": "3x3 + 3x3",
            "against": "5x5",
            "macs_change": "-28%",
            "params_change": "-28%",
        }
    ]
    result = runner.invoke(app, ["compare", "5x5", "vs", "3x3", "+", "3x3"])
    assert result.exit_code == 0
    assert "verdict: receptive field 5x5: 3x3 + 3x3 is cheapest, MACs -28%" in result.stdout


def test_strided_stacks_weight_each_layer_by_the_later_strides():
    # Per output position of the last layer: the first 3x3 runs on 2x2 positions for each
    # one of the strided second layer; a 64x64 'same' input has 32x32 final positions.
    per_position = compare_json("3x3+3x3s2", "vs", "3x3s2+3x3")
    assert column(per_position, "macs") == [(4 + 1) * 9 * 64 * 64, (1 + 1) * 9 * 64 * 64]
    totals = compare_json("3x3+3x3s2", "vs", "3x3s2+3x3", "--size", "64", "--padding", "same")
    assert column(totals, "macs") == [32 * 32 * macs for macs in column(per_position, "macs")]
    assert column(totals, "output_shape") == [[64, 32, 32], [64, 32, 32]]


@st.composite
def stacks(draw):
    """A random 2-d stack: its text and, per layer, (in, out, groups, kernel taps, stride)."""
    channels = 4
    terms, layers = [], []
    for _ in range(draw(st.integers(1, 4))):
        kernel = draw(st.tuples(st.integers(1, 5), st.integers(1, 5)))
        repeat = draw(st.integers(1, 2))
        stride = draw(st.integers(1, 3))
        depthwise = draw(st.booleans())
        groups = 1 if depthwise else draw(st.sampled_from([1, 2, 4]))
        out = channels if depthwise else draw(st.sampled_from([4, 8]))
        terms.append(
            ("dw" if depthwise else "")
            + f"{kernel[0]}x{kernel[1]}x{repeat}s{stride}"
            + ("" if depthwise else f"g{groups}c{out}")
        )
        for _ in range(repeat):
            layers.append((channels, out, channels if depthwise else groups, kernel, stride))
            channels = out
    return " + ".join(terms), layers


@settings(max_examples=60, deadline=None)
@given(stacks())
def test_macs_per_output_position_is_the_closed_form(stack):
    # The README's definition: sum over layers of (in / groups) x prod(kernel) x out, each
    # weighted by the product of the later layers' strides in both spatial dims.
    text, layers = stack
    expected = 0
    for index, (in_channels, out, groups, kernel, _) in enumerate(layers):
        later = 1
        for *_, stride in layers[index + 1 :]:
            later *= stride
        expected += in_channels // groups * kernel[0] * kernel[1] * out * later**2
    candidate = compare([text, "vs", "1x1"], channels=4).candidates[0]
    assert candidate.macs == expected


def test_three_dims_bias_and_gridding_note():
    data = compare_json("5x5x5", "vs", "3x3x3x2", "--dims", "3", "--channels", "1", "--bias")
    assert column(data, "params") == [125 + 1, 2 * (27 + 1)]
    assert column(data, "receptive_field") == [[5, 5, 5], [5, 5, 5]]
    # Two dilation-2 3x3s leave holes in their 9x9 field (Wang et al. 2018).
    dilated = compare_json("3x3x2d2", "vs", "3x3+3x3d2")
    assert "gridding" in dilated["candidates"][0]["notes"][0]
    assert dilated["candidates"][1]["notes"] == []


OLD = """\
input: [3, 16, 16]
layers:
  - {name: stem, type: conv, out_channels: 8, kernel_size: 3, padding: 1, bias: false}
  - {name: body, type: conv, out_channels: 8, kernel_size: 3, padding: 1, bias: false}
  - {name: pool, type: max_pool, kernel_size: 2}
  - {name: head, type: conv, out_channels: 4, kernel_size: 1, bias: false}
"""
# The body's kernel grows to 5x5 and a strided conv replaces the pool.
NEW = """\
input: [3, 16, 16]
layers:
  - {name: stem, type: conv, out_channels: 8, kernel_size: 3, padding: 1, bias: false}
  - {name: body, type: conv, out_channels: 8, kernel_size: 5, padding: 2, bias: false}
  - {name: down, type: conv, out_channels: 8, kernel_size: 3, stride: 2, padding: 1,
     bias: false}
  - {name: head, type: conv, out_channels: 4, kernel_size: 1, bias: false}
"""


def figures(type_name, output_shape, params, macs, receptive_field):
    """A diff entry's figures of one float32 layer with a square receptive field."""
    return {
        "type": type_name,
        "output_shape": output_shape,
        "params": params,
        "macs": macs,
        "output_bytes": 4 * output_shape[0] * output_shape[1] * output_shape[2],
        "receptive_field": [receptive_field] * 2,
    }


def test_spec_diff(tmp_path):
    (tmp_path / "old.yaml").write_text(OLD)
    (tmp_path / "new.json").write_text(json.dumps(yaml.safe_load(NEW)))
    old, new = str(tmp_path / "old.yaml"), str(tmp_path / "new.json")
    data = compare_json(old, "vs", new)
    assert data["macs_per_output_position"] is False
    # The unchanged stem is left out; the head's figures are the same but it now sees 9x9.
    assert data["diff"] == [
        {
            "name": "body",
            "change": "changed",
            "before": figures("conv", [8, 16, 16], 8 * 8 * 9, 8 * 8 * 9 * 256, 5),
            "after": figures("conv", [8, 16, 16], 8 * 8 * 25, 8 * 8 * 25 * 256, 7),
        },
        {
            "name": "pool",
            "change": "removed",
            "before": figures("max_pool", [8, 8, 8], 0, 0, 6),
            "after": None,
        },
        {
            "name": "down",
            "change": "added",
            "before": None,
            "after": figures("conv", [8, 8, 8], 8 * 8 * 9, 8 * 8 * 9 * 64, 9),
        },
        {
            "name": "head",
            "change": "changed",
            "before": figures("conv", [4, 8, 8], 8 * 4, 8 * 4 * 64, 6),
            "after": figures("conv", [4, 8, 8], 8 * 4, 8 * 4 * 64, 9),
        },
    ]
    stem = 3 * 8 * 9
    assert column(data, "params") == [stem + 576 + 32, stem + 1600 + 576 + 32]
    assert column(data, "macs") == [
        stem * 256 + 576 * 256 + 32 * 64,
        stem * 256 + 1600 * 256 + 576 * 64 + 32 * 64,
    ]
    assert column(data, "receptive_field") == [[6, 6], [9, 9]]
    assert column(data, "params_vs_first") == ["0%", "+194%"]
    totals = column(data, "totals")
    # The stem's and the body's outputs, both 8x16x16 float32, are live at once.
    assert [total["peak_activation_bytes"] for total in totals] == [2 * 4 * 8 * 256] * 2
    assert [total["params"] for total in totals] == column(data, "params")
    result = runner.invoke(app, ["compare", old, "vs", new])
    assert result.exit_code == 0
    assert "peak activation memory" in result.stdout
    assert "removed" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["3x3+5y5", "vs", "5x5"], "'3x3+5y5', column 6: expected 'x'"),
        (["3x3", "+", "vs", "5x5"], "'3x3 +', column 6: expected a kernel"),
        (["3x3"], "nothing to compare"),
        (["3x3", "vs", "vs", "5x5"], "candidate 2 of 3 is empty"),
        (["3x3g3", "vs", "3x3"], "'3x3g3': layer 1 (conv1): groups: in_channels 64 is not"),
        (["7x7", "vs", "3x3", "--size", "5"], "'7x7': layer 1 (conv1): kernel_size: kernel 7"),
        (["3x3", "vs", "5x5", "--size", "5x"], "--size: '5x', column 3: expected a size"),
        (["3x3", "vs", "5x5", "--padding", "full"], "--padding: valid or same, got 'full'"),
        (["3x3", "vs", "5x5", "--format", "csv"], "--format: unknown format 'csv'"),
        (["old.yaml", "vs", "3x3"], "compare spec files with spec files"),
        (["a.yaml", "vs", "b.yaml", "vs", "c.yaml"], "compare two spec files"),
        (["a.yaml", "vs", "b.yaml", "--channels", "3"], "--channels: for kernel stacks only"),
        (["missing.yaml", "vs", "b.yaml"], "missing.yaml:"),
    ],
)
def test_mistakes_exit_2(args, message):
    result = runner.invoke(app, ["compare", *args])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {message}")


def test_notation_error_points_at_the_character():
    result = runner.invoke(app, ["compare", "3x3", "+", "5y5", "vs", "5x5"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[1:] == ["  3x3 + 5y5", "         ^"]


AFFECTED = """
input: [3, 16, 16]
layers:
  - {name: stem, type: conv, out_channels: 8, kernel_size: 3, padding: same}
  - {name: body, type: conv, out_channels: 8, kernel_size: 3, padding: same}
  - {name: head, type: conv, out_channels: 4, kernel_size: 1}
"""


def test_a_change_upstream_marks_later_layers_affected_not_changed(tmp_path):
    """Two GoogLeNets differing in 9 convs showed 174 of 197 layers as changed: a layer is
    changed for its own fields, params or MACs, and affected when only its field is."""
    (tmp_path / "old.yaml").write_text(AFFECTED)
    (tmp_path / "new.yaml").write_text(
        AFFECTED.replace("kernel_size: 3, padding", "kernel_size: 5, padding", 1)
    )
    old, new = str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml")
    data = compare_json(old, "vs", new)
    assert [(change["name"], change["change"]) for change in data["diff"]] == [
        ("stem", "changed"),
        ("body", "affected"),
        ("head", "affected"),
    ]
    assert data["diff"][1]["before"]["receptive_field"] == [5, 5]
    assert data["diff"][1]["after"]["receptive_field"] == [7, 7]
    result = runner.invoke(app, ["compare", old, "vs", new])
    verdict = " ".join(result.stdout.split("verdict: ")[-1].split())
    assert verdict.startswith(f"{new} against {old}: params +")
    assert verdict.endswith("layers: 1 changed, 2 affected")
