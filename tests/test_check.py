"""`convcalc check` end to end: every exit code and output format, globs, flags winning over
the spec, baselines, and golden files of the github and markdown formats.

The golden files are tests/golden/check.github.txt and tests/golden/check.markdown.md. After
a deliberate change of those formats, regenerate them and review the diff:

    CONVCALC_REGENERATE_GOLDEN=1 python -m pytest tests/test_check.py -k golden
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from convcalc.cli import app

runner = CliRunner()
GOLDEN = Path(__file__).parent / "golden"
REGENERATE = os.environ.get("CONVCALC_REGENERATE_GOLDEN") == "1"

# conv1 448 params, conv2 2,320, fc 170: 2,938 params in all; receptive field of conv2 5x5.
NET = """\
name: tiny
input: [3, 32, 32]
budget:
  max_params: {max_params}
  max_macs: 2.5M
  max_peak_activation_bytes: 100KiB
  min_receptive_field: {{size: 5, at: conv2}}
  output_shape: [10]
  max_growth:
    params: 5%
layers:
  - {{name: conv1, type: conv, out_channels: 16, kernel_size: 3, padding: 1}}
  - {{name: conv2, type: conv, out_channels: {width}, kernel_size: 3, stride: 2, padding: 1}}
  - {{name: gap, type: global_avg_pool}}
  - {{name: flat, type: flatten}}
  - {{name: fc, type: dense, out_features: 10}}
"""
WITHIN = NET.format(max_params="3k", width=16)
OVER = NET.format(max_params="1k", width=16)
NARROW = NET.format(max_params="3k", width=8)  # the base branch: conv2 with 8 channels
BAD_BUDGET = "input: [3, 8, 8]\nbudget:\n  max_params: 25.6X\nlayers:\n  - {type: flatten}\n"


def check(*args: object) -> Result:
    return runner.invoke(app, ["check", *map(str, args)])


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write {relative path: text} under a temporary working directory."""
    monkeypatch.chdir(tmp_path)

    def write(files: dict[str, str]) -> Path:
        for name, text in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return tmp_path

    return write


def test_exit_0_when_every_budget_holds(tree):
    tree({"net.yaml": WITHIN})
    result = check("net.yaml")
    assert result.exit_code == 0, result.output
    assert "net.yaml (tiny): within budget" in result.stdout
    assert "convcalc check: every budget holds (1 spec)" in result.stdout
    assert result.stderr == ""


def test_exit_1_names_the_budget_limit_actual_excess_and_layers(tree):
    tree({"net.yaml": OVER})
    result = check("net.yaml")
    assert result.exit_code == 1
    assert (
        "✗ max_params: 2,938 exceeds the limit 1,000 by 1,938 (+193.8%); most in: conv2 2,320"
        " (79%), conv1 448 (15%), fc 170 (6%)" in result.stdout
    )
    assert "convcalc check: 1 budget exceeded in 1 of 1 spec" in result.stdout


@pytest.mark.parametrize("output_format", ["table", "json", "markdown", "github"])
@pytest.mark.parametrize(("text", "code"), [(WITHIN, 0), (OVER, 1)])
def test_every_format_and_exit_code(tree, output_format, text, code):
    tree({"net.yaml": text})
    result = check("net.yaml", "--format", output_format)
    assert result.exit_code == code, result.output
    assert result.stdout.strip()
    assert result.stderr == ""


def test_json(tree):
    tree({"a.yaml": OVER, "b.yaml": WITHIN})
    result = check("a.yaml", "b.yaml", "-f", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert [(spec["path"], spec["ok"]) for spec in data["specs"]] == [
        ("a.yaml", False),
        ("b.yaml", True),
    ]
    (violation,) = data["specs"][0]["violations"]
    assert violation == {
        "budget": "max_params",
        "limit": 1000,
        "actual": 2938,
        "excess": 1938,
        "ok": False,
        "source": "spec",
        "line": 4,
        "layer": None,
        "layers": [
            {"name": "conv2", "value": 2320, "line": 13},
            {"name": "conv1", "value": 448, "line": 12},
            {"name": "fc", "value": 170, "line": 16},
        ],
    }
    checks = {entry["budget"]: entry for entry in data["specs"][1]["checks"]}
    assert list(checks) == [
        "max_params",
        "max_macs",
        "max_peak_activation_bytes",
        "min_receptive_field",
        "output_shape",
    ]
    assert checks["min_receptive_field"]["actual"] == [5, 5]
    assert checks["min_receptive_field"]["layer"] == "conv2"
    assert checks["output_shape"]["limit"] == [10]
    assert data["specs"][1]["totals"]["params"] == 2938
    assert data["specs"][1]["notes"] == ["max_growth not checked: give --baseline"]
    assert data["specs"][1]["violations"] == []


def test_flags_win_over_the_spec(tree):
    tree({"net.yaml": OVER})
    assert check("net.yaml", "--max-params", "3k").exit_code == 0
    result = check("net.yaml", "--max-params", "3k", "--max-macs", "1M", "-f", "json")
    assert result.exit_code == 1
    (violation,) = json.loads(result.stdout)["specs"][0]["violations"]
    assert violation["budget"] == "max_macs"
    assert violation["source"] == "flag"
    assert violation["line"] == 13  # conv2 has the most MACs


@pytest.mark.parametrize(
    ("flag", "value", "code"),
    [
        ("--max-flops", "2.0G", 0),
        ("--max-flops", "2M", 1),
        ("--max-model-bytes", "11.5KiB", 0),
        ("--max-model-bytes", "1KB", 1),
        ("--max-peak-activation-bytes", "64KiB", 1),
        # At conv2, which the global pool reads (the pool's field is the whole map, 35).
        ("--min-receptive-field", "5", 0),
        ("--min-receptive-field", "35", 1),
        ("--min-receptive-field", "3x3@conv1", 0),
        ("--min-receptive-field", "4@conv1", 1),
        ("--output-shape", "10", 0),
        ("--output-shape", "1000", 1),
    ],
)
def test_each_flag(tree, flag, value, code):
    tree({"net.yaml": WITHIN})
    result = check("net.yaml", flag, value)
    assert result.exit_code == code, result.output


def test_spec_without_budget_passes_with_a_note(tree):
    tree({"plain.yaml": "input: [3, 8, 8]\nlayers:\n  - {type: flatten}\n"})
    result = check("plain.yaml", "-f", "github")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].startswith("::warning file=plain.yaml,title=")
    assert "no budget" in result.stdout


def test_globs_and_several_files(tree):
    tree(
        {
            "specs/a.yaml": WITHIN,
            "specs/deep/b.yml": OVER,
            "specs/c.json": json.dumps(
                {"input": [3, 8, 8], "budget": {"max_params": "1"}, "layers": [{"type": "flatten"}]}
            ),
        }
    )
    result = check("specs/**/*.y*ml", "specs/*.json", "specs/a.yaml", "-f", "json")
    assert result.exit_code == 1
    paths = [spec["path"] for spec in json.loads(result.stdout)["specs"]]
    assert paths == ["specs/a.yaml", "specs/deep/b.yml", "specs/c.json"]


def test_baseline_directory_measures_growth(tree):
    tree({"specs/net.yaml": WITHIN, "specs/new.yaml": WITHIN, "base/specs/net.yaml": NARROW})
    result = check("specs/net.yaml", "specs/new.yaml", "--baseline", "base", "-f", "json")
    assert result.exit_code == 1
    net, new = json.loads(result.stdout)["specs"]
    (growth,) = net["violations"]
    assert growth["budget"] == "max_growth.params"
    assert (growth["limit"], growth["actual"], growth["baseline"], growth["value"]) == (
        "+5%",
        "+73.03%",
        1698,
        2938,
    )
    assert net["baseline"] == str(Path("base/specs/net.yaml"))
    assert [(change["name"], change["change"]) for change in net["diff"]][0] == (
        "conv2",
        "changed",
    )
    assert new["ok"] and new["baseline"] is None
    assert new["notes"] == ["no baseline: the spec is new on this branch, so growth is not checked"]


def test_baseline_file_and_growth_flag(tree):
    tree({"net.yaml": WITHIN, "old.yaml": WITHIN.replace("params: 5%", "flops: 1%")})
    assert check("net.yaml", "--baseline", "old.yaml").exit_code == 0
    result = check("net.yaml", "--baseline", "old.yaml", "--max-growth", "params=0%")
    assert result.exit_code == 0, result.output
    grown = tree({"old.yaml": NARROW})
    assert grown
    result = check("net.yaml", "--baseline", "old.yaml", "--max-growth", "macs=10%,params=80%")
    assert result.exit_code == 1
    assert "✗ max_growth.macs: macs grew +40.01%" in result.stdout
    assert "max_growth.params" in result.stdout and "✗ max_growth.params" not in result.stdout


# (files, arguments, what the last error line says). Exit 2, nothing on stdout.
INVALID = [
    pytest.param(
        {"bad.yaml": BAD_BUDGET},
        ["bad.yaml"],
        "error: bad.yaml:3: budget.max_params: unknown unit 'X' in '25.6X'",
        id="bad-budget-entry",
    ),
    pytest.param(
        {"bad.yaml": "input: [3, 8, 8]\nlayers:\n  - {type: conv}\n"},
        ["bad.yaml"],
        "error: bad.yaml:3: layer 1 (conv1): kernel_size: missing",
        id="bad-layer",
    ),
    pytest.param(
        {"net.yaml": WITHIN.replace("at: conv2", "at: conv9")},
        ["net.yaml"],
        "error: net.yaml:7: budget.min_receptive_field: at: no layer 'conv9'",
        id="unknown-at-layer",
    ),
    pytest.param({}, ["missing.yaml"], "error: missing.yaml: No such file", id="missing-file"),
    pytest.param({}, ["nothing/*.yaml"], "error: no file matches 'nothing/*.yaml'", id="glob"),
    pytest.param(
        {"net.yaml": WITHIN},
        ["net.yaml", "--format", "xml"],
        "error: --format: unknown format 'xml' (known: table, json, markdown, github)",
        id="format",
    ),
    pytest.param(
        {"net.yaml": WITHIN},
        ["net.yaml", "--max-params", "1.5MB"],
        "error: --max-params: '1.5MB': byte units are for the byte budgets",
        id="bytes-for-a-count",
    ),
    pytest.param(
        {"net.yaml": WITHIN},
        ["net.yaml", "--max-growth", "params=5%"],
        "error: --max-growth: needs --baseline",
        id="growth-without-baseline",
    ),
    pytest.param(
        {"net.yaml": WITHIN},
        ["net.yaml", "--baseline", "base"],
        "error: --baseline: no such file or directory: base",
        id="missing-baseline",
    ),
    pytest.param(
        {"a.yaml": WITHIN, "b.yaml": WITHIN},
        ["a.yaml", "b.yaml", "--baseline", "a.yaml"],
        "error: --baseline: a baseline file serves one spec, got 2 specs",
        id="baseline-file-for-two-specs",
    ),
    pytest.param(
        {"net.yaml": WITHIN, "old.yaml": BAD_BUDGET},
        ["net.yaml", "--baseline", "old.yaml"],
        "error: old.yaml:3: budget.max_params",
        id="invalid-baseline",
    ),
    pytest.param({}, [], "error: Missing argument", id="no-spec"),
    pytest.param(
        {"net.yaml": WITHIN}, ["net.yaml", "--max-parms", "1"], "error: No such option", id="option"
    ),
]


@pytest.mark.parametrize(("files", "args", "expected"), INVALID)
@pytest.mark.parametrize("output_format", ["table", "json", "markdown"])
def test_exit_2_is_one_error_line_and_no_output(tree, files, args, expected, output_format):
    tree(files)
    format_args = [] if "--format" in args else ["--format", output_format]
    result = check(*args, *format_args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1].startswith(expected), result.stderr


def test_exit_2_wins_over_exit_1_and_names_every_invalid_spec(tree):
    tree({"over.yaml": OVER, "bad.yaml": BAD_BUDGET, "bad2.yaml": "input: 3\nlayers: []\n"})
    result = check("over.yaml", "bad.yaml", "bad2.yaml")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert [line.split(":")[1].strip() for line in lines] == ["bad.yaml", "bad2.yaml"]


def test_github_format_annotates_invalid_specs(tree):
    tree({"bad.yaml": BAD_BUDGET})
    result = check("bad.yaml", "-f", "github")
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [
        "::error file=bad.yaml,line=3,title=convcalc check::budget.max_params: unknown unit"
        " 'X' in '25.6X' (known: k, K, M, G, T, P)",
        "convcalc check: 1 invalid spec",
    ]
    assert result.stderr.startswith("error: bad.yaml:3: budget.max_params")


def test_github_escapes_workflow_command_characters(tree):
    tree({"a,b:c.yaml": OVER})
    result = check("a,b:c.yaml", "-f", "github")
    first = result.stdout.splitlines()[0]
    assert first.startswith(
        "::error file=a%2Cb%3Ac.yaml,line=4,title=convcalc check%3A max_params::"
    )
    assert "(+193.8%25)" in first


# Golden files: a pull request that widens conv2 (params +73%) and adds a spec, against the
# base branch checked out in base/.
GOLDEN_FILES = {
    "specs/net.yaml": WITHIN,
    "specs/added.yaml": OVER,
    "base/specs/net.yaml": NARROW,
}


@pytest.mark.parametrize(
    ("output_format", "golden"),
    [("github", "check.github.txt"), ("markdown", "check.markdown.md")],
)
def test_golden(tree, output_format, golden):
    tree(GOLDEN_FILES)
    result = check("specs/net.yaml", "specs/added.yaml", "--baseline", "base", "-f", output_format)
    assert result.exit_code == 1, result.output
    path = GOLDEN / golden
    if REGENERATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(result.stdout, encoding="utf-8")
    assert result.stdout == path.read_text(encoding="utf-8"), (
        f"{golden} differs; after a deliberate change, regenerate (see the module docstring)"
    )


def test_globs_do_not_follow_symlinked_folders_and_read_each_file_once(tmp_path: Path):
    """Two `ln -s . specs/a` links made glob's paths grow without end; a link to a spec
    already matched is the same file."""
    import subprocess
    import sys

    specs = tmp_path / "specs"
    (specs / "sub").mkdir(parents=True)
    spec_text = Path("specs/lenet5.yaml").read_text()
    (specs / "net.yaml").write_text(spec_text)
    (specs / "sub" / "deep.yaml").write_text(spec_text)
    (specs / "a").symlink_to(".")
    (specs / "b").symlink_to(".")
    (specs / "sub" / "link.yaml").symlink_to("../net.yaml")
    (specs / ".hidden").mkdir()
    (specs / ".hidden" / "x.yaml").write_text(spec_text)
    process = subprocess.run(
        [sys.executable, "-m", "convcalc", "check", "specs/**/*.yaml", "-f", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode == 0, process.stderr
    paths = [spec["path"] for spec in json.loads(process.stdout)["specs"]]
    assert paths == ["specs/net.yaml", "specs/sub/deep.yaml"]


def test_min_receptive_field_is_checked_before_the_classifier_pools():
    """ResNet-50's field at its global pool is the whole padded input (619), which any
    limit would pass; by default the limit is held at the layer the pool reads, whose
    field is 427 (Araujo, Norris and Sim, Distill 2019, Table 1: ResNet-50, 427)."""
    held = check("specs/resnet50.yaml", "--min-receptive-field", "427", "-f", "json")
    short = check("specs/resnet50.yaml", "--min-receptive-field", "619", "-f", "json")
    assert (held.exit_code, short.exit_code) == (0, 1)
    (found,) = json.loads(short.stdout)["specs"][0]["checks"]
    assert found["actual"] == [427, 427] and found["layer"].startswith("layer4.")


def test_set_gives_a_symbolic_spec_its_sizes_beside_numeric_ones():
    """`check` took no --set: a symbolic spec could not be checked at all."""
    result = check(
        "specs/unet_same_symbolic.yaml", "specs/lenet5.yaml", "--set", "H=64", "--set", "W=64",
        "--max-params", "100M", "-f", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    unet, lenet = json.loads(result.stdout)["specs"]
    # the concrete run at 64x64, as `shapes` gives it
    shapes = runner.invoke(
        app,
        ["shapes", "specs/unet_same_symbolic.yaml", "--set", "H=64", "--set", "W=64", "-f", "json"],
    )
    assert unet["totals"]["macs"] == json.loads(shapes.stdout)["totals"]["macs"]
    assert lenet["totals"]["params"] == 60_840
    refused = check("specs/unet_same_symbolic.yaml", "--max-params", "100M")
    assert refused.exit_code == 2 and "--set H=224" in refused.stderr
