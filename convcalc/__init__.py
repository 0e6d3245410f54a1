"""convcalc: shapes, costs and receptive fields of convolutional networks, from a spec.

The Python API: each function runs one command, as the command line does, and returns its
result; a mistake in a spec or an argument raises ConvCalcError, whose message names the
option by its keyword here (`input_shape`) where the command line names its flag.

    import convcalc

    report = convcalc.analyze("specs/resnet50.yaml", input_shape=(3, 160, 160))
    report.totals.macs, report.rows[0].output_shape, report.to_dict()["totals"]

A spec is a path, a mapping as YAML or JSON gives it, or a network from `load`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from convcalc.errors import ConvCalcError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from convcalc.analysis import Report
    from convcalc.checking import CheckRun
    from convcalc.commands import Source
    from convcalc.comparison import Comparison
    from convcalc.spec import Network
    from convcalc.symbolic.scan import SizeScan
    from convcalc.verification import Verification

__version__ = "0.1.0"
__all__ = ["ConvCalcError", "analyze", "check", "compare", "load", "sizes", "verify"]


def load(spec: Source) -> Network:
    """Read and validate a spec."""
    from convcalc import commands

    return commands.load(spec)


def analyze(
    spec: Source,
    *,
    input_shape: tuple[int, ...] | None = None,
    batch: int | None = None,
    sizes: Mapping[str, int] | None = None,
) -> Report:
    """Every layer's shape, costs and receptive field, and the totals (`convcalc shapes`)."""
    from convcalc import commands

    result = commands.shapes(commands.ShapesRequest([spec], input_shape, batch, sizes or {}))
    _raise_first(result.errors)
    return result.reports[0]


def sizes(
    spec: Source,
    *,
    dim: str | None = None,
    size_range: tuple[int, int] = (1, 1024),
    exact: bool = False,
    sizes: Mapping[str, int] | None = None,
) -> list[SizeScan]:
    """The input sizes a symbolic spec accepts, one scan per symbol (`convcalc sizes`)."""
    from convcalc import commands

    result = commands.sizes(commands.SizesRequest(spec, dim, size_range, exact, sizes or {}))
    _raise_first(result.errors)
    return result.scans


def compare(*candidates: str, **options: Any) -> Comparison:
    """Kernel stacks ("5x5", "3x3x2") or two spec files, weighed against each other
    (`convcalc compare`); options as CompareRequest: dims, in_channels, out_channels,
    channels, size, padding, bias."""
    from convcalc import commands

    words = [word for candidate in candidates for word in ("vs", candidate)][1:]
    result = commands.compare(commands.CompareRequest(words, **options))
    _raise_first(result.errors)
    return result.comparison


def verify(
    spec: Source,
    *,
    input_shape: tuple[int, ...] | None = None,
    batch: int | None = None,
    seed: int = 0,
    max_memory: int | str | None = None,
    save: str | Path | None = None,
) -> Verification:
    """Run the NumPy reference forward pass and check every layer's figures against it
    (`convcalc verify`); `max_memory` in bytes or as a budget writes it ("512MiB")."""
    from pathlib import Path

    from convcalc import commands
    from convcalc.budget import parse_bytes
    from convcalc.errors import option

    try:
        cap = None if max_memory is None else parse_bytes(max_memory)
    except ConvCalcError as error:
        raise error.add_context(field=option("max_memory")) from None
    request = commands.VerifyRequest(
        spec, input_shape, batch, seed, cap, None if save is None else Path(save)
    )
    result = commands.verify(request)
    _raise_first(result.errors)
    return result.verification


def check(
    *specs: str,
    baseline: str | None = None,
    sizes: Mapping[str, int] | None = None,
    **limits: Any,
) -> CheckRun:
    """Hold spec files (or globs) to their budgets and to `limits` (max_params="25.6M",
    ...), which win over a spec's own (`convcalc check`). Invalid specs are in the run's
    `errors`, as the command line reports each."""
    from convcalc import commands

    return commands.check(commands.CheckRequest(specs, limits, baseline, sizes or {}))


def _raise_first(errors: list[ConvCalcError]) -> None:
    if errors:
        raise errors[0]
