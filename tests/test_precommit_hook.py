"""The pre-commit hook for real: `pre-commit try-repo` installs convcalc from this checkout
into a hook environment and runs `convcalc-check` on a temporary repository's specs.

try-repo installs the checkout's HEAD commit, plus uncommitted changes to files git already
tracks (new files count once committed or staged). It needs pre-commit (in the `test`
extra), git, and pip's package index for the hook environment; the test skips without
pre-commit or git, or when this checkout is not a git repository.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INSTALL_TIMEOUT = 600  # seconds: the first run builds the hook's virtual environment

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("pre_commit") is None,
        reason="pre-commit is not installed (pip install -e '.[test]')",
    ),
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
    pytest.mark.skipif(
        not (ROOT / ".git").exists(), reason=f"{ROOT} is not a git checkout for try-repo"
    ),
]

SPEC = """\
input: [3, 32, 32]
budget:
  max_params: {max_params}
layers:
  - {{name: conv, type: conv, out_channels: 16, kernel_size: 3}}
  - {{name: gap, type: global_avg_pool}}
  - {{name: flat, type: flatten}}
  - {{name: fc, type: dense, out_features: 10}}
"""
# conv 448 params, fc 170: 618 in all.


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def try_repo(repo: Path, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pre_commit",
            "try-repo",
            str(ROOT),
            "convcalc-check",
            "--all-files",
        ],
        cwd=repo,
        env={**os.environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"},
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
    )


def test_hook_passes_a_spec_within_budget_and_fails_one_over(tmp_path: Path):
    repo = tmp_path / "repo"
    (repo / "specs").mkdir(parents=True)
    (repo / "specs" / "net.yaml").write_text(SPEC.format(max_params="1k"))
    # Not in a specs folder, so not a spec for the hook's default `files`.
    (repo / "config.yaml").write_text("learning_rate: 0.1\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "a spec within budget")

    passed = try_repo(repo, tmp_path / "pre-commit-home")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "convcalc check" in passed.stdout and "Passed" in passed.stdout

    (repo / "specs" / "wide.yaml").write_text(SPEC.format(max_params="500"))
    git(repo, "add", ".")
    failed = try_repo(repo, tmp_path / "pre-commit-home")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Failed" in failed.stdout
    assert "max_params: 618 exceeds the limit 500 by 118" in failed.stdout
