"""Wall-clock timing of whole processes, shared by the bench scripts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Children write and reuse the bytecode cache, as an installed package does.
CHILD_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def time_once(command: list[str]) -> float:
    """Wall-clock seconds of one run of `command`, output discarded; fails loudly on error."""
    started = time.perf_counter()
    process = subprocess.run(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO, env=CHILD_ENV
    )
    elapsed = time.perf_counter() - started
    if process.returncode:
        sys.exit(f"{' '.join(command[1:4])} failed:\n{process.stderr.decode(errors='replace')}")
    return elapsed


def time_interleaved(
    commands: dict[str, list[str]], runs: int, warmup: int
) -> dict[str, list[float]]:
    """Run each command `runs` times, alternating between them, after `warmup` untimed rounds."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_number in range(warmup + runs):
        for name, command in commands.items():
            elapsed = time_once(command)
            if round_number >= warmup:
                times[name].append(elapsed)
    return times
