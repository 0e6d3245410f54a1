"""Time `convcalc shapes` on a symbolic 2,000-layer chain against the same chain 20 long.

The spec is issue 10's A4 case: `input: [1, H, W]` and one strided conv carrying
`repeat: N`, so every layer's sizes are formulas (floor((H - 1)/2**k) + 1) and the totals
sums of N terms. `shapes SPEC` (the table) runs as a whole process (interpreter start-up
and imports, sympy's among them, included) on the long spec and on the short reference,
interleaved A B A B ... so that drift in machine load hits both alike. The difference over
the extra layers is the per-layer cost; the goal is the long chain under 5 s. Run with the
repo's venv:

    .venv/bin/python bench/symbolic_chain.py [--runs 5] [--layers 2000]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import REPO, chain_options, time_interleaved

LATENCY_GOAL = 5.0  # seconds, the median on the long chain
REFERENCE_LAYERS = 20


def spec_text(layers: int) -> str:
    """The chain: one stride-2 conv repeated `layers` times on symbolic sizes."""
    return (
        f"name: symbolic chain of {layers}\n"
        "input: [1, H, W]\n"
        "layers:\n"
        "  - {name: c, type: conv, out_channels: 1, kernel_size: 3, stride: 2, padding: 1,"
        f" repeat: {layers}}}\n"
    )


def shapes_command(spec: Path, *options: str) -> list[str]:
    """The convcalc process being timed."""
    return [sys.executable, "-m", "convcalc", "shapes", str(spec), *options]


def check_output(spec: Path, layers: int) -> None:
    """Exit unless the JSON report has every layer, the last one's height a formula that
    divides by 2**layers: a bench of a command that stopped early would mean nothing."""
    output = subprocess.run(
        shapes_command(spec, "-f", "json"), capture_output=True, text=True, check=True, cwd=REPO
    ).stdout
    report = json.loads(output)
    height = report["layers"][-1]["output_shape"][1]
    if len(report["layers"]) != layers or str(2**layers) not in height:
        sys.exit(f"unexpected report of {spec}: {len(report['layers'])} layers, last {height}")


def main() -> None:
    """Parse the options, write the specs, time both, print the figures."""
    args = chain_options(__doc__.splitlines()[0], 2000, REFERENCE_LAYERS, "chain")

    with tempfile.TemporaryDirectory(prefix="convcalc-bench-") as folder:
        paths = {}
        for count in (args.layers, REFERENCE_LAYERS):
            paths[count] = Path(folder) / f"chain{count}.yaml"
            paths[count].write_text(spec_text(count), encoding="utf-8")
        check_output(paths[args.layers], args.layers)
        commands = {count: shapes_command(path) for count, path in paths.items()}
        times = time_interleaved(commands, args.runs, args.warmup)

    long = statistics.median(times[args.layers])
    short = statistics.median(times[REFERENCE_LAYERS])
    per_layer = (long - short) / (args.layers - REFERENCE_LAYERS)
    print(f"python {sys.version.split()[0]}, {args.runs} interleaved runs, `convcalc shapes`")
    for count in (args.layers, REFERENCE_LAYERS):
        print(
            f"{count:6} layers  median {statistics.median(times[count]):7.2f} s"
            f"   min {min(times[count]):7.2f} s"
        )
    print(f"per extra layer: {per_layer * 1000:.2f} ms (median against median)")
    holds = long < LATENCY_GOAL
    print(f"goal: {args.layers} layers under {LATENCY_GOAL:.0f} s: {'holds' if holds else 'FAILS'}")


if __name__ == "__main__":
    main()
