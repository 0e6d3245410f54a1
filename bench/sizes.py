"""Time `convcalc sizes` against the brute force it replaces: the concrete analysis run at
every size of the range.

In one process, interleaved A B A B: `convcalc.sizes` over the range (the symbolic
analysis once, then each condition evaluated exactly at each size) against `analyze` of
the spec with the input set to each size in turn (the other symbols at a size that works),
counting the sizes it accepts. Both must find the same sizes. Medians of --runs. Run with
the repo's venv:

    .venv/bin/python bench/sizes.py [--runs 3] [--range 1..1024]
        [--spec specs/unet_same_symbolic.yaml]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = REPO / "specs" / "unet_same_symbolic.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    parser.add_argument("--range", dest="size_range", default="1..1024")
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()

    import convcalc
    from convcalc.analysis import analyze
    from convcalc.errors import ConvCalcError
    from convcalc.spec import load_path
    from convcalc.symbolic.scan import parse_range

    low, high = parse_range(options.size_range)
    network = load_path(options.spec)
    name = network.symbols[0]
    (first,) = convcalc.sizes(options.spec, dim=name, size_range=(low, high))
    others = {  # each other symbol at its own largest valid size in the range
        other: convcalc.sizes(options.spec, dim=other, size_range=(low, high))[0].sizes[-1]
        for other in network.symbols
        if other != name
    }

    def symbolic() -> list[int]:
        return convcalc.sizes(options.spec, dim=name, size_range=(low, high))[0].sizes

    def brute_force() -> list[int]:
        accepted = []
        for size in range(low, high + 1):
            sizes = {**others, name: size}
            shape = (network.input.channels, *(sizes.get(s, s) for s in network.input.spatial))
            try:
                analyze(network, shape)
            except ConvCalcError:
                continue
            accepted.append(size)
        return accepted

    if symbolic() != brute_force():
        raise SystemExit("sizes disagrees with the brute-force scan: fix that before timing it")
    times: dict[str, list[float]] = {"sizes": [], "brute force": []}
    for _ in range(options.runs):
        for label, function in (("sizes", symbolic), ("brute force", brute_force)):
            started = time.perf_counter()
            function()
            times[label].append(time.perf_counter() - started)
    medians = {label: statistics.median(values) for label, values in times.items()}
    print(f"spec {options.spec.name}, symbol {name}, sizes {low}..{high}, {options.runs} runs")
    for label, value in medians.items():
        print(f"{label:12} median {value:8.2f} s")
    print(f"ratio brute force / sizes: {medians['brute force'] / medians['sizes']:.1f}x")
    print(f"both accept {len(first.sizes)} sizes; rule: {first.rule}")


if __name__ == "__main__":
    main()
