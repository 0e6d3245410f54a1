"""Time `convcalc verify`'s NumPy reference pass against PyTorch running the same network.

In one process, with the same thread count for OpenBLAS and PyTorch, interleaved A B A B
so that drift in machine load hits both alike: the reference's `forward_seconds` (as
`convcalc verify` reports it) against torch.nn.functional running the spec with the very
weights and input the reference drew; medians of --runs. Then the whole command in a
child process (its wall time and peak RSS), and NumPy's own float32 matmul GMAC/s beside
the GMAC/s the reference achieves. Run with the repo's venv:

    .venv/bin/python bench/verify.py [--runs 5] [--threads N] [--spec specs/resnet50.yaml]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = REPO / "specs" / "resnet50.yaml"

RATIO_GOAL = 2.0  # reference forward at most this many times PyTorch's
WALL_GOAL = 15.0  # seconds for the whole `convcalc verify`
RSS_GOAL = 2**30  # bytes of peak RSS for the whole `convcalc verify`


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    options = parser.parse_args()
    # Both BLAS libraries read their thread count once, at load.
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(options.threads)

    import numpy as np
    import torch

    from convcalc.spec import load_path
    from convcalc.verification import verify

    torch.set_num_threads(options.threads)
    torch.set_grad_enabled(False)
    network = load_path(options.spec)
    first = verify(network, keep_arrays=True)
    if not first.ok:
        raise SystemExit("verify disagrees with the analysis: fix that before timing it")
    arrays = {key: torch.from_numpy(value) for key, value in first.arrays.items()}
    macs = first.report.totals.macs

    # Same values, or the timing compares different work.
    outputs = torch_forward(network, first.report, arrays)
    last = first.report.layers[-1].name
    expected = first.arrays[f"{last}/output"]
    error = np.abs(outputs.numpy() - expected).max() / np.abs(expected).max()
    print(
        f"{network.name}: {macs / 1e9:.2f} GMACs, {options.threads} threads,"
        f" NumPy {np.__version__}, PyTorch {torch.__version__}"
    )
    print(f"  last output, largest difference / largest value: {error:.1e}")

    reference, pytorch = [], []
    for _ in range(options.runs):
        reference.append(verify(network).forward_seconds)
        started = time.perf_counter()
        torch_forward(network, first.report, arrays)
        pytorch.append(time.perf_counter() - started)
    numpy_forward = statistics.median(reference)
    torch_seconds = statistics.median(pytorch)
    ratio = numpy_forward / torch_seconds

    matmul = matmul_gmacs(np)
    wall, rss = whole_command(options.spec)
    print(f"  reference forward (median of {options.runs}): {numpy_forward:.3f} s")
    print(f"  PyTorch forward   (median of {options.runs}): {torch_seconds:.3f} s")
    print(f"  ratio: {ratio:.2f} (goal <= {RATIO_GOAL})")
    print(
        f"  reference: {macs / numpy_forward / 1e9:.1f} GMAC/s;"
        f" NumPy float32 matmul 2048^3: {matmul:.1f} GMAC/s"
    )
    print(f"  whole `convcalc verify`: {wall:.2f} s (goal < {WALL_GOAL:.0f} s)")
    print(f"  its peak RSS: {rss / 2**20:.0f} MiB (goal < {RSS_GOAL // 2**20} MiB)")


def torch_forward(network, report, arrays):
    """The spec's layers in torch.nn.functional, with the reference's weights."""
    import torch
    import torch.nn.functional as F

    from convcalc.layers.base import make_windows

    values = {"input": arrays["input"]}
    for layer, row in zip(network.layers, report.layers, strict=True):
        inputs = [values[name] for name in row.inputs]
        x = inputs[0]
        weights = {
            key.split("/", 1)[1]: value
            for key, value in arrays.items()
            if key.startswith(f"{row.name}/")
        }
        kind = row.type
        if kind in ("conv", "depthwise_conv"):
            shape = _shape(x)
            windows = make_windows(
                shape, layer.kernel_size, layer.stride, layer.padding, layer.dilation
            )
            x, padding = _padded(F, x, windows)
            groups = shape.channels if kind == "depthwise_conv" else layer.groups
            conv = (F.conv1d, F.conv2d, F.conv3d)[x.dim() - 3]
            stride = [w.stride for w in windows]
            dilation = [w.dilation for w in windows]
            x = conv(x, weights["weight"], weights.get("bias"), stride, padding, dilation, groups)
            x = _activation(F, x, layer.activation)
        elif kind == "batchnorm":
            x = F.batch_norm(
                x,
                weights["running_mean"],
                weights["running_var"],
                weights["weight"],
                weights["bias"],
                training=False,
                eps=layer.eps,
            )
        elif kind == "activation":
            x = _activation(F, x, layer.function, layer.negative_slope)
        elif kind in ("max_pool", "avg_pool"):
            stride = layer.kernel_size if layer.stride is None else layer.stride
            shape = _shape(x)
            windows = make_windows(
                shape, layer.kernel_size, stride, layer.padding, 1, layer.ceil_mode
            )
            padding = [w.pad_before for w in windows]
            rank = x.dim() - 3
            if kind == "max_pool":
                pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[rank]
                x = pool(x, layer.kernel_size, stride, padding, layer.dilation, layer.ceil_mode)
            else:
                pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[rank]
                x = pool(
                    x, layer.kernel_size, stride, padding, layer.ceil_mode, layer.count_include_pad
                )
        elif kind == "global_avg_pool":
            x = x.mean(dim=tuple(range(2, x.dim())), keepdim=True)
        elif kind == "global_max_pool":
            x = x.amax(dim=tuple(range(2, x.dim())), keepdim=True)
        elif kind == "add":
            x = torch.stack(inputs).sum(0) if len(inputs) > 2 else inputs[0] + inputs[1]
        elif kind == "concat":
            x = torch.cat(inputs, dim=1)
        elif kind == "flatten":
            x = x.flatten(1)
        elif kind == "dense":
            x = _activation(
                F, F.linear(x, weights["weight"], weights.get("bias")), layer.activation
            )
        elif kind != "dropout":
            raise SystemExit(f"bench/verify.py does not run {kind} layers in torch yet")
        values[row.name] = x
    return x


def _shape(x):
    from convcalc.layers.base import Shape

    return Shape(x.shape[1], tuple(x.shape[2:]))


def _padded(F, x, windows):
    """Symmetric padding goes to the conv itself (PyTorch's fast path); other padding first."""
    if all(w.pad_before == w.pad_after for w in windows):
        return x, [w.pad_before for w in windows]
    sides = [side for w in reversed(windows) for side in (w.pad_before, w.pad_after)]
    return F.pad(x, sides), [0] * len(windows)


def _activation(F, x, function, negative_slope=0.01):
    if function is None:
        return x
    if function == "leaky_relu":
        return F.leaky_relu(x, negative_slope)
    if function == "softmax":
        return F.softmax(x, dim=1)
    return getattr(F, function)(x)


def matmul_gmacs(np) -> float:
    """NumPy's float32 matmul of two 2048x2048 matrices, median of 5."""
    rng = np.random.default_rng(0)
    a = rng.random((2048, 2048), dtype=np.float32)
    b = rng.random((2048, 2048), dtype=np.float32)
    a @ b
    times = []
    for _ in range(5):
        started = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - started)
    return 2048**3 / statistics.median(times) / 1e9


# The command run as a child; at exit it writes its peak RSS (VmHWM: that of its own
# address space, where getrusage would also count the parent's memory copied at fork).
CHILD = """
import atexit, sys
from convcalc.cli import main


def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            sys.stderr.write(line)


atexit.register(peak)
sys.argv = ["convcalc", "verify", sys.argv[1], "--format", "json"]
main()
"""


def whole_command(spec: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS bytes of `convcalc verify SPEC` as a child process."""
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(spec)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wall = time.perf_counter() - started
    kib = next(int(line.split()[1]) for line in child.stderr.splitlines() if "VmHWM" in line)
    return wall, kib * 1024


if __name__ == "__main__":
    main()
