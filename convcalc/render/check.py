"""`convcalc check`: each spec held to its budget, as a table, JSON, a markdown comment for
a pull request, or GitHub Actions annotations."""

from __future__ import annotations

import html
from fractions import Fraction
from typing import TYPE_CHECKING

from convcalc import figures
from convcalc.comparison import last_spatial_field
from convcalc.errors import ConvCalcError
from convcalc.flags import flag, said
from convcalc.plain import totals_dict
from convcalc.render.compare import ARROW, diff_data, diff_table, side_by_side
from convcalc.render.encoding import to_json
from convcalc.render.table import Block, Column, Row, Styled, Table, markdown, write
from convcalc.render.values import (
    growth_text,
    human,
    markdown_text,
    per_dim,
    percent,
    plural,
)
from convcalc.text import printable

if TYPE_CHECKING:
    from convcalc.budget import Outcome
    from convcalc.checking import CheckRun, SpecCheck
    from convcalc.comparison import LayerChange
    from convcalc.render import View

# The first line of the markdown report, so that a CI job can find and update its comment.
MARKDOWN_MARKER = "<!-- convcalc check -->"


def amount(value: object, kind: str) -> str:
    """A limit or a figure, as text for its kind of budget (see budget.Outcome)."""
    if kind == "count":
        return f"{value:,}"
    if kind == "bytes":
        return human(value, True)
    if kind == "growth":
        return growth_text(value)
    return per_dim(value)


def margin_text(outcome: Outcome) -> str:
    """How far from the limit: what is left of it, or how far past it."""
    kind = outcome.kind
    if kind in ("count", "bytes"):
        if outcome.ok:
            return f"{amount(outcome.limit - outcome.actual, kind)} left"
        return f"{_excess_text(outcome)} over"
    if kind == "field" and not outcome.ok:
        return f"short by {per_dim(outcome.excess)}"
    if kind == "growth" and outcome.excess is not None:
        return f"{growth_text(outcome.excess)} over"
    return ""


def _excess_text(outcome: Outcome) -> str:
    """A count's or a byte size's excess, exact, and relative to the limit: '1,938 (+194%)'."""
    relative = Fraction(outcome.excess, outcome.limit) if outcome.limit else None
    unit = " B" if outcome.kind == "bytes" else ""
    return f"{outcome.excess:,}{unit} ({growth_text(relative)})"


def violation_text(outcome: Outcome) -> str:
    """What an exceeded budget found, and the layers that contribute most."""
    kind, limit, actual = outcome.kind, outcome.limit, outcome.actual
    if kind == "field":
        return (
            f"receptive field {per_dim(actual)} at {outcome.layer} is below the minimum"
            f" {per_dim(limit)} (short by {per_dim(outcome.excess)})"
        )
    if kind == "shape":
        return f"output shape {per_dim(actual)} of {outcome.layer} is not {per_dim(limit)}"
    metric = outcome.budget.split(".")[-1].removeprefix("max_")
    unit = figures.total(metric).unit
    if kind == "growth":
        text = (
            f"{metric} grew {growth_text(actual)} ({amount(outcome.baseline, unit)}"
            f" {ARROW} {amount(outcome.value, unit)}), more than the {amount(limit, kind)} allowed"
        )
        label = "grew most"
        layers = [f"{layer.name} +{amount(layer.value, unit)}" for layer in outcome.layers]
    else:
        text = (
            f"{amount(actual, kind)} exceeds the limit {amount(limit, kind)}"
            f" by {_excess_text(outcome)}"
        )
        # The peak is a sum of the outputs live at once: a share of it would mislead.
        peak = metric == "peak_activation_bytes"
        label = "largest outputs" if peak else "most in"
        layers = [
            f"{layer.name} {amount(layer.value, unit)}"
            + ("" if peak else f" ({percent(Fraction(layer.value, actual)).lstrip('+')})")
            for layer in outcome.layers
        ]
    return f"{text}; {label}: {', '.join(layers)}" if layers else text


def check_summary(run: CheckRun) -> str:
    """'2 budgets exceeded in 1 of 3 specs' or 'every budget holds (3 specs)'."""
    if run.ok:
        return f"every budget holds ({plural(len(run.specs), 'spec')})"
    failing = sum(1 for spec in run.specs if not spec.ok)
    return (
        f"{plural(run.violation_count, 'budget')} exceeded in {failing} of"
        f" {plural(len(run.specs), 'spec')}"
    )


def outcome_data(outcome: Outcome) -> dict:
    """The plain data of one budget checked (keys are a contract, see README)."""

    def value(figure: object) -> object:
        if outcome.kind == "growth":
            return None if figure is None else growth_text(figure)
        return figure

    data = {
        "budget": outcome.budget,
        "limit": value(outcome.limit),
        "actual": value(outcome.actual),
        "excess": value(outcome.excess),
        "ok": outcome.ok,
        "source": "flag" if outcome.from_flag else "spec",
        "line": outcome.line,
        "layer": outcome.layer,
        "layers": [
            {"name": layer.name, "value": layer.value, "line": layer.line}
            for layer in outcome.layers
        ],
    }
    if outcome.kind == "growth":
        data["baseline"] = outcome.baseline
        data["value"] = outcome.value
    return data


def check_data(run: CheckRun) -> dict:
    """The JSON object of a check run (keys are a contract, see README)."""
    specs = []
    for spec in run.specs:
        data = {
            "path": spec.path,
            "name": spec.report.name,
            "ok": spec.ok,
            "violations": [outcome_data(outcome) for outcome in spec.violations],
            "checks": [outcome_data(outcome) for outcome in spec.outcomes],
            "totals": totals_dict(spec.report.totals),
            "baseline": spec.baseline_path,
            "notes": [said(note) for note in spec.notes],
        }
        if spec.diff is not None:
            data["diff"] = diff_data(spec.diff)
        specs.append(data)
    return {"ok": run.ok, "specs": specs}


def write_json(run: CheckRun, view: View) -> str:
    """The check run as indented JSON."""
    return to_json(check_data(run))


def write_github(run: CheckRun, view: View) -> str:
    """GitHub Actions workflow commands: one ::error per exceeded budget or invalid spec,
    at the spec line of the budget entry or of the layer that contributes most, so that it
    shows inline on the pull request; a ::warning per note; then a summary line."""
    lines = []
    for error in run.errors:
        message = ConvCalcError(
            error.message,
            layer_index=error.layer_index,
            layer_name=error.layer_name,
            field=error.field,
        ).describe(flag)
        lines.append(_workflow_command("error", error.file, error.line, "convcalc check", message))
    for spec in run.specs:
        for outcome in spec.violations:
            lines.append(
                _workflow_command(
                    "error",
                    spec.path,
                    outcome.line,
                    f"convcalc check: {outcome.budget}",
                    f"{outcome.budget}: {violation_text(outcome)}",
                )
            )
        for note in spec.notes:
            lines.append(
                _workflow_command("warning", spec.path, None, "convcalc check", said(note))
            )
    summary = f"{plural(len(run.errors), 'invalid spec')}" if run.errors else check_summary(run)
    lines.append(f"convcalc check: {summary}")
    return "\n".join(lines) + "\n"


def _workflow_command(
    command: str, file: str | None, line: int | None, title: str, message: str
) -> str:
    """'::error file=a.yaml,line=3,title=...::message', escaped as the Actions runner reads it
    (actions/toolkit, command.ts: '%', CR and LF in the message; also ':' and ',' in values)."""

    def escape(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    properties = {"file": file, "line": line, "title": title}
    shown = ",".join(
        f"{key}={escape(str(value)).replace(':', '%3A').replace(',', '%2C')}"
        for key, value in properties.items()
        if value is not None
    )
    return f"::{command} {shown}::{escape(message)}"


def write_markdown(run: CheckRun, view: View) -> str:
    """A compact report to post as a pull-request comment: per spec, each budget, the
    violations and the layers behind them, the totals (against the baseline, when given)
    and the layer diff, folded."""
    mark = "✅" if run.ok else "❌"
    out = [MARKDOWN_MARKER, f"## convcalc check: {mark} {check_summary(run)}", ""]
    for spec in run.specs:
        out.extend(_spec_markdown(spec))
    return "\n".join(out) + "\n"


def _spec_markdown(spec: SpecCheck) -> list[str]:
    mark = "✅" if spec.ok else "❌"
    exceeded = len(spec.violations)
    verdict = (
        f"{exceeded} of {plural(len(spec.outcomes), 'budget')} exceeded"
        if exceeded
        else "within budget"
    )
    out = [f"### {mark} {markdown_text(f'{spec.path} ({spec.report.name})')}: {verdict}", ""]
    if spec.outcomes:
        rows = [
            Row(
                [
                    f"`{outcome.budget}`" + (" (flag)" if outcome.from_flag else ""),
                    amount(outcome.limit, outcome.kind),
                    amount(outcome.actual, outcome.kind),
                    margin_text(outcome),
                    "✅" if outcome.ok else "❌",
                ]
            )
            for outcome in spec.outcomes
        ]
        out += [*markdown(Table(None, BUDGET_COLUMNS, rows)), ""]
    out += [
        f"- ❌ **{outcome.budget}**: {markdown_text(violation_text(outcome))}"
        for outcome in spec.violations
    ]
    out += [f"- note: {markdown_text(said(note))}" for note in spec.notes]
    if spec.violations or spec.notes:
        out.append("")
    out += [*markdown(_totals_table(spec)), ""]
    if spec.diff is not None:
        out.extend(_diff_markdown(spec.diff, spec.baseline_path))
    return out


def _totals_table(spec: SpecCheck) -> Table:
    """The spec's totals, and against the baseline's when there is one."""
    reports = [spec.report] if spec.baseline is None else [spec.baseline, spec.report]
    headers = ["this spec"] if spec.baseline is None else ["baseline", "this spec", "change"]
    columns = [Column("total"), *(Column(header, "right") for header in headers)]
    rows = []
    for label, key, binary in side_by_side():
        values = [getattr(report.totals, key) for report in reports]
        texts = [human(value, True) if binary else f"{value:,}" for value in values]
        if spec.baseline is not None:
            # Growth to two decimals, as in the budgets above it.
            change = Fraction(values[1] - values[0], values[0]) if values[0] else None
            texts.append(growth_text(change))
        rows.append(Row([label, *texts]))
    for label, texts in (
        ("receptive field", [per_dim(last_spatial_field(report)) for report in reports]),
        ("output", [_outputs_cell(report) for report in reports]),
    ):
        # No change to give for these: a cell with nothing in it.
        rows.append(Row([label, *texts, *([None] if len(texts) > 1 else [])]))
    return Table(None, columns, rows)


def _diff_markdown(diff: list[LayerChange], baseline_path: str) -> list[str]:
    if not diff:
        return [f"No layer changed against {markdown_text(baseline_path)}.", ""]
    counts = {}
    for change in diff:
        counts[change.change] = counts.get(change.change, 0) + 1
    summary = ", ".join(f"{count} {change}" for change, count in counts.items())
    return [
        f"<details><summary>Layers against <code>{html.escape(printable(baseline_path))}</code>:"
        f" {summary}</summary>",
        "",
        *markdown(diff_table(diff)),
        "",
        "</details>",
        "",
    ]


# The budgets of a spec: the verdict column has no header.
BUDGET_COLUMNS = (
    Column("budget", foldable=True),
    Column("limit", "right", True),
    Column("actual", "right", True),
    Column("margin", "right", True),
    Column("", "center", True),
)
PASSED = Styled("✓", "green")
FAILED = Styled("✗", "bold red")


def write_table(run: CheckRun, view: View) -> str:
    """Per spec, each budget with its limit, figure, margin and verdict, the violations, the
    notes and the layer diff; then the run's summary."""
    blocks: list[Block] = []
    for spec in run.specs:
        verdict = (
            Styled("within budget", "green")
            if spec.ok
            else Styled(f"{plural(len(spec.violations), 'budget')} exceeded", "bold red")
        )
        heading = (Styled(printable(f"{spec.path} ({spec.report.name}): "), "bold"), verdict)
        if spec.outcomes:
            rows = [
                Row(
                    [
                        outcome.budget + (" (flag)" if outcome.from_flag else ""),
                        amount(outcome.limit, outcome.kind),
                        amount(outcome.actual, outcome.kind),
                        margin_text(outcome),
                        PASSED if outcome.ok else FAILED,
                    ]
                )
                for outcome in spec.outcomes
            ]
            blocks += [heading, Table(None, BUDGET_COLUMNS, rows)]
        else:
            blocks.append(heading)
        blocks.extend(
            Styled(printable(f"✗ {outcome.budget}: {violation_text(outcome)}"), "red")
            for outcome in spec.violations
        )
        blocks.extend(
            (Styled("note", "yellow"), printable(f": {said(note)}")) for note in spec.notes
        )
        if spec.diff:
            blocks.append(diff_table(spec.diff))
        blocks.append("")
    style = "bold green" if run.ok else "bold red"
    blocks.append(Styled(f"convcalc check: {check_summary(run)}", style))
    return write(blocks, view.terminal)


def _outputs_cell(report) -> str:
    """The output shape, or with several outputs each one's name and shape."""
    rows = report.output_rows
    if len(rows) == 1:
        return per_dim(rows[0].output_shape)
    return ", ".join(f"{row.name} {per_dim(row.output_shape)}" for row in rows)
