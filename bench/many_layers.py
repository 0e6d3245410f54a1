"""Time `convcalc shapes` on a 10,000-layer spec against the same chain 10 layers long.

The spec is a chain of 3x3 'same' convs, each followed by a ReLU, on a small [3, 8, 8]
input, written both as YAML (one flow mapping per layer, as people write specs) and as
JSON. Each of `shapes SPEC` (table) and `shapes SPEC -f json` runs as a whole process
(interpreter start-up and imports included) on the long spec and on the short reference,
interleaved A B A B ... so that drift in machine load hits all alike. The ratio long/short
shows the per-layer cost against the fixed cost of starting up. The bytecode cache is
used, as by an installed package (see bench/shapes.py). Run with the repo's venv:

    .venv/bin/python bench/many_layers.py [--runs 5] [--layers 10000]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import REPO, chain_options, time_interleaved

LATENCY_GOAL = 1.0  # seconds, the median of every command on the long spec
REFERENCE_LAYERS = 10
INPUT = [3, 8, 8]
CHANNELS = 8


def chain(layers: int) -> list[dict]:
    """`layers` layers: conv, relu, conv, relu, ... (a trailing conv for an odd count)."""
    out = []
    for index in range(layers):
        if index % 2 == 0:
            out.append(
                {
                    "name": f"conv{index // 2}",
                    "type": "conv",
                    "out_channels": CHANNELS,
                    "kernel_size": 3,
                    "padding": "same",
                }
            )
        else:
            out.append({"name": f"relu{index // 2}", "type": "activation", "function": "relu"})
    return out


def yaml_text(name: str, layers: list[dict]) -> str:
    """The spec as YAML, one flow mapping per layer."""
    lines = [f"name: {name}", f"input: {json.dumps(INPUT)}", "layers:"]
    for layer in layers:
        fields = ", ".join(f"{key}: {value}" for key, value in layer.items())
        lines.append(f"  - {{{fields}}}")
    return "\n".join(lines) + "\n"


def json_text(name: str, layers: list[dict]) -> str:
    """The spec as JSON, indented as a person or a script would write it."""
    return json.dumps({"name": name, "input": INPUT, "layers": layers}, indent=2) + "\n"


def write_specs(folder: Path, layers: int) -> dict[str, Path]:
    """The long and the reference spec in both formats, by label ('yaml 10000', ...)."""
    paths = {}
    for count in (layers, REFERENCE_LAYERS):
        name = f"chain{count}"
        for suffix, text in (("yaml", yaml_text), ("json", json_text)):
            path = folder / f"{name}.{suffix}"
            path.write_text(text(name, chain(count)), encoding="utf-8")
            paths[f"{suffix} {count}"] = path
    return paths


def shapes_command(spec: Path, output_format: str) -> list[str]:
    """The convcalc process being timed."""
    return [sys.executable, "-m", "convcalc", "shapes", str(spec), "-f", output_format]


def check_output(spec: Path, layers: int) -> None:
    """Exit unless the JSON report of the long spec has every layer, the last of shape
    [CHANNELS, 8, 8]: a bench of a command that stopped early would mean nothing."""
    output = subprocess.run(
        shapes_command(spec, "json"), capture_output=True, text=True, check=True, cwd=REPO
    ).stdout
    report = json.loads(output)
    last = report["layers"][-1]["output_shape"]
    if len(report["layers"]) != layers or last != [CHANNELS, *INPUT[1:]]:
        sys.exit(f"unexpected report of {spec}: {len(report['layers'])} layers, last {last}")


def milliseconds(seconds: float) -> str:
    """1.2345 -> '1234.5 ms'."""
    return f"{seconds * 1000:8.1f} ms"


def print_figures(times: dict[str, list[float]], layers: int) -> bool:
    """Median and min of each command on the long spec, its ratio to the same command on
    the reference and the cost per extra layer; True when every median meets the goal."""
    holds = True
    for label in times:
        spec_format, count, output_format = label.split()
        if int(count) != layers:
            continue
        long = statistics.median(times[label])
        short = statistics.median(times[f"{spec_format} {REFERENCE_LAYERS} {output_format}"])
        per_layer = (long - short) / (layers - REFERENCE_LAYERS)
        holds &= long < LATENCY_GOAL
        print(
            f"{spec_format:<4} -f {output_format:<5}  median {milliseconds(long)}"
            f"   min {milliseconds(min(times[label]))}   {REFERENCE_LAYERS} layers"
            f" {milliseconds(short)}   ratio {long / short:5.1f}x"
            f"   {per_layer * 1e6:5.1f} us per layer"
        )
    return holds


def main() -> None:
    """Parse the options, write the specs, time every command, print the figures."""
    args = chain_options(__doc__.splitlines()[0], 10_000, REFERENCE_LAYERS, "spec")

    with tempfile.TemporaryDirectory(prefix="convcalc-bench-") as folder:
        paths = write_specs(Path(folder), args.layers)
        check_output(paths[f"json {args.layers}"], args.layers)
        print(
            f"python {sys.version.split()[0]}, {args.runs} interleaved runs,"
            f" {args.layers} layers against {REFERENCE_LAYERS}"
            f" (YAML {paths[f'yaml {args.layers}'].stat().st_size:,} bytes,"
            f" JSON {paths[f'json {args.layers}'].stat().st_size:,} bytes)"
        )
        commands = {
            f"{label} {output_format}": shapes_command(path, output_format)
            for label, path in paths.items()
            for output_format in ("table", "json")
        }
        times = time_interleaved(commands, args.runs, args.warmup)
    holds = print_figures(times, args.layers)
    print(
        f"goal: every command on {args.layers} layers under {LATENCY_GOAL * 1000:.0f} ms:"
        f" {'holds' if holds else 'FAILS'}"
    )


if __name__ == "__main__":
    main()
