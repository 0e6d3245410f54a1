"""`convcalc check`: every spec analyzed and held to its budget, and to a baseline for growth.

The spec's `budget:` section and the command-line limits are merged (flags win) and
evaluated by `budget.evaluate`. A baseline is the same spec on the base branch: a file, for
one spec, or a directory holding the specs at the same relative paths. Invalid specs are
collected as errors, not raised, so that the command can name them all; `cli` prints them.
"""

from __future__ import annotations

import fnmatch
import glob
import os
from dataclasses import dataclass
from pathlib import Path

from convcalc.analysis import Report, analyze
from convcalc.budget import Budget, Outcome, evaluate, merge
from convcalc.comparison import LayerChange, layer_diff
from convcalc.errors import ConvCalcError, option
from convcalc.spec import Network, load_path, require_numbers, set_sizes
from convcalc.text import shown

# How to make a symbolic spec checkable.
NUMBERS = f"give them sizes with {option('sizes')} H=224, or numbers in the spec"

GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class SpecCheck:
    """One spec's budget outcomes, with its baseline and the layer diff against it."""

    path: str
    report: Report
    outcomes: list[Outcome]
    baseline_path: str | None = None
    baseline: Report | None = None
    diff: list[LayerChange] | None = None  # with a baseline only
    notes: tuple[str, ...] = ()

    @property
    def violations(self) -> list[Outcome]:
        """The budgets exceeded."""
        return [outcome for outcome in self.outcomes if not outcome.ok]

    @property
    def ok(self) -> bool:
        """Every budget holds."""
        return not self.violations


@dataclass(frozen=True)
class CheckRun:
    """Everything one `convcalc check` call found."""

    specs: list[SpecCheck]
    errors: list[ConvCalcError]  # invalid specs (and globs matching nothing)

    @property
    def violation_count(self) -> int:
        """How many budgets are exceeded, over all specs."""
        return sum(len(spec.violations) for spec in self.specs)

    @property
    def ok(self) -> bool:
        """No spec is invalid and every budget holds."""
        return not self.errors and all(spec.ok for spec in self.specs)


def check(
    patterns: list[str],
    flags: Budget,
    baseline: str | None = None,
    sizes: dict[str, int] | None = None,
) -> CheckRun:
    """Check the specs named by `patterns` (files or globs) against their budgets and `flags`,
    symbolic input sizes given `sizes` (`--set H=224`).

    Raises ConvCalcError for a malformed call; collects invalid specs in `errors`.
    """
    if flags.max_growth and baseline is None:
        raise ConvCalcError(
            f"needs {option('baseline')} (the spec on the base branch) to measure growth against",
            field=option("max_growth"),
        )
    paths, errors = expand(patterns)
    baselines = baseline_paths(paths, baseline)
    specs = []
    for path, baseline_path in zip(paths, baselines, strict=True):
        try:
            specs.append(check_spec(path, flags, baseline_path, baseline is not None, sizes))
        except ConvCalcError as error:
            errors.append(error)
    return CheckRun(specs, errors)


def check_spec(
    path: str,
    flags: Budget,
    baseline_path: str | None = None,
    expect_baseline: bool = False,
    sizes: dict[str, int] | None = None,
) -> SpecCheck:
    """One spec: validate and analyze it as `shapes` does, then evaluate its budget.

    `expect_baseline`: a baseline directory was given, and `baseline_path` is None because
    it has no such spec.
    """
    network = load_path(path)
    budget = merge(network.budget, flags)
    try:
        report = analyze(require_numbers(_sized(network, sizes), "check", NUMBERS))
        # A baseline's own errors already name the baseline file.
        baseline = None
        if baseline_path:
            try:
                base = _sized(load_path(baseline_path), sizes)
                baseline = analyze(require_numbers(base, "check", NUMBERS))
            except ConvCalcError as error:
                raise error.add_context(file=str(baseline_path)) from None
        evaluation = evaluate(budget, report, network.lines, baseline)
    except ConvCalcError as error:
        raise error.add_context(file=path) from None
    notes = list(evaluation.notes)
    if not budget.entries():
        notes.append(
            f"no budget: set one under `budget:` in the spec, or with {option('max_params')} etc."
        )
    if expect_baseline and baseline is None:
        notes.append("no baseline: the spec is new on this branch, so growth is not checked")
    elif budget.max_growth and baseline is None:
        notes.append(f"max_growth not checked: give {option('baseline')}")
    return SpecCheck(
        path=path,
        report=report,
        outcomes=evaluation.outcomes,
        baseline_path=baseline_path,
        baseline=baseline,
        diff=layer_diff(baseline, report) if baseline else None,
        notes=tuple(notes),
    )


def _sized(network: Network, sizes: dict[str, int] | None) -> Network:
    """The network with `sizes` given to those of its input's symbols they name (a call
    may check symbolic and numeric specs at once)."""
    if not sizes or not network.symbols:
        return network
    return set_sizes(
        network, {name: size for name, size in sizes.items() if name in network.symbols}
    )


def expand(patterns: list[str]) -> tuple[list[str], list[ConvCalcError]]:
    """Files and globs ('specs/**/*.yaml') -> the paths, each once, in the order given.

    A glob that matches nothing is an error; a missing file is left for the loader to name.
    """
    paths: list[str] = []
    real: set[str] = set()  # each file once, however many links lead to it
    errors = []
    for pattern in patterns:
        if GLOB_CHARACTERS.isdisjoint(pattern) or Path(pattern).exists():
            found = [pattern]
        else:
            found = sorted(_glob(pattern))
            if not found:
                errors.append(ConvCalcError(f"no file matches {shown(pattern)}"))
        for path in found:
            if os.path.realpath(path) not in real:
                real.add(os.path.realpath(path))
                paths.append(path)
    return paths, errors


def _glob(pattern: str) -> list[str]:
    """The files a glob matches, `**` included, never descending into a symlinked folder.

    glob.glob follows them: two `ln -s . specs/a` links make its paths grow without end.
    """
    parts = Path(pattern).parts
    if "**" not in parts:
        return glob.glob(pattern)  # no recursion, so no loop
    fixed = 0  # the leading parts without glob characters: the folder to walk
    while fixed < len(parts) and GLOB_CHARACTERS.isdisjoint(parts[fixed]):
        fixed += 1
    root = Path(*parts[:fixed]) if fixed else Path()
    wanted = parts[fixed:]
    found = []
    for folder, subfolders, files in os.walk(root, followlinks=False):
        subfolders.sort()
        relative = Path(folder).relative_to(root).parts
        found.extend(
            str(Path(folder, name)) for name in files if _matches((*relative, name), wanted)
        )
    return found


def _matches(parts: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    """Path parts against glob parts, `**` standing for any number of folders; hidden
    names match only a pattern that starts with a dot, as in glob."""
    if not wanted:
        return not parts
    if wanted[0] == "**":  # the folders it stands for may not be hidden ones
        return any(
            _matches(parts[skip:], wanted[1:])
            for skip in range(len(parts) + 1)
            if not any(part.startswith(".") for part in parts[:skip])
        )
    return (
        bool(parts)
        and (wanted[0].startswith(".") or not parts[0].startswith("."))
        and fnmatch.fnmatchcase(parts[0], wanted[0])
        and _matches(parts[1:], wanted[1:])
    )


def baseline_paths(paths: list[str], baseline: str | None) -> list[str | None]:
    """Each spec's baseline: the file given, or the same relative path in the directory given.

    None where the directory has no such file (a spec added on this branch).
    """
    if baseline is None:
        return [None] * len(paths)
    root = Path(baseline)
    if root.is_dir():
        found = []
        for path in paths:
            relative = Path(path)
            if relative.is_absolute():
                try:
                    relative = relative.resolve().relative_to(Path.cwd().resolve())
                except ValueError:
                    raise ConvCalcError(
                        f"{path} is outside the working directory, so it has no counterpart"
                        f" in {baseline}",
                        field=option("baseline"),
                    ) from None
            candidate = root / relative
            found.append(str(candidate) if candidate.is_file() else None)
        return found
    if not root.is_file():
        raise ConvCalcError(f"no such file or directory: {baseline}", field=option("baseline"))
    if len(paths) != 1:
        raise ConvCalcError(
            f"a baseline file serves one spec, got {len(paths)} specs: give a directory"
            " holding the base branch's specs at the same paths",
            field=option("baseline"),
        )
    return [baseline]
