"""`convcalc verify` on every torchvision spec at its published input size.

Each spec runs as its own `convcalc verify SPEC --max-memory CAP` process: the script prints
its exit code, wall time, peak RSS (the child's own ru_maxrss, to hold against the cap)
and its network's GMACs, with the reference's GMAC/s beside NumPy's own float32 matmul
rate measured in this process (the ratio says how far the reference is from the BLAS).
Exit 1 when any spec does not pass. Run with the repo's venv:

    .venv/bin/python bench/verify_zoo.py [--max-memory 4GiB] [SPEC-NAME ...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from timing import CHILD_ENV, REPO

sys.path.insert(0, str(REPO / "tests"))
from test_zoo import ZOO  # noqa: E402  (the zoo's list of specs lives with its tests)


def matmul_gmacs_per_second() -> float:
    """NumPy's float32 matmul rate on this machine, best of five 1024^3 products."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((1024, 1024), dtype=np.float32)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - started)
    return 1024**3 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", default=sorted(ZOO))
    parser.add_argument("--max-memory", default="4GiB")
    options = parser.parse_args()
    from convcalc.commands import analyze_spec

    blas = matmul_gmacs_per_second()
    print(f"NumPy float32 matmul: {blas:.1f} GMAC/s; --max-memory {options.max_memory}")
    print(f"{'spec':28} {'exit':>4} {'seconds':>8} {'peak RSS':>9} {'GMACs':>8} {'of BLAS':>8}")
    failed = []
    for name in options.specs:
        spec = REPO / "specs" / f"{name}.yaml"
        macs = analyze_spec(spec).totals.macs
        started = time.perf_counter()
        with tempfile.TemporaryFile("w+") as errors:
            child = subprocess.Popen(
                [sys.executable, "-m", "convcalc", "verify", str(spec), "--max-memory",
                 options.max_memory],
                stdout=subprocess.DEVNULL, stderr=errors, cwd=REPO, env=CHILD_ENV,
            )  # fmt: skip
            _, status, usage = os.wait4(child.pid, 0)  # this child's own peak RSS
            child.returncode = os.waitstatus_to_exitcode(status)
            seconds = time.perf_counter() - started
            errors.seek(0)
            message = errors.read().strip().splitlines()
        rss = usage.ru_maxrss / 2**20  # KiB -> GiB
        share = macs / 1e9 / seconds / blas
        print(f"{name:28} {child.returncode:>4} {seconds:>8.1f} {rss:>6.2f}GiB"
              f" {macs / 1e9:>8.3f} {share:>8.1%}")  # fmt: skip
        if child.returncode:
            failed.append(name)
            print("  " + (message or ["(no message)"])[-1])
    if failed:
        raise SystemExit(f"verify failed on {', '.join(failed)}")


if __name__ == "__main__":
    main()
