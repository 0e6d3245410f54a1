"""`convcalc verify`: run the NumPy reference forward pass and re-measure every figure.

Beside `analysis`, never inside it: the analysis predicts each layer's figures from the
formulas; this module runs the network on seeded random weights and input and measures
the same figures on what the reference actually did, independently of those formulas:

- shape: the shape of the array the layer produced;
- params: the non-zero entries of the weight arrays the layer allocated (running mean and
  variance are buffers, not params; a connection table's structural zeros are not params);
- MACs: the multiply-accumulates counted by `Kernels.matmul` from its operands' sizes;
- connections: the layer's own kernels run on an all-ones indicator of its real input;
- receptive field: which network-input positions reach each output position, found by
  sending one-hot planes of the input through a one-channel skeleton of the network (each
  layer's `dependency`), one spatial dim at a time.

Pure like `analysis`: it returns a `Verification` and never prints; `render` and `cli` do.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from convcalc import numeric
from convcalc.analysis import Report, Row, analyze
from convcalc.errors import ConvCalcError, option
from convcalc.field import FieldKind
from convcalc.figures import checked, last_use, peak_live
from convcalc.layers.base import ForwardContext, Inputs, Layer, Shape
from convcalc.spec import DTYPE_BYTES, Network, load_path, require_numbers
from convcalc.text import shown

CHECKS = tuple(figure.check for figure in checked())  # by figures.LAYER_FIGURES' `check`
REFERENCE_BYTES = 4  # the reference runs in float32 whatever the spec's dtype
MIN_TEMPORARY_BYTES = 64 * 2**20
DEFAULT_MAX_MEMORY = 2**30

Progress = Callable[[int, int], None]  # (steps done, steps in all)


@dataclass(frozen=True)
class Check:
    """One figure of one layer: the analysis' prediction and the reference's measurement."""

    predicted: object
    measured: object
    ok: bool
    skipped: str | None = None  # why the figure was not compared (then `ok` is True)


@dataclass(frozen=True)
class LayerCheck:
    """Every check of one layer."""

    index: int
    name: str
    type: str
    checks: dict[str, Check]

    @property
    def ok(self) -> bool:
        """True when every check agrees."""
        return all(check.ok for check in self.checks.values())


@dataclass
class Verification:
    """The outcome of one verify run."""

    report: Report
    layers: list[LayerCheck]
    seconds: float
    forward_seconds: float
    seed: int
    # Input, outputs and weights by their --save key; empty unless asked for.
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every layer agrees."""
        return all(layer.ok for layer in self.layers)

    @property
    def skipped(self) -> list[tuple[LayerCheck, str, Check]]:
        """(layer, check name, check) for every figure not compared, in layer order."""
        return [
            (layer, name, check)
            for layer in self.layers
            for name, check in layer.checks.items()
            if check.skipped is not None
        ]

    @property
    def mismatches(self) -> list[tuple[LayerCheck, str, Check]]:
        """(layer, check name, check) for every disagreement, in layer order."""
        return [
            (layer, name, check)
            for layer in self.layers
            for name, check in layer.checks.items()
            if not check.ok
        ]


def verify_path(path: str | Path, **options) -> Verification:
    """Load the spec at `path` and verify it (options as `verify`)."""
    network = load_path(path)
    try:
        return verify(network, **options)
    except ConvCalcError as error:
        raise error.add_context(file=str(path)) from None


def verify(
    network: Network,
    input_shape: tuple[int, ...] | None = None,
    batch: int | None = None,
    seed: int = 0,
    max_memory: int | None = None,
    keep_arrays: bool = False,
    progress: Progress | None = None,
) -> Verification:
    """Run the reference on `network` and compare each layer's figures with the analysis.

    `max_memory` caps the reference's arrays; None: DEFAULT_MAX_MEMORY, or what the
    process may still allocate when that is less (see available_memory)."""
    started = time.perf_counter()
    if input_shape is None:
        require_numbers(network, "verify", f"give {option('input_shape')}, e.g. 3x224x224")
    cap = _memory_cap(max_memory)
    report = analyze(network, input_shape, batch)
    plan = _plan_memory(report, cap, keep_arrays)
    steps = len(report.layers) * (1 + sum(plan.chunk_counts))
    tick = _progress_counter(progress, steps)

    run = _Forward(network, report, seed, plan, keep_arrays)
    measured = []
    for layer, row in zip(network.layers, report.layers, strict=True):
        with _allocation_failures(cap, layer_index=row.index, layer_name=row.name):
            measured.append(run.layer(layer, row, tick))
    # The field is measured on planes of the input positions, the same for every input:
    # inputs of other sizes have no such planes.
    unmeasured = len({shape[1:] for _, shape in report.inputs}) > 1
    with _allocation_failures(cap, field="receptive field measurement"):
        dependencies = (
            None if unmeasured else _dependencies(network, report, run.inputs, plan, tick)
        )
    slacks = {} if unmeasured else _envelope_slack(network, report)
    layers = []
    for index, (row, found) in enumerate(zip(report.layers, measured, strict=True)):
        checks = {
            figure.check: _check(getattr(row, figure.name), found[figure.check])
            for figure in checked()
            if figure.check in found
        }
        # The field is measured from what each output position depends on, not by the forward.
        checks["receptive_field"] = (
            Check(
                row.receptive_field,
                None,
                True,
                skipped="not measured: the network inputs differ in spatial size",
            )
            if dependencies is None
            else _field_check(row, dependencies[index], report.input[1:], slacks[row.name])
        )
        layers.append(LayerCheck(row.index, row.name, row.type, checks))
    return Verification(
        report,
        layers,
        seconds=time.perf_counter() - started,
        forward_seconds=run.seconds,
        seed=seed,
        arrays=run.arrays,
    )


@dataclass(frozen=True)
class Available:
    """The memory this process may still allocate, and the limit that sets it."""

    bytes: int
    reason: str


@dataclass(frozen=True)
class _Cap:
    """The memory a run keeps to, and how a message says where it comes from: a message
    names --max-memory only when it was given."""

    bytes: int
    said: str


def _memory_cap(max_memory: int | None) -> _Cap:
    """The cap a run keeps to: the one given, refused up front when the process may not
    allocate that much (an allocation would fail midway, however well the arrays were
    planned); without one, DEFAULT_MAX_MEMORY or what the process may take, the less."""
    available = available_memory()
    if max_memory is None:
        if available is not None and available.bytes < DEFAULT_MAX_MEMORY:
            return _Cap(
                available.bytes,
                f"the {_mib(available.bytes)} this process may still allocate under its"
                f" {available.reason}",
            )
        return _Cap(
            DEFAULT_MAX_MEMORY, f"the default {option('max_memory')} of {_mib(DEFAULT_MAX_MEMORY)}"
        )
    if available is not None and max_memory > available.bytes:
        raise ConvCalcError(
            f"{_mib(max_memory)} is more than the {_mib(available.bytes)} this process may"
            f" still allocate under its {available.reason}: give {option('max_memory')}"
            f" {available.bytes // 2**20}MiB or less",
            field=option("max_memory"),
        )
    return _Cap(max_memory, f"{option('max_memory')} {_mib(max_memory)}")


# Limits on a process's memory that make an allocation fail: (name, rlimit, the line of
# /proc/self/status with what it counts). RLIMIT_DATA counts mmap'ed memory since Linux 4.7.
RLIMITS = (
    ("address-space limit (RLIMIT_AS)", "RLIMIT_AS", "VmSize"),
    ("data-segment limit (RLIMIT_DATA)", "RLIMIT_DATA", "VmData"),
)
# A cgroup v1 limit at or past this is its way of saying "none".
CGROUP_V1_UNLIMITED = 2**62


def available_memory(
    proc: Path = Path("/proc/self"), cgroups: Path = Path("/sys/fs/cgroup")
) -> Available | None:
    """The memory this process may still allocate: the least headroom under its
    rlimits (limit less what it counts now) and under the memory limit of its cgroup and
    of each cgroup above it (limit less usage, plus the inactive page cache, which the
    kernel reclaims first); None where nothing limits it or the limits cannot be read."""
    found = []
    status = _status_fields(proc / "status")
    try:
        import resource
    except ImportError:  # pragma: no cover - not a Unix
        resource = None
    for reason, name, counted in RLIMITS:
        if resource is None or not hasattr(resource, name) or counted not in status:
            continue
        soft, _ = resource.getrlimit(getattr(resource, name))
        if soft != resource.RLIM_INFINITY:
            found.append(Available(max(soft - status[counted], 0), reason))
    for group, limit_file, usage_file, inactive_key in _memory_cgroups(proc, cgroups):
        limit = _read_int(group / limit_file)
        usage = _read_int(group / usage_file)
        if limit is None or usage is None or limit >= CGROUP_V1_UNLIMITED:
            continue
        inactive = _status_fields(group / "memory.stat", scale=1).get(inactive_key, 0)
        found.append(Available(max(limit - usage + inactive, 0), "cgroup memory limit"))
    return min(found, key=lambda available: available.bytes, default=None)


def _memory_cgroups(proc: Path, cgroups: Path) -> list[tuple[Path, str, str, str]]:
    """(directory, limit file, usage file, inactive-cache key) of this process's memory
    cgroup and each one above it, v2 (`0::/path`) or v1 (`N:memory:/path`)."""
    try:
        lines = (proc / "cgroup").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        number, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if "memory" in controllers.split(","):
            files = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
            return _with_parents(cgroups / "memory", path, files)
    for line in lines:
        if line.startswith("0::"):
            files = ("memory.max", "memory.current", "inactive_file")
            return _with_parents(cgroups, line[3:], files)
    return []


def _with_parents(root: Path, path: str, files: tuple[str, str, str]) -> list[tuple]:
    """The cgroup at `path` under `root` and each directory above it up to `root`."""
    group = root / path.strip("/")
    if not group.is_dir():  # a path from outside this mount (a container's view): its root
        group = root
    found = []
    while True:
        found.append((group, *files))
        if group == root or root not in group.parents:
            return found
        group = group.parent


def _status_fields(path: Path, scale: int = 1024) -> dict[str, int]:
    """`Key: N kB` (or `key N`) lines of a /proc or cgroup file as {key: N * scale}."""
    try:
        text = path.read_text()
    except OSError:
        return {}
    fields = {}
    for line in text.splitlines():
        parts = line.replace(":", " ").split()
        if len(parts) >= 2 and parts[1].isdigit():
            fields[parts[0]] = int(parts[1]) * scale
    return fields


def _read_int(path: Path) -> int | None:
    """The number in a cgroup file; None for none, `max` or a file that cannot be read."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


@contextlib.contextmanager
def _allocation_failures(cap: _Cap, **place):
    """An allocation the machine refuses (an address-space or container limit below
    --max-memory) as a user-facing error naming where and how much, not a traceback."""
    try:
        yield
    except MemoryError as error:
        # NumPy's _ArrayMemoryError says how many bytes it asked for.
        asked = getattr(error, "_total_size", None)
        amount = f" of {asked:,} bytes" if isinstance(asked, int) else ""
        raise ConvCalcError(
            f"an allocation{amount} failed, under {cap.said}:"
            f" this machine has less memory available; give a lower {option('max_memory')} or"
            f" a smaller {option('input_shape')}",
            **place,
        ) from None


def check_save_path(path: str | Path) -> None:
    """Refuse, before the run rather than after it, a --save path whose directory does not
    exist, or that is a symlink (writing through it would overwrite the file it points to)."""
    directory = Path(path).parent
    if not directory.is_dir():
        raise ConvCalcError(f"{path}: no directory {shown(str(directory))}", field=option("save"))
    if Path(path).is_symlink():
        raise ConvCalcError(f"{path}: a symlink; give the file itself", field=option("save"))


def save(verification: Verification, path: str | Path) -> None:
    """Write the run's input, outputs and weights to an .npz (keys as in README).

    The arrays go to a temporary file beside `path`, renamed over it once complete: an
    interrupted or failed write leaves any earlier file as it was.
    """
    check_save_path(path)
    descriptor, temporary = tempfile.mkstemp(dir=Path(path).parent, suffix=".npz.partial")
    try:
        with os.fdopen(descriptor, "wb") as stream:
            np.savez(stream, **verification.arrays)
        os.replace(temporary, path)
    except OSError as error:
        raise ConvCalcError(f"{path}: {error.strerror or error}", field=option("save")) from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


@dataclass(frozen=True)
class _MemoryPlan:
    temporary_bytes: int  # cap on one kernel's temporaries (chunking)
    planes_per_chunk: tuple[int, ...]  # one-hot planes per skeleton run, per spatial dim
    chunk_counts: tuple[int, ...]


def _plan_memory(report: Report, cap: _Cap, keep_arrays: bool) -> _MemoryPlan:
    """Refuse up front a run whose arrays cannot fit under the cap; size the chunks."""
    max_memory = cap.bytes
    value_bytes = REFERENCE_BYTES * report.batch
    to_reference = REFERENCE_BYTES / DTYPE_BYTES[report.dtype]
    activations = int(report.totals.peak_activation_bytes * to_reference)
    per_layer = [(row.params + row.buffers) * REFERENCE_BYTES for row in report.layers]
    weights = sum(per_layer) if keep_arrays else max(per_layer, default=0)
    saved = sum(math.prod(row.output_shape) for row in report.layers) * value_bytes
    resident = activations + weights + (saved if keep_arrays else 0)
    if resident + MIN_TEMPORARY_BYTES > max_memory:
        shape = "x".join(map(str, report.input))
        raise ConvCalcError(
            f"the reference needs about {_mib(resident + MIN_TEMPORARY_BYTES)} for input"
            f" {shape}, batch {report.batch}, over {cap.said}:"
            f" try a smaller {option('input_shape')} or {option('batch')}"
            + (f", or leave out {option('save')}" if keep_arrays else ""),
            field=option("max_memory"),
        )
    temporary = (max_memory - resident) // 3
    # The skeleton keeps one boolean mask per live tensor and one-hot plane.
    plane_bytes = _peak_positions(report)
    planes, counts = [], []
    for size in report.input[1:]:
        per_chunk = max(1, min(size, temporary // max(plane_bytes, 1)))
        planes.append(per_chunk)
        counts.append(math.ceil(size / per_chunk))
    return _MemoryPlan(temporary, tuple(planes), tuple(counts))


def _mib(count: int) -> str:
    return f"{count / 2**20:,.0f} MiB"


def _peak_positions(report: Report) -> int:
    """The most spatial positions live at once in the one-channel skeleton."""
    return peak_live(
        {name: math.prod(shape[1:]) for name, shape in report.inputs},
        report.layers,
        lambda row: math.prod(row.output_shape[1:]),
    )


def _progress_counter(progress: Progress | None, steps: int) -> Callable[[], None]:
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, steps)

    return tick


class _Forward:
    """The reference forward pass, layer by layer, measuring what each layer did."""

    def __init__(
        self, network: Network, report: Report, seed: int, plan: _MemoryPlan, keep: bool
    ) -> None:
        self.rng = np.random.default_rng(seed)
        self.kernels = numeric.Kernels(plan.temporary_bytes)
        self.counting = numeric.Kernels(plan.temporary_bytes)  # indicators, not counted as MACs
        # What layers save for later ones (a pool's argmax, for max_unpool), this run only.
        self.context = ForwardContext(need for layer in network.layers for need in layer.needs())
        self.batch = report.batch
        self.keep = keep
        self.last_use = last_use(report.layers)
        self.values = {}
        self.arrays = {}
        for name, shape in report.inputs:
            drawn = self.rng.standard_normal((report.batch, *shape), dtype=np.float32)
            self.values[name] = drawn
            if keep:  # `input`, or `input/<name>` for each of a spec's named inputs
                self.arrays[f"input/{name}" if report.named_inputs else "input"] = drawn
        self.shapes = {name: Shape(shape[0], tuple(shape[1:])) for name, shape in report.inputs}
        self.network_inputs = dict(self.shapes)
        self.seen: dict[str, tuple[Layer, list[Shape], Shape]] = {}
        self.inputs: list[Inputs] = []
        # The weights of every layer another one shares, by its name: the sharer uses them.
        owners = {layer.shares for layer in network.layers if layer.shares is not None}
        self.owned: dict[str, dict] = dict.fromkeys(owners)
        self.seconds = 0.0

    def layer(self, layer: Layer, row: Row, tick: Callable[[], None]) -> dict[str, object]:
        """Run one layer; return its measured shape, params, MACs and connections."""
        sources = list(row.inputs)
        inputs = Inputs(
            [self.shapes[name] for name in sources], sources, self.seen.get, self.network_inputs
        )
        self.inputs.append(inputs)
        shared = layer.shares is not None
        weights = self.owned[layer.shares] if shared else layer.make_weights(inputs, self.rng)
        if row.name in self.owned:
            self.owned[row.name] = weights
        macs_before = self.kernels.macs
        started = time.perf_counter()
        try:
            output = layer.forward(
                inputs, [self.values[name] for name in sources], weights, self.kernels, self.context
            )
        except ConvCalcError as error:
            raise error.add_context(layer_index=row.index, layer_name=row.name) from None
        self.seconds += time.perf_counter() - started
        macs = self.kernels.macs - macs_before
        shape = Shape(output.shape[1], tuple(output.shape[2:]))
        self.shapes[row.name] = shape
        self.seen[row.name] = (layer, inputs.shapes, shape)
        self.values[row.name] = output
        # A sharer allocates nothing: the arrays it used are its owner's.
        params = (
            0
            if shared
            else sum(
                int(np.count_nonzero(array))
                for key, array in weights.items()
                if key not in layer.buffer_names
            )
        )
        connections = int(layer.connections(inputs, weights, self.counting)) * self.batch
        if self.keep:
            self.arrays[f"{row.name}/output"] = output
            if not shared:
                self.arrays.update({f"{row.name}/{key}": array for key, array in weights.items()})
        for name in set(sources):
            if self.last_use[name] == row.index:
                del self.values[name]
        tick()
        return {
            "shape": shape.as_tuple(),
            "params": params,
            "macs": macs,
            "connections": connections,
        }


@dataclass(frozen=True)
class _Reach:
    """What the skeleton measured for one layer and one spatial dim."""

    # Per output position along the dim: whether any input position reaches it, and the
    # first and last that do (meaningless where none does). Kept reduced, chunk by chunk:
    # the full [outputs, inputs] matrix is quadratic in the length (256 MB a layer at 16,000).
    reached: np.ndarray
    first: np.ndarray
    last: np.ndarray
    virtual: np.ndarray  # [output positions]: reaches zero padding (of any layer) along this dim
    # [output positions]: reads copies of real inputs (reflect, replicate or circular
    # padding of any layer) along this dim, which stand elsewhere than the field's span says
    copied: np.ndarray


def _fold_reach(
    folded: tuple[np.ndarray, np.ndarray, np.ndarray] | None, chunk: np.ndarray, offset: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(reached, first, last) so far, with one chunk of planes [outputs, planes] added; the
    chunk's planes are input positions offset, offset + 1, ..."""
    reached = chunk.any(axis=1)
    first = np.where(reached, offset + chunk.argmax(axis=1), np.iinfo(np.int64).max)
    last = np.where(reached, offset + chunk.shape[1] - 1 - chunk[:, ::-1].argmax(axis=1), -1)
    if folded is None:
        return reached, first, last
    return folded[0] | reached, np.minimum(folded[1], first), np.maximum(folded[2], last)


def _dependencies(
    network: Network,
    report: Report,
    inputs: list[Inputs],
    plan: _MemoryPlan,
    tick: Callable[[], None],
) -> list[list[_Reach]]:
    """Per layer and spatial dim, which network-input positions reach which outputs.

    One-hot planes of the network input (all ones across the other dims) go through each
    layer's `dependency` on one channel, as booleans: sums are ORs and products ANDs, so
    nothing overflows or cancels down a deep stack. One more run, on an all-zero plane with
    the padding along the dim marked 1, flags the outputs whose field reaches zero padding;
    another, with the padding that copies real inputs marked, those that read such copies.
    """
    kernels = numeric.Kernels(plan.temporary_bytes)
    spatial = tuple(report.input[1:])
    found: list[list[_Reach]] = [[] for _ in report.layers]
    for axis, size in enumerate(spatial):
        parts: list = [None for _ in report.layers]
        per_chunk = plan.planes_per_chunk[axis]
        for first in range(0, size, per_chunk):
            planes = np.arange(first, min(size, first + per_chunk))
            start = np.zeros((len(planes), 1, *spatial), dtype=bool)
            np.moveaxis(start, 2 + axis, 2)[np.arange(len(planes)), 0, planes] = 1
            for index, mask in _skeleton(network, report, inputs, start, kernels):
                parts[index] = _fold_reach(parts[index], _reach(mask, axis), first)
                tick()
        kernels.virtual_axis = axis
        nothing = np.zeros((1, 1, *spatial), dtype=bool)
        marked = {}
        for marking in ("zeros", "copies"):
            kernels.marking = marking
            marked[marking] = [
                _reach(mask, axis)[:, 0]
                for _, mask in _skeleton(network, report, inputs, nothing, kernels)
            ]
        for index in range(len(report.layers)):
            found[index].append(
                _Reach(*parts[index], marked["zeros"][index], marked["copies"][index])
            )
        kernels.virtual_axis = None
        kernels.marking = "zeros"
    return found


def _skeleton(network: Network, report: Report, inputs: list[Inputs], start, kernels):
    """(layer position, 0/1 mask) for each layer of the one-channel skeleton run on `start`."""
    last = last_use(report.layers)
    # Every network input gets the same planes (they have the first one's sizes, or the
    # field is not measured): a field is of the positions of any input.
    masks = {name: start for name, _ in report.inputs}
    for index, (layer, row) in enumerate(zip(network.layers, report.layers, strict=True)):
        sources = list(row.inputs)
        reached = layer.dependency(inputs[index], [masks[name] for name in sources], kernels)
        masks[row.name] = reached != 0
        yield index, masks[row.name]
        for name in set(sources):
            if last[name] == row.index:
                del masks[name]


def _reach(mask: np.ndarray, axis: int) -> np.ndarray:
    """[planes, 1, *spatial] -> [positions along axis, planes]: reached anywhere across the
    other dims; a flat mask [planes, 1] is one position."""
    if mask.ndim == 2:
        return mask.T != 0
    along = np.moveaxis(mask[:, 0], 1 + axis, 1)
    return along.reshape(along.shape[0], along.shape[1], -1).any(axis=2).T


def _check(predicted: object, measured: object) -> Check:
    return Check(predicted, measured, predicted == measured)


def _envelope_slack(network: Network, report: Report) -> dict[str, tuple[Fraction, ...] | None]:
    """Per layer and dim, how far the predicted field's ends may stand from the real taps.

    A layer whose field is an envelope (upsampling, adaptive windows) predicts where an
    output reads by a continuous envelope (Araujo et al.), while the output really reads
    whole input positions, some of them with weight 0 (bilinear reads floor(src) and the
    next one, beside the envelope [src, src+1]; an adaptive window starts at floor(i*in/out)).
    Each such layer may shift either end by up to one step of its input; the slack adds up
    downstream. Zero slack means an exact comparison; None, a field that depends on the data
    (and so does every field it reaches), where there is nothing to compare.
    """
    dims = len(report.input) - 1
    strides = {name: (Fraction(1),) * dims for name, _ in report.inputs}
    slacks: dict[str, tuple[Fraction, ...] | None] = {
        name: (Fraction(0),) * dims for name, _ in report.inputs
    }
    for layer, row in zip(network.layers, report.layers, strict=True):
        strides[row.name] = row.effective_stride
        if row.field_kind is FieldKind.DATA_DEPENDENT:
            slacks[row.name] = None
            continue
        envelope = layer.field_kind is FieldKind.ENVELOPE
        slacks[row.name] = tuple(
            max(slacks[name][axis] for name in row.inputs)
            + (strides[row.inputs[0]][axis] if envelope else 0)
            for axis in range(dims)
        )
    return slacks


def _field_check(
    row: Row, reach: list[_Reach], sizes: tuple[int, ...], slack: tuple[Fraction, ...] | None
) -> Check:
    """Compare the predicted receptive field with the measured reach, dim by dim.

    Output position o's predicted field is [o*stride - padding, o*stride - padding + size - 1].
    The measured inputs of o must lie inside it (widened at both ends by the slack of
    `_envelope_slack`). With no slack, an end of the field that is a real input position
    (no padding of any layer on the way, inside the input) must be measured exactly there.
    A field that depends on the data has no prediction to compare: the check is skipped.
    """
    predicted = {
        "size": row.receptive_field,
        "stride": row.effective_stride,
        "padding": row.effective_padding,
    }
    if row.field_kind is FieldKind.DATA_DEPENDENT:
        return Check(predicted, None, True, skipped="the receptive field depends on the data")
    measured: dict[str, list] = {"size": [], "stride": [], "padding": []}
    if not all(measure.reached.any() for measure in reach):
        # No output reads any input (all padding along some dim): nothing to measure.
        return Check(predicted, {key: [None] * len(reach) for key in measured}, True)
    ok = True
    for axis, (measure, size) in enumerate(zip(reach, sizes, strict=True)):
        reached, first, last = measure.reached, measure.first, measure.last
        margin = slack[axis]
        for position in range(len(reached)):
            low = position * row.effective_stride[axis] - row.effective_padding[axis]
            high = low + row.receptive_field[axis] - 1
            # The field's first and last taps: within the margin of `low` and `high`.
            starts = (math.floor(low - margin), math.ceil(low + margin))
            ends = (math.floor(high - margin), math.ceil(high + margin))
            # An end is measurable when it is a real input position: no padding on the way
            # and inside the input (an interpolation's envelope may end past the border).
            # Downstream of an envelope layer (slack) only containment is checked: its holes
            # (a dilated or narrow transposed kernel) can leave the real taps far inside.
            if measure.copied[position]:
                # It reads copies of real inputs (reflect, replicate, circular padding on
                # the way), found wherever the copied positions stand: at the mirrored,
                # edge or wrapped-around end, outside the span its field's numbers give.
                # Only that it reads some input is checked, unless it may copy a value
                # that none reaches: zero padding, or an envelope's hole.
                unreachable = measure.virtual[position] or row.field_kind is FieldKind.ENVELOPE
                ok = ok and (reached[position] or unreachable)
                continue
            real = not measure.virtual[position] and margin == 0
            start_seen = real and starts[0] >= 0
            end_seen = real and ends[1] <= size - 1
            if not reached[position]:
                # An upsampling layer whose kernel is narrower than its stride (an envelope
                # on the way) leaves outputs that no input reaches, even where its slack is
                # 0 (after a broadcast, a stride-0 field); any other output reads some input.
                enveloped = row.field_kind is FieldKind.ENVELOPE
                ok = ok and (enveloped or not (start_seen and end_seen))
                continue
            ok = ok and max(starts[0], 0) <= first[position]
            ok = ok and last[position] <= min(ends[1], size - 1)
            ok = ok and (not start_seen or first[position] <= starts[1])
            ok = ok and (not end_seen or last[position] >= ends[0])
        inferred = _inferred(reached & ~measure.copied, first, last, size)
        for key, value in zip(("size", "stride", "padding"), inferred, strict=True):
            measured[key].append(value)
    return Check(predicted, measured, bool(ok))


def _inferred(reached, first, last, size: int) -> tuple:
    """(size, stride, padding) read off output positions whose reach touches neither border;
    None where the field is wider than the input allows to see."""
    inner = np.flatnonzero(reached & (first > 0) & (last < size - 1))
    if not len(inner):
        return None, None, None
    extent = int((last[inner] - first[inner]).max()) + 1
    if len(inner) < 2:
        return extent, None, None
    a, b = int(inner[0]), int(inner[-1])
    stride = Fraction(int(first[b] - first[a]), b - a)
    return extent, stride, a * stride - int(first[a])
