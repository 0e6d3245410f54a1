"""`convcalc verify`: each layer's checks against the NumPy reference, as a table or JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

from convcalc import figures
from convcalc.render.encoding import to_json
from convcalc.render.shapes import title
from convcalc.render.table import Column, Row, Styled, Table, write
from convcalc.render.values import exact, per_dim
from convcalc.text import printable

if TYPE_CHECKING:
    from convcalc.render import View
    from convcalc.verification import Verification  # loads NumPy: annotations only


def verify_columns() -> list[tuple[str, str]]:
    """(check, header) of each figure verify re-measures (figures.LAYER_FIGURES' `check`)."""
    return [(figure.check, figure.check_header) for figure in figures.checked()]


def verification_data(verification: Verification) -> dict:
    """The plain data of one verify run (keys are a contract, see README); a value that
    could not be measured is None."""
    return {
        "name": verification.report.name,
        "ok": verification.ok,
        "seconds": round(verification.seconds, 3),
        "forward_seconds": round(verification.forward_seconds, 3),
        "seed": verification.seed,
        "input": verification.report.input,
        "inputs": dict(verification.report.inputs),
        "outputs": list(verification.report.outputs),
        "batch": verification.report.batch,
        "layers": [
            {
                "name": layer.name,
                "ok": layer.ok,
                "checks": {
                    name: {
                        "predicted": check.predicted,
                        "measured": check.measured,
                        "ok": check.ok,
                        **({"skipped": check.skipped} if check.skipped is not None else {}),
                    }
                    for name, check in layer.checks.items()
                },
            }
            for layer in verification.layers
        ],
    }


def write_json(verification: Verification, view: View) -> str:
    """The verify run as indented JSON."""
    return to_json(verification_data(verification))


def _field_text(value: dict) -> str:
    """{'size', 'stride', 'padding'} per dim -> '7x7 /2x2 -3x3' ('?' where unmeasurable)."""
    parts = []
    for key, mark in (("size", ""), ("stride", "/"), ("padding", "-")):
        values = value[key]
        parts.append(mark + "x".join("?" if v is None else str(exact(v)) for v in values))
    return " ".join(parts)


def check_text(name: str, value: object) -> str:
    """One predicted or measured value as a short text."""
    if name == "receptive_field":
        return _field_text(value)
    if name == "shape":
        return per_dim(value)
    return f"{value:,}"


def mismatch_lines(verification: Verification) -> list[str]:
    """'layer 12 (conv3): macs: predicted 1,000, measured 999' for each disagreement."""
    return [
        f"layer {layer.index} ({layer.name}): {name}: predicted"
        f" {check_text(name, check.predicted)}, measured {check_text(name, check.measured)}"
        for layer, name, check in verification.mismatches
    ]


def skipped_lines(verification: Verification) -> list[str]:
    """'layer 3 (gather): receptive_field not checked: ...' for each figure not compared."""
    return [
        f"layer {layer.index} ({layer.name}): {name} not checked: {check.skipped}"
        for layer, name, check in verification.skipped
    ]


PASSED = Styled("✓", "green")
FAILED = Styled("✗", "bold red")
SKIPPED = Styled("-", "yellow")  # a figure not compared, and why in a note under the table


def _mark(check) -> Styled:
    if check.skipped is not None:
        return SKIPPED
    return PASSED if check.ok else FAILED


def write_table(verification: Verification, view: View) -> str:
    """A tick or a cross per layer and check, the verdict, then the times (the cli names
    each mismatch on stderr)."""
    checks = verify_columns()
    columns = [
        Column("#", "right", True),
        Column("layer", foldable=True, spec_text=True),
        Column("type", foldable=True),
        *(Column(header, "center", True) for _, header in checks),
    ]
    rows = [
        Row(
            [
                str(layer.index),
                printable(layer.name),
                layer.type,
                *(_mark(layer.checks[key]) for key, _ in checks),
            ]
        )
        for layer in verification.layers
    ]
    failed = len(verification.mismatches)
    verdict = (
        Styled("all checks agree", "green")
        if verification.ok
        else Styled(f"{failed} check{'s differ' if failed > 1 else ' differs'}", "bold red")
    )
    times = (
        f"{len(verification.layers)} layers, seed {verification.seed}:"
        f" {verification.seconds:.2f} s in all, {verification.forward_seconds:.2f} s forward"
    )
    heading = printable(f"verify {title(verification.report)}")
    notes = [
        (Styled("note", "yellow"), printable(f": {line}")) for line in skipped_lines(verification)
    ]
    return write([Table(heading, columns, rows, [*notes, verdict, times])], view.terminal)
