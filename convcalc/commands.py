"""The commands, one function each: a typed request in, a typed result out.

The command line (cli) and the Python API (`convcalc.analyze` and the rest) both call these.
A request names its options by keyword (`input_shape`, `sizes`), and so do the errors:
core code marks an option with `errors.option`, and each front end says it its own way
(`--input` on the command line). A mistake in one spec is collected in the result's
`errors`, so that a call on several specs reports every bad one and renders none; a
mistake in the request itself raises ConvCalcError.

The flow is one way: spec -> analysis (and sizes, verify, compare, check) -> commands ->
render -> cli. Nothing here prints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convcalc.analysis import Report, analyze, simplified
from convcalc.errors import ConvCalcError, option
from convcalc.layers.base import Shape
from convcalc.spec import Network, load_document, load_path, set_sizes, sizes_of
from convcalc.training import Setup

if TYPE_CHECKING:
    from convcalc.checking import CheckRun
    from convcalc.comparison import Comparison
    from convcalc.symbolic.scan import SizeScan
    from convcalc.verification import Verification

# A spec: a file's path, a parsed document (a mapping as YAML or JSON gives it), or a
# network already loaded.
Source = str | Path | Mapping[str, Any] | Network


def load(source: Source) -> Network:
    """The validated network of a spec given as a path, a mapping or a network."""
    if isinstance(source, Network):
        return source
    if isinstance(source, Mapping):
        return load_document(dict(source))
    return load_path(source)


# shapes


@dataclass(frozen=True)
class ShapesRequest:
    """`convcalc shapes`: the specs, and what overrides their input and batch."""

    specs: Sequence[Source]
    input_shape: tuple[int, ...] | None = None  # channels and spatial sizes
    batch: int | None = None
    sizes: Mapping[str, int] = field(default_factory=dict)  # symbol -> size
    training: Setup | None = None  # training figures too (`--train`), for this setup


@dataclass(frozen=True)
class ShapesResult:
    """One report per valid spec, and an error per invalid one."""

    reports: list[Report]
    errors: list[ConvCalcError]


def shapes(request: ShapesRequest) -> ShapesResult:
    """Analyze every spec of the request."""
    reports, errors = [], []
    for source in request.specs:
        try:
            reports.append(
                analyze_spec(
                    source,
                    request.input_shape,
                    request.batch,
                    dict(request.sizes),
                    request.training,
                )
            )
        except ConvCalcError as error:
            errors.append(error)
    return ShapesResult(reports, errors)


def analyze_spec(
    source: Source,
    input_shape: tuple[int, ...] | None = None,
    batch: int | None = None,
    sizes: dict[str, int] | None = None,
    training: Setup | None = None,
) -> Report:
    """Load a spec and analyze it, with `sizes` given to its input's symbols (and with
    `training`, the training figures).

    A symbolic spec's formulas are simplified by the residues its layers require; with
    every symbol set, the report holds the numbers and, in `formulas`, the formulas.
    """
    network = load(source)
    try:
        if input_shape is not None and network.symbols:
            if sizes:
                raise ConvCalcError(
                    f"give the symbols' sizes with {option('sizes')} or {option('input_shape')},"
                    " not both"
                )
            # An input of the spec's rank sets its symbols, held to its constraints.
            set_sizes(network, sizes_of(network, input_shape), option("input_shape"))
        chosen = set_sizes(network, sizes) if sizes else network
        report = analyze(chosen, input_shape, batch, training)
        if not report.symbols and not (network.symbols and input_shape is None):
            return report
        if report.symbols:
            return simplified(report, chosen.constraints)
        formulas = simplified(analyze(network, None, batch, training), network.constraints)
        return dataclasses.replace(report, sizes_set=tuple(sizes.items()), formulas=formulas)
    except ConvCalcError as error:
        raise error.add_context(file=network.file) from None


# sizes


@dataclass(frozen=True)
class SizesRequest:
    """`convcalc sizes`: a symbolic spec, and which of its sizes to list."""

    spec: Source
    dim: str | None = None  # the symbol to scan; None: each in turn
    size_range: tuple[int, int] = (1, 1024)  # lowest and highest size listed
    exact: bool = False  # only sizes no layer drops rows or columns of or crops off centre
    sizes: Mapping[str, int] = field(default_factory=dict)  # the other symbols' sizes
    # In place of the spec's input: any spec scanned at symbolic sizes (3 x H x W).
    input: Shape | None = None


@dataclass(frozen=True)
class SizesResult:
    """The spec's report and one scan per symbol; empty, with an error, for a bad spec."""

    report: Report | None
    scans: list[SizeScan]
    errors: list[ConvCalcError]


def sizes(request: SizesRequest) -> SizesResult:
    """Scan the input sizes the spec accepts."""
    from convcalc.symbolic.scan import check_range

    low, high = check_range(*request.size_range)
    dims = [request.dim] if request.dim else None
    try:
        network = load(request.spec)
        if request.input is not None:
            network = dataclasses.replace(network, input=request.input)
        try:
            report, scans = _scans(network, dims, low, high, request.exact, dict(request.sizes))
        except ConvCalcError as error:
            raise error.add_context(file=network.file) from None
    except ConvCalcError as error:
        return SizesResult(None, [], [error])
    return SizesResult(report, scans, [])


def _scans(
    network: Network,
    dims: list[str] | None,
    low: int,
    high: int,
    exact: bool,
    values: dict[str, int],
) -> tuple[Report, list[SizeScan]]:
    """The network's report and one scan per symbol in `dims` (None: each)."""
    from convcalc.symbolic.scan import scan

    report = analyze(set_sizes(network, values) if values else network)
    if not report.symbols:
        if network.symbols:
            raise ConvCalcError(
                "gives every symbol a size: leave the one to scan unset", field=option("sizes")
            )
        raise ConvCalcError(
            "its sizes are all numbers: write the sizes to scan as symbols, e.g. input: [3, H, W]",
            field="input",
        )
    scans = [
        scan(report, name, low, high, exact, network.constraints.get(name), values)
        for name in (dims or report.symbols)
    ]
    return report, scans


# compare


@dataclass(frozen=True)
class CompareRequest:
    """`convcalc compare`: kernel stacks or two spec files, and how stacks are built."""

    candidates: Sequence[str]  # `A vs B [vs C ...]` as words
    dims: int | None = None
    in_channels: int | None = None
    out_channels: int | None = None
    channels: int | None = None
    size: str | int | None = None  # 56 or "56x56": exact totals
    padding: str | None = None  # valid or same, with `size`
    bias: bool | None = None


@dataclass(frozen=True)
class CompareResult:
    """The comparison; None, with an error, for a bad candidate or spec."""

    comparison: Comparison | None
    errors: list[ConvCalcError]


def compare(request: CompareRequest) -> CompareResult:
    """Weigh the candidates against each other."""
    from convcalc.comparison import compare as compare_candidates

    options = {
        name: getattr(request, name)
        for name in ("dims", "in_channels", "out_channels", "channels", "padding", "bias")
    }
    size = None if request.size is None else str(request.size)
    try:
        return CompareResult(compare_candidates(list(request.candidates), size=size, **options), [])
    except ConvCalcError as error:
        return CompareResult(None, [error])


# verify


@dataclass(frozen=True)
class VerifyRequest:
    """`convcalc verify`: a spec, the run's input, seed and memory cap, and what to keep."""

    spec: Source
    input_shape: tuple[int, ...] | None = None
    batch: int | None = None
    seed: int = 0
    max_memory: int | None = None  # bytes; None: the default (see verification.verify)
    save: Path | None = None  # the .npz to write the input, outputs and weights to
    progress: Callable[[int, int], None] | None = None  # (steps done, steps in all)


@dataclass(frozen=True)
class VerifyResult:
    """The verification; None, with an error, for a bad spec or a run that cannot fit."""

    verification: Verification | None
    errors: list[ConvCalcError]


def verify(request: VerifyRequest) -> VerifyResult:
    """Run the NumPy reference and check every layer's figures against it."""
    from convcalc import verification as reference

    try:
        if request.save is not None:
            reference.check_save_path(request.save)
        network = load(request.spec)
        try:
            verification = reference.verify(
                network,
                input_shape=request.input_shape,
                batch=request.batch,
                seed=request.seed,
                max_memory=request.max_memory,
                keep_arrays=request.save is not None,
                progress=request.progress,
            )
        except ConvCalcError as error:
            raise error.add_context(file=network.file) from None
        if request.save is not None:
            reference.save(verification, request.save)
    except ConvCalcError as error:
        return VerifyResult(None, [error])
    return VerifyResult(verification, [])


# check


@dataclass(frozen=True)
class CheckRequest:
    """`convcalc check`: specs (files or globs), limits over their budgets, a baseline."""

    specs: Sequence[str]
    # Budget entry -> limit, as in a spec's `budget:` (max_params: "25.6M"); these win.
    limits: Mapping[str, Any] = field(default_factory=dict)
    baseline: str | None = None  # the base branch's spec, or a directory of them
    sizes: Mapping[str, int] = field(default_factory=dict)


def check(request: CheckRequest) -> CheckRun:
    """Hold each spec to its budget; the run's `errors` hold the invalid specs."""
    from convcalc.budget import parse_limits
    from convcalc.checking import check as check_specs

    limits = parse_limits(request.limits)
    return check_specs(list(request.specs), limits, request.baseline, dict(request.sizes))
