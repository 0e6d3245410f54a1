"""Graph features of a spec: named network inputs, several outputs and shared weights."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import convcalc
from convcalc.cli import app
from convcalc.errors import ConvCalcError

SPECS = Path(__file__).resolve().parent.parent / "specs"


def error_of(spec: dict) -> str:
    """The one-line error a spec gets."""
    with pytest.raises(ConvCalcError) as caught:
        convcalc.analyze(spec)
    text = str(caught.value)
    assert "\n" not in text
    return text


def by_name(report) -> dict:
    return {row.name: row for row in report.layers}


# Named inputs -------------------------------------------------------------------------

TWO_INPUTS = {
    "inputs": {"image": [3, 16, 16], "mask": [1, 4, 4]},
    "layers": [
        {"name": "up", "type": "upsample", "inputs": ["mask"], "size_of": "image"},
        {"name": "joined", "type": "concat", "inputs": ["image", "up"]},
        {"name": "conv", "type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 1},
    ],
}


def test_layers_read_named_inputs_and_upsample_takes_an_inputs_size():
    report = convcalc.analyze(TWO_INPUTS)
    rows = by_name(report)
    assert rows["up"].output_shape == (1, 16, 16)
    assert rows["joined"].output_shape == (4, 16, 16)
    assert report.inputs == (("image", (3, 16, 16)), ("mask", (1, 4, 4)))
    assert report.input == (3, 16, 16)  # the first input, for what reads one
    # The conv reads 4 channels: (4 * 9 + 1) * 8 params.
    assert rows["conv"].params == (4 * 9 + 1) * 8


def test_activation_memory_counts_every_input_and_batch_applies_to_all():
    spec = {
        "inputs": {"a": [2, 4, 4], "b": [3, 4, 4]},
        "batch": 2,
        "layers": [{"name": "cat", "type": "concat", "inputs": ["a", "b"]}],
    }
    report = convcalc.analyze(spec)
    # Both inputs and the concat's output are live at once, for each of 2 samples, 4 bytes
    # a value: (2 + 3 + 5) * 16 values.
    assert report.totals.peak_activation_bytes == (2 + 3 + 5) * 16 * 4 * 2
    assert report.layers[0].output_bytes == 5 * 16 * 4 * 2


def test_an_input_read_late_stays_live_until_then():
    spec = {
        "inputs": {"a": [1, 8, 8], "b": [1, 8, 8]},
        "layers": [
            {"name": "pool", "type": "max_pool", "kernel_size": 2, "inputs": ["a"]},
            {"name": "up", "type": "upsample", "scale_factor": 2},
            {"name": "sum", "type": "add", "inputs": ["up", "b"]},
        ],
    }
    # At `up`: b (64), pool (16) and up (64) live; at `sum`: b, up and sum (64 each).
    assert convcalc.analyze(spec).totals.peak_activation_bytes == 3 * 64 * 4


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        (
            {"input": [3, 8, 8], "inputs": {"a": [3, 8, 8]}, "layers": [{"type": "flatten"}]},
            "inputs",
            "exactly one of input",
        ),
        ({"layers": [{"type": "flatten"}]}, "input", "missing (give input, or inputs"),
        (
            {"inputs": {"a": [3, 8, 8], "b": [3, 8, 8]}, "layers": [{"type": "flatten"}]},
            "inputs",
            "several inputs (a, b)",
        ),
        (
            {"inputs": {"a": [3, 8, 8]}, "layers": [{"type": "flatten", "inputs": ["image"]}]},
            "inputs",
            "unknown layer 'image'",
        ),
        ({"inputs": [3, 8, 8], "layers": [{"type": "flatten"}]}, "inputs", "a mapping"),
        ({"inputs": {"a": [3, "8x"]}, "layers": [{"type": "flatten"}]}, "inputs.a", "size"),
        ({"inputs": {"in": [3, 8]}, "layers": [{"type": "flatten"}]}, "inputs.in", "reserved"),
        (
            {"inputs": {"a": [3, 8]}, "layers": [{"name": "a", "type": "flatten"}]},
            "name",
            "'a' names a network input and a layer",
        ),
        (
            {
                "inputs": {"a": [3, 8, 8]},
                "layers": [{"type": "upsample", "inputs": ["a"], "size_of": "mask"}],
            },
            "size_of",
            "unknown layer 'mask'",
        ),
    ],
)
def test_bad_inputs_are_one_line_naming_the_field(spec, field, words):
    text = error_of(spec)
    assert f"{field}:" in text
    assert words in text


def test_input_option_is_refused_with_several_inputs():
    with pytest.raises(ConvCalcError, match="replaces a single one"):
        convcalc.analyze(TWO_INPUTS, input_shape=(3, 32, 32))


def test_symbolic_named_inputs_share_their_symbols():
    spec = {
        "inputs": {"a": [3, "H", "W"], "b": [1, "H", "W"]},
        "layers": [{"name": "cat", "type": "concat", "inputs": ["a", "b"]}],
    }
    report = convcalc.analyze(spec, sizes={"H": 8, "W": 4})
    assert report.inputs == (("a", (3, 8, 4)), ("b", (1, 8, 4)))
    assert report.layers[0].output_shape == (4, 8, 4)


# Several outputs ----------------------------------------------------------------------

AUX = {
    "input": [3, 32, 32],
    "layers": [
        {"name": "body", "type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 1},
        {"name": "aux_pool", "type": "global_avg_pool"},
        {"name": "aux", "type": "conv", "out_channels": 5, "kernel_size": 1},
        {"name": "pool", "type": "max_pool", "kernel_size": 2, "inputs": ["body"]},
        {"name": "logits", "type": "conv", "out_channels": 10, "kernel_size": 1},
    ],
}
UNREAD = "nothing reads this output"


def test_the_last_layer_is_the_output_by_default_and_others_are_noted():
    report = convcalc.analyze(AUX)
    assert report.outputs == ("logits",)
    assert any(UNREAD in note for note in by_name(report)["aux"].notes)


def test_listed_outputs_are_not_noted_as_unread():
    report = convcalc.analyze({**AUX, "outputs": ["logits", "aux"]})
    assert report.outputs == ("logits", "aux")
    assert [row.name for row in report.output_rows] == ["logits", "aux"]
    assert not any(UNREAD in note for row in report.layers for note in row.notes)


def test_an_output_listed_may_leave_the_last_layer_noted():
    report = convcalc.analyze({**AUX, "outputs": ["aux"]})
    assert any(UNREAD in note for note in by_name(report)["logits"].notes)
    # Receptive-field figures are of the last map up to the first output.
    assert report.last_spatial_row().name == "aux"
    assert convcalc.analyze(AUX).last_spatial_row().name == "logits"


@pytest.mark.parametrize(
    ("outputs", "words"),
    [
        (["logits", "auxx"], "unknown layer 'auxx'; did you mean 'aux'?"),
        (["input"], "is a network input"),
        (["aux", "aux"], "listed twice"),
        ([], "a non-empty list"),
        ("aux", "a non-empty list"),
    ],
)
def test_bad_outputs_are_refused(outputs, words):
    text = error_of({**AUX, "outputs": outputs})
    assert "outputs:" in text
    assert words in text


def test_outputs_name_a_block_use_or_a_full_name():
    spec = {
        "input": [3, 8, 8],
        "blocks": {"unit": {"layers": [{"name": "c", "type": "conv", "out_channels": 4}]}},
        "layers": [
            {"name": "u", "type": "block", "use": "unit"},
            {"name": "head", "type": "flatten"},
        ],
        "outputs": ["head", "u"],
    }
    spec["blocks"]["unit"]["layers"][0]["kernel_size"] = 1
    assert convcalc.analyze(spec).outputs == ("head", "u.c")
    assert convcalc.analyze({**spec, "outputs": ["u.c"]}).outputs == ("u.c",)


def run(*argv: str):
    result = CliRunner().invoke(app, list(argv))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def write(tmp_path: Path, spec: dict, name: str = "net.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def test_json_table_and_check_show_every_output(tmp_path: Path):
    path = write(tmp_path, {**AUX, "outputs": ["logits", "aux"]})
    data = json.loads(run("shapes", str(path), "-f", "json").stdout)
    assert data["outputs"] == ["logits", "aux"]
    assert data["inputs"] == {"input": [3, 32, 32]}
    table = run("shapes", str(path)).stdout
    assert "outputs" in table and "logits 10x16x16, aux 5x1x1" in table
    # The budget on the output shape holds the first output.
    assert run("check", str(path), "--output-shape", "10x16x16").exit_code == 0
    assert run("check", str(path), "--output-shape", "5x1x1").exit_code == 1
    checked = run("check", str(path), "--max-params", "1G", "-f", "markdown").stdout
    assert "logits 10x16x16, aux 5x1x1" in checked


def test_verify_reports_the_outputs_and_saves_each_named_input(tmp_path: Path):
    np = pytest.importorskip("numpy")
    verification = convcalc.verify(TWO_INPUTS, save=tmp_path / "run.npz")
    assert verification.ok
    saved = np.load(tmp_path / "run.npz")
    assert saved["input/image"].shape == (1, 3, 16, 16)
    assert saved["input/mask"].shape == (1, 1, 4, 4)
    # The upsampled mask is the saved mask, repeated 4x4 (nearest).
    assert np.array_equal(saved["up/output"], saved["input/mask"].repeat(4, 2).repeat(4, 3))
    spec = write(tmp_path, {**AUX, "outputs": ["logits", "aux"]})
    assert json.loads(run("verify", str(spec), "-f", "json").stdout)["outputs"] == [
        "logits",
        "aux",
    ]


def test_verify_skips_the_field_when_the_inputs_differ_in_size():
    spec = {
        "inputs": {"a": [1, 8, 8], "b": [1, 4, 4]},
        "layers": [
            {"name": "pool", "type": "max_pool", "kernel_size": 2, "inputs": ["a"]},
            {"name": "sum", "type": "add", "inputs": ["pool", "b"]},
        ],
    }
    verification = convcalc.verify(spec)
    assert verification.ok
    assert all(check == "receptive_field" for _, check, _ in verification.skipped)


def test_compare_of_two_specs_reads_the_first_output(tmp_path: Path):
    first = write(tmp_path, {**AUX, "outputs": ["aux", "logits"]}, "a.yaml")
    second = write(tmp_path, AUX, "b.yaml")
    comparison = convcalc.compare(str(first), str(second))
    shapes = [candidate.output_shape for candidate in comparison.candidates]
    assert shapes == [(5, 1, 1), (10, 16, 16)]


# Shared weights -----------------------------------------------------------------------

SHARED = {
    "input": [4, 8, 8],
    "layers": [
        {"name": "a", "type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"name": "b", "type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1,
         "shares": "a"},
        {"name": "bn", "type": "batchnorm"},
        {"name": "c", "type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1,
         "shares": "b"},
    ],
}  # fmt: skip
CONV_PARAMS = (4 * 9 + 1) * 4
CONV_MACS = 8 * 8 * 4 * 4 * 9


def test_a_sharer_counts_no_params_and_every_mac():
    report = convcalc.analyze(SHARED)
    rows = by_name(report)
    assert rows["a"].params == CONV_PARAMS
    assert rows["b"].params == rows["c"].params == 0
    assert rows["b"].macs == rows["c"].macs == CONV_MACS
    assert report.totals.params == CONV_PARAMS + 2 * 4  # batchnorm's weight and bias
    assert report.totals.macs == 3 * CONV_MACS
    # A chain of sharers ends at the layer that owns the weights.
    assert report.layers[3].layer.shares == "a"
    assert any("uses the weights of a" in note for note in rows["c"].notes)


def test_a_repeated_sharer_shares_every_copy():
    spec = {
        "input": [4, 8, 8],
        "layers": [
            {"name": "a", "type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1},
            {"name": "r", "type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1,
             "shares": "a", "repeat": 3},
        ],
    }  # fmt: skip
    report = convcalc.analyze(spec)
    assert report.totals.params == CONV_PARAMS
    assert report.totals.macs == 4 * CONV_MACS


def with_layer(extra: dict, at: int = 1) -> dict:
    layers = [dict(layer) for layer in SHARED["layers"]]
    layers[at] = {**layers[at], **extra}
    return {**SHARED, "layers": layers}


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (with_layer({"shares": "c"}), "comes later"),
        (with_layer({"shares": "b"}), "not its own"),
        (with_layer({"shares": "input"}), "network input"),
        (with_layer({"shares": "nope"}), "unknown layer 'nope'"),
        (with_layer({"kernel_size": 5, "padding": 2}), "kernel_size is 5 here and 3 at 'a'"),
        (with_layer({"shares": "bn"}, at=3), "'bn' is a batchnorm, this layer a conv"),
        (with_layer({"shares": 3}), "an earlier layer's name"),
    ],
)
def test_bad_shares_are_one_line_naming_the_field(spec, words):
    text = error_of(spec)
    assert "shares:" in text
    assert words in text


def test_a_sharer_on_other_channels_is_refused():
    spec = {
        "input": [4, 8, 8],
        "layers": [
            {"name": "a", "type": "conv", "out_channels": 8, "kernel_size": 1},
            {"name": "b", "type": "conv", "out_channels": 8, "kernel_size": 1, "shares": "a"},
        ],
    }
    text = error_of(spec)
    assert "shares:" in text and "its input 8x8x8 (72 params) against 4x8x8 (40)" in text


def test_a_dense_sharer_on_other_features_is_refused():
    spec = {
        "input": [4, 8, 8],
        "layers": [
            {"name": "f", "type": "flatten"},
            {"name": "a", "type": "dense", "out_features": 100},
            {"name": "b", "type": "dense", "out_features": 100, "shares": "a"},
        ],
    }
    text = error_of(spec)
    assert "shares:" in text
    assert "its input 100 (10,100 params) against 256 (25,700)" in text


TOWER = {
    "layers": [
        {"name": "conv", "type": "conv", "out_channels": 6, "kernel_size": 3},
        {"name": "bn", "type": "batchnorm"},
        {"name": "relu", "type": "activation", "function": "relu"},
        {"name": "fc", "type": "dense", "out_features": 5, "inputs": ["flat"]},
    ]
}
TOWER["layers"].insert(3, {"name": "flat", "type": "flatten"})
TOWER_PARAMS = (3 * 9 + 1) * 6 + 2 * 6 + (6 * 6 * 6 + 1) * 5
TOWER_BUFFERS = 2 * 6
TOWER_MACS = 6 * 6 * 6 * 3 * 9 + 6 * 6 * 6 * 5

TOWERS = {
    "inputs": {"x1": [3, 8, 8], "x2": [3, 8, 8]},
    "blocks": {"tower": TOWER},
    "layers": [
        {"name": "left", "type": "block", "use": "tower", "inputs": ["x1"]},
        {"name": "right", "type": "block", "use": "tower", "inputs": ["x2"], "shares": "left"},
    ],
    "outputs": ["left", "right"],
}


def test_a_block_use_shares_each_layer_of_an_earlier_use():
    report = convcalc.analyze(TOWERS)
    rows = by_name(report)
    for inner in ("conv", "bn", "relu", "flat", "fc"):
        assert rows[f"right.{inner}"].layer.shares == f"left.{inner}"
        assert rows[f"right.{inner}"].params == 0
    assert report.totals.params == TOWER_PARAMS
    assert report.totals.buffers == TOWER_BUFFERS  # running statistics go with the weights
    assert report.totals.macs == 2 * TOWER_MACS
    assert report.outputs == ("left.fc", "right.fc")


def test_a_layer_inside_a_block_shares_another_uses_layer_by_full_name():
    towers = json.loads(json.dumps(TOWERS))
    head = dict(TOWER["layers"][0], shares="left.conv")
    towers["blocks"]["other"] = {"layers": [head, *TOWER["layers"][1:]]}
    towers["layers"][1] = {"name": "right", "type": "block", "use": "other", "inputs": ["x2"]}
    report = convcalc.analyze(towers)
    assert by_name(report)["right.conv"].params == 0
    assert report.totals.params == TOWER_PARAMS + 2 * 6 + (6 * 6 * 6 + 1) * 5


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"shares": "nobody"}, "'nobody' is none (earlier uses: left)"),
        ({"shares": "left", "repeat": 2}, "only a use of the same block"),
    ],
)
def test_bad_block_shares_are_refused(change, words):
    towers = json.loads(json.dumps(TOWERS))
    towers["layers"][1].update(change)
    text = error_of(towers)
    assert "shares:" in text and words in text


def test_a_layer_cannot_share_a_whole_block_use():
    towers = json.loads(json.dumps(TOWERS))
    towers["layers"].append(
        {"name": "c", "type": "conv", "out_channels": 6, "kernel_size": 3, "shares": "left",
         "inputs": ["x1"]}
    )  # fmt: skip
    assert "is a block use" in error_of(towers)


def test_verify_uses_the_owners_weights_for_a_sharer(tmp_path: Path):
    np = pytest.importorskip("numpy")
    towers = json.loads(json.dumps(TOWERS))
    towers["layers"][1]["inputs"] = ["x1"]  # both towers on the same input
    verification = convcalc.verify(towers, save=tmp_path / "run.npz")
    assert verification.ok
    saved = np.load(tmp_path / "run.npz")
    assert np.array_equal(saved["left.fc/output"], saved["right.fc/output"])
    assert "left.conv/weight" in saved and "right.conv/weight" not in saved
    # The unshared model differs: its second tower draws weights of its own.
    del towers["layers"][1]["shares"]
    convcalc.verify(towers, save=tmp_path / "own.npz")
    own = np.load(tmp_path / "own.npz")
    assert not np.allclose(own["left.fc/output"], own["right.fc/output"])


# The Siamese example ------------------------------------------------------------------

# Koch et al. 2015, Fig. 4: the tower on a 1x105x105 image, each conv's output size
# 105 - 10 + 1 = 96, pooled 48; 48 - 7 + 1 = 42, pooled 21; 21 - 4 + 1 = 18, pooled 9;
# 9 - 4 + 1 = 6; 256 * 6 * 6 = 9216 features.
KOCH_TOWER_PARAMS = (
    (1 * 10 * 10 + 1) * 64
    + (64 * 7 * 7 + 1) * 128
    + (128 * 4 * 4 + 1) * 128
    + (128 * 4 * 4 + 1) * 256
    + (9216 + 1) * 4096
)
KOCH_TOWER_MACS = (
    96 * 96 * 64 * 1 * 100
    + 42 * 42 * 128 * 64 * 49
    + 18 * 18 * 128 * 128 * 16
    + 6 * 6 * 256 * 128 * 16
    + 9216 * 4096
)
HEAD_PARAMS = 4096 + 1


def test_siamese_counts_one_towers_params_and_both_towers_macs():
    report = convcalc.analyze(SPECS / "siamese.yaml")
    assert report.totals.params == KOCH_TOWER_PARAMS + HEAD_PARAMS
    assert report.totals.macs == 2 * KOCH_TOWER_MACS + 4096
    tower = sum(row.macs for row in report.layers if row.name.startswith("left."))
    assert tower == KOCH_TOWER_MACS
    assert report.outputs == ("similarity", "left.fc", "right.fc")
    assert [row.output_shape for row in report.output_rows] == [(1,), (4096,), (4096,)]


def test_siamese_matches_a_torch_module_calling_one_tower_twice():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Siamese(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tower = nn.Sequential(
                nn.Conv2d(1, 64, 10), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(64, 128, 7), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(128, 128, 4), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(128, 256, 4), nn.ReLU(),
                nn.Flatten(), nn.Linear(9216, 4096), nn.Sigmoid(),
            )  # fmt: skip
            self.score = nn.Linear(4096, 1)

        def forward(self, first, second):
            left, right = self.tower(first), self.tower(second)
            return torch.sigmoid(self.score(left * right)), left, right

    model = Siamese()
    report = convcalc.analyze(SPECS / "siamese.yaml")
    assert sum(p.numel() for p in model.parameters()) == report.totals.params
    with torch.no_grad():
        outputs = model(torch.zeros(1, 1, 105, 105), torch.zeros(1, 1, 105, 105))
    assert [tuple(out.shape[1:]) for out in outputs] == [
        row.output_shape for row in report.output_rows
    ]
    # Each call's MACs, counted on the torch modules as they run: twice the tower's.
    macs = []

    def count(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            kernel = math.prod(module.kernel_size) * module.in_channels // module.groups
            macs.append(output.numel() * kernel)
        elif isinstance(module, nn.Linear):
            macs.append(output.numel() * module.in_features)

    for module in model.modules():
        module.register_forward_hook(count)
    with torch.no_grad():
        model(torch.zeros(1, 1, 105, 105), torch.zeros(1, 1, 105, 105))
    assert sum(macs) == report.totals.macs


def test_sizes_scans_a_symbol_of_the_second_input():
    spec = {
        "inputs": {"a": [3, 8, 8], "b": [1, "H", 8]},
        "layers": [
            {"name": "pool", "type": "max_pool", "kernel_size": 2, "inputs": ["b"]},
            {"name": "up", "type": "upsample", "scale_factor": 2},
            {"name": "cat", "type": "concat", "inputs": ["a", "up"]},
        ],
    }
    (scan,) = convcalc.sizes(spec, size_range=(1, 20))
    assert scan.sizes == [8, 9]  # 2 * floor(H / 2) == 8


def test_markdown_escapes_the_output_names(tmp_path: Path):
    spec = json.loads(json.dumps(AUX))
    spec["layers"][2]["name"] = "a*ux"
    path = write(tmp_path, {**spec, "outputs": ["logits", "a*ux"]})
    text = run("shapes", str(path), "-f", "markdown").stdout
    assert "- **outputs**: logits 10x16x16, a\\*ux 5x1x1" in text
