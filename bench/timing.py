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


def chain_options(description: str, default_layers: int, reference_layers: int, what: str):
    """The options of a bench that times a long chain against a short reference one:
    --runs, --warmup and --layers, checked."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    parser.add_argument(
        "--layers",
        type=int,
        default=default_layers,
        help=f"layers of the long {what} (default {default_layers})",
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.layers <= reference_layers:
        parser.error(f"--layers must be more than the reference's {reference_layers}")
    return args
