"""Golden files of every command in every format, as written off a terminal (a pipe, a CI log).

Each case runs the CLI on specs/ and compares stdout, stderr and the exit code with
tests/golden/commands/<case>.txt. Times (verify's seconds) are replaced by `T`, the only part of the
output that varies from run to run. After a deliberate change of an output, regenerate the
files and review the diff:

    CONVCALC_REGENERATE_GOLDEN=1 python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convcalc.cli import app

ROOT = Path(__file__).parent.parent
GOLDEN = Path(__file__).parent / "golden" / "commands"
REGENERATE = os.environ.get("CONVCALC_REGENERATE_GOLDEN") == "1"

# A spec with parts, notes, a budget that fails, and a symbolic one; relative paths, so the
# output does not depend on where the project is checked out.
SMALL = """\
name: golden
input: [3, 32, 32]
budget: {max_params: 1000, min_receptive_field: 5}
layers:
  - {name: conv1, type: conv, out_channels: 16, kernel_size: 3, padding: 1, bias: false}
  - {name: bn1, type: batchnorm}
  - {name: relu1, type: activation, function: relu}
  - {name: pool, type: max_pool, kernel_size: 3, stride: 2}
  - {name: conv2, type: conv, out_channels: 8, kernel_size: 3, groups: 2}
  - {name: up, type: upsample, scale_factor: 2, mode: bilinear}
  - {name: gap, type: global_avg_pool}
  - {name: flat, type: flatten}
  - {name: fc, type: dense, out_features: 10}
"""

CASES = {
    # name: (argv, exit code)
    "shapes.table": (["shapes", "specs/resnet18.yaml"], 0),
    "shapes.small.table": (
        [
            "shapes",
            "small.yaml",
            "--columns",
            "name,type,inputs,output,params,macs,flops,connections,memory,rf,stride,padding,share",
        ],
        0,
    ),
    "shapes.json": (["shapes", "small.yaml", "-f", "json"], 0),
    "shapes.markdown": (["shapes", "small.yaml", "specs/lenet5.yaml", "-f", "markdown"], 0),
    "shapes.csv": (["shapes", "small.yaml", "-f", "csv"], 0),
    "shapes.symbolic.table": (["shapes", "specs/unet_same_symbolic.yaml"], 0),
    "shapes.symbolic.json": (["shapes", "specs/fcn16s_symbolic.yaml", "-f", "json"], 0),
    "shapes.error": (["shapes", "small.yaml", "missing.yaml"], 2),
    "sizes.table": (["sizes", "specs/unet_same_symbolic.yaml", "--range", "1..300"], 0),
    "sizes.json": (["sizes", "specs/fcn16s_symbolic.yaml", "--range", "1..300", "-f", "json"], 0),
    "sizes.exact.table": (
        ["sizes", "specs/unet_symbolic.yaml", "--dim", "H", "--exact", "--range", "180..600"],
        0,
    ),
    "compare.stacks.table": (["compare", "5x5", "vs", "3x3x2", "vs", "3x1 + 1x3"], 0),
    "compare.stacks.json": (["compare", "5x5", "vs", "3x3x2", "--size", "56", "-f", "json"], 0),
    "compare.specs.table": (["compare", "specs/unet_same.yaml", "vs", "small.yaml"], 0),
    "compare.specs.json": (["compare", "specs/resnet18.yaml", "vs", "small.yaml", "-f", "json"], 0),
    "verify.table": (["verify", "specs/lenet5.yaml"], 0),
    "verify.json": (["verify", "small.yaml", "-f", "json"], 0),
    "check.table": (["check", "small.yaml", "specs/lenet5.yaml"], 1),
    "check.json": (["check", "small.yaml", "specs/lenet5.yaml", "-f", "json"], 1),
    "check.markdown": (["check", "small.yaml", "specs/lenet5.yaml", "-f", "markdown"], 1),
    "check.github": (["check", "small.yaml", "specs/lenet5.yaml", "-f", "github"], 1),
}

TIMES = re.compile(r"\b[0-9]+\.[0-9]+ s\b|(\"(forward_)?seconds\": )[0-9.e-]+")


def _steady(text: str) -> str:
    return TIMES.sub(lambda match: f"{match[1]}T" if match[1] else "T s", text)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A working directory holding specs/ and small.yaml."""
    (tmp_path / "specs").symlink_to(ROOT / "specs")
    (tmp_path / "small.yaml").write_text(SMALL, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "120")


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(project, case):
    argv, exit_code = CASES[case]
    result = CliRunner().invoke(app, argv)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == exit_code, result.output
    text = _steady(f"$ convcalc {' '.join(argv)}\n{result.stdout}--- stderr\n{result.stderr}")
    path = GOLDEN / f"{case}.txt"
    if REGENERATE:
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), (
        f"{path.name} differs; after a deliberate change, regenerate (see the module docstring)"
    )
