"""Design comparisons: kernel stacks against each other (5x5 vs 3x3x2), or two spec files.

Pure, like `analysis`: a kernel stack becomes a spec made only of the existing `conv` and
`depthwise_conv` layers, every figure comes from `analysis.analyze`, and the result is plain
data that `render` formats.

Without an input size, a stack's MACs are per output position of its last layer for a large
input: the sum over its layers of (in_channels / groups) x prod(kernel) x out_channels, each
layer weighted by the positions it computes per final output position (the product of the
later layers' strides, in every spatial dim). They are measured, not re-derived: the stack
is analyzed with 'same' padding on an input of (product of all its strides) per spatial dim,
where every layer computes exactly that many positions and the last one exactly one.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from convcalc import figures, notation
from convcalc.analysis import Report, Row, analyze
from convcalc.errors import ConvCalcError, option
from convcalc.spec import build, load_path, require_numbers
from convcalc.text import shown

SEPARATOR = "vs"
SPEC_SUFFIXES = (".yaml", ".yml", ".json")
DEFAULT_CHANNELS = 64
PADDINGS = ("valid", "same")


@dataclass(frozen=True)
class Stacking:
    """How kernel-stack expressions become networks."""

    dims: int = 2
    in_channels: int = DEFAULT_CHANNELS
    out_channels: int = DEFAULT_CHANNELS
    size: tuple[int, ...] | None = None  # None: MACs per output position of the last layer
    padding: str = "valid"
    bias: bool = False


@dataclass(frozen=True)
class Candidate:
    """One row of a comparison: a stack's or a spec's figures."""

    label: str
    layers: int
    params: int
    macs: int
    # Of the last layer with spatial dims; () if none; None when it depends on the data.
    receptive_field: tuple[Fraction, ...] | None
    output_shape: tuple[int | None, ...]  # None: a spatial size that depends on the input
    nonlinearities: int | None  # a stack: one per layer; a spec file: not counted
    params_change: Fraction | None  # relative to the first candidate; None: it has none
    macs_change: Fraction | None
    report: Report


@dataclass(frozen=True)
class Cheapest:
    """Among the candidates sharing a receptive field, the one with the fewest MACs."""

    receptive_field: tuple[Fraction, ...]
    label: str
    against: str  # the dearest of them, which the changes are relative to
    macs_change: Fraction | None
    params_change: Fraction | None


@dataclass(frozen=True)
class LayerFigures(figures.ByName):
    """What a spec diff compares of one layer: its type, and the figures marked `diff` in
    figures.LAYER_FIGURES, by name (output_shape, params...)."""

    type: str
    figures: Mapping[str, object]

    @classmethod
    def of(cls, row: Row) -> LayerFigures:
        """The figures of one analysis row."""
        return cls(
            row.type, {figure.name: getattr(row, figure.name) for figure in figures.diffed()}
        )


@dataclass(frozen=True)
class LayerChange:
    """A layer added, removed, or with different figures in the second spec."""

    name: str
    # 'added', 'removed', 'changed' (its own fields, params or MACs), or 'affected' (only
    # its output shape, memory or receptive field, through a change upstream)
    change: str
    before: LayerFigures | None
    after: LayerFigures | None


@dataclass(frozen=True)
class Comparison:
    """Everything `compare` shows."""

    candidates: list[Candidate]
    per_output_position: bool  # MACs per output position of the last layer, not totals
    verdict: list[Cheapest]  # empty: no two candidates share a receptive field
    diff: list[LayerChange] | None = None  # spec files only


def compare(
    words: list[str],
    *,
    dims: int | None = None,
    in_channels: int | None = None,
    out_channels: int | None = None,
    channels: int | None = None,
    size: str | None = None,
    padding: str | None = None,
    bias: bool | None = None,
) -> Comparison:
    """`A vs B [vs C ...]` as command-line words -> the comparison; None: option not given."""
    texts = split_candidates(words)
    is_spec = [text.lower().endswith(SPEC_SUFFIXES) for text in texts]
    if any(is_spec):
        if not all(is_spec):
            raise ConvCalcError(
                "compare spec files with spec files and kernel stacks with kernel stacks"
            )
        stack_options = {
            "dims": dims,
            "in_channels": in_channels,
            "out_channels": out_channels,
            "channels": channels,
            "size": size,
            "padding": padding,
            "bias": bias,
        }
        given = [option(name) for name, value in stack_options.items() if value is not None]
        if given:
            raise ConvCalcError(
                f"{', '.join(given)}: for kernel stacks only; spec files are compared as written"
            )
        if len(texts) != 2:
            raise ConvCalcError(f"compare two spec files (old vs new), got {len(texts)}")
        return compare_specs(texts[0], texts[1])
    dims = dims or Stacking.dims
    if padding is not None and padding not in PADDINGS:
        raise ConvCalcError(f"valid or same, got {shown(padding)}", field=option("padding"))
    if padding is not None and size is None:
        # Per-position MACs are the large-input limit, where padding makes no difference.
        raise ConvCalcError(f"only with {option('size')}", field=option("padding"))
    try:
        spatial = notation.parse_size(size, dims) if size is not None else None
    except ConvCalcError as error:
        raise error.add_context(field=option("size")) from None
    stacking = Stacking(
        dims=dims,
        in_channels=in_channels or channels or DEFAULT_CHANNELS,
        out_channels=out_channels or channels or DEFAULT_CHANNELS,
        size=spatial,
        padding=padding or Stacking.padding,
        bias=bool(bias),
    )
    return compare_stacks(texts, stacking)


def split_candidates(words: list[str]) -> list[str]:
    """Command-line words -> one text per candidate, split at each word `vs`.

    The shell splits '3x3 + 3x3' into three words; they are joined with single spaces.
    """
    groups: list[list[str]] = [[]]
    for word in " ".join(words).split():
        if word.lower() == SEPARATOR:
            groups.append([])
        else:
            groups[-1].append(word)
    texts = [" ".join(group) for group in groups]
    if len(texts) < 2:
        raise ConvCalcError(
            "nothing to compare: give two or more candidates separated by 'vs', as in"
            " '3x3 + 3x3 vs 5x5'"
        )
    for position, text in enumerate(texts, start=1):
        if not text:
            raise ConvCalcError(
                f"candidate {position} of {len(texts)} is empty: 'vs' needs one on each side"
            )
    return texts


def compare_stacks(texts: list[str], stacking: Stacking) -> Comparison:
    """Kernel-stack expressions side by side, with the verdict."""
    reports = []
    for text in texts:
        terms = notation.parse_stack(text, stacking.dims)
        try:
            reports.append(analyze(build(stack_spec(terms, stacking, text))))
        except ConvCalcError as error:
            raise ConvCalcError(f"{shown(text)}: {error}") from None
    candidates = _candidates(texts, reports, stacking.size is None, stacks=True)
    return Comparison(candidates, stacking.size is None, cheapest(candidates))


def compare_specs(old: str, new: str) -> Comparison:
    """Two spec files: their totals side by side and the per-layer diff."""
    reports = []
    for path in (old, new):
        try:
            network = require_numbers(load_path(path), "compare", "give them numbers")
            reports.append(analyze(network))
        except ConvCalcError as error:
            raise error.add_context(file=str(path)) from None
    candidates = _candidates([old, new], reports, per_output_position=False, stacks=False)
    return Comparison(candidates, False, cheapest(candidates), layer_diff(*reports))


def stack_spec(terms: list[notation.Term], stacking: Stacking, name: str = "stack") -> dict:
    """The spec of a kernel stack: each term as `repeat` conv or depthwise_conv layers.

    Without an input size: 'same' padding on an input of (product of the strides) per dim,
    so that the last layer has one output position (see the module docstring).
    """
    if stacking.size is None:
        strides = math.prod(term.stride**term.repeat for term in terms)
        spatial, padding = (strides,) * stacking.dims, "same"
    else:
        spatial, padding = stacking.size, stacking.padding
    layers = []
    for term in terms:
        layer = {
            "kernel_size": list(term.kernel_size),
            "stride": term.stride,
            "dilation": term.dilation,
            "padding": padding,
            "bias": stacking.bias,
            "repeat": term.repeat,
        }
        if term.depthwise:
            layer["type"] = "depthwise_conv"
        else:
            layer["type"] = "conv"
            layer["out_channels"] = term.channels or stacking.out_channels
            layer["groups"] = term.groups
        layers.append(layer)
    return {"name": name, "input": [stacking.in_channels, *spatial], "layers": layers}


def cheapest(candidates: list[Candidate]) -> list[Cheapest]:
    """For each receptive field two or more candidates share, the one with the fewest MACs.

    A field that depends on the data is no size that others could share.
    """
    by_field: dict[tuple[Fraction, ...], list[Candidate]] = {}
    for candidate in candidates:
        if candidate.receptive_field is not None:
            by_field.setdefault(candidate.receptive_field, []).append(candidate)
    found = []
    for field, group in by_field.items():
        if len(group) < 2:
            continue
        best = min(group, key=lambda candidate: (candidate.macs, candidate.params))
        dearest = max(group, key=lambda candidate: (candidate.macs, candidate.params))
        found.append(
            Cheapest(
                field,
                best.label,
                dearest.label,
                relative(best.macs, dearest.macs),
                relative(best.params, dearest.params),
            )
        )
    return found


def layer_diff(before: Report, after: Report) -> list[LayerChange]:
    """Layers added, removed, changed or affected, matched by name.

    A layer is changed when its own fields (inputs included), params or MACs differ, and
    affected when only what flows into it does (its output shape, memory or receptive
    field): a stride changed early affects every layer after it, and the diff keeps the
    layers the pull request touched apart. They come in the order of a diff of the two
    lists of names (difflib), so that a removed layer is listed where it stood.
    """
    old = {row.name: LayerFigures.of(row) for row in before.layers}
    new = {row.name: LayerFigures.of(row) for row in after.layers}
    old_rows = {row.name: row for row in before.layers}
    new_rows = {row.name: row for row in after.layers}
    old_names, new_names = list(old), list(new)
    changes = []
    matcher = difflib.SequenceMatcher(None, old_names, new_names, autojunk=False)
    for _, old_start, old_end, new_start, new_end in matcher.get_opcodes():
        for name in old_names[old_start:old_end]:
            if name not in new:
                changes.append(LayerChange(name, "removed", old[name], None))
        for name in new_names[new_start:new_end]:
            if name not in old:
                changes.append(LayerChange(name, "added", None, new[name]))
            elif _own_change(old_rows[name], new_rows[name]):
                changes.append(LayerChange(name, "changed", old[name], new[name]))
            elif old[name] != new[name]:
                changes.append(LayerChange(name, "affected", old[name], new[name]))
    return changes


def _own_change(before: Row, after: Row) -> bool:
    """True when the layer itself differs: its fields as written, or a figure of its own
    (params, MACs: those marked `diff="own"`)."""
    own = [figure.name for figure in figures.diffed() if figure.diff == "own"]
    if before.type != after.type or any(
        getattr(before, name) != getattr(after, name) for name in own
    ):
        return True
    fields = [
        row.layer.model_dump(exclude={"name"}) if row.layer is not None else None
        for row in (before, after)
    ]
    return fields[0] != fields[1] or before.inputs != after.inputs


def relative(value: int, reference: int) -> Fraction | None:
    """(value - reference) / reference, exactly; None when the reference is 0."""
    return Fraction(value - reference, reference) if reference else None


def last_spatial_field(report: Report) -> tuple[Fraction, ...] | None:
    """The receptive field of the last layer whose output has spatial dims; () if none,
    None when it depends on the data."""
    row = report.last_spatial_row()
    return row.receptive_field if row is not None else ()


def _candidates(
    labels: list[str], reports: list[Report], per_output_position: bool, stacks: bool
) -> list[Candidate]:
    first = reports[0].totals
    candidates = []
    for label, report in zip(labels, reports, strict=True):
        output_shape: tuple[int | None, ...] = report.output_row.output_shape
        if per_output_position:
            # The analysis ran on a stand-in input; the real spatial sizes are unknown.
            output_shape = (output_shape[0], *(None for _ in output_shape[1:]))
        candidates.append(
            Candidate(
                label=label,
                layers=len(report.layers),
                params=report.totals.params,
                macs=report.totals.macs,
                receptive_field=last_spatial_field(report),
                output_shape=output_shape,
                nonlinearities=len(report.layers) if stacks else None,
                params_change=relative(report.totals.params, first.params),
                macs_change=relative(report.totals.macs, first.macs),
                report=report,
            )
        )
    return candidates
