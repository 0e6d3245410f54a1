"""`convcalc compare`: kernel stacks, or two spec files, side by side as a table or JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

from convcalc import figures
from convcalc.comparison import relative
from convcalc.plain import totals_dict
from convcalc.render.encoding import to_json
from convcalc.render.table import Block, Column, Row, Styled, Table, write
from convcalc.render.values import growth_text, human, per_dim, percent, plural, shape_text
from convcalc.text import printable

if TYPE_CHECKING:
    from convcalc.comparison import Candidate, Comparison, LayerChange, LayerFigures
    from convcalc.render import View

ARROW = "→"


def side_by_side() -> list[tuple[str, str, bool]]:
    """The whole-network figures shown side by side for spec files, as (label, total's
    name, whether bytes): those a budget can cap (figures.TOTALS), which a review weighs."""
    return [
        (total.label or total.name, total.name, total.unit == figures.BYTES)
        for total in figures.TOTALS
        if total.budget
    ]


def verdict_lines(comparison: Comparison) -> list[str]:
    """One sentence per receptive field that two or more candidates share; for two spec
    files, what the second does to the first."""
    if comparison.diff is not None:
        return [spec_verdict(comparison)]
    if not comparison.verdict:
        return ["no two candidates share a receptive field, so none is cheapest at equal field"]
    lines = []
    for found in comparison.verdict:
        field = per_dim(found.receptive_field)
        if found.macs_change == 0 and found.params_change == 0:
            lines.append(f"receptive field {field}: the candidates cost the same")
        else:
            lines.append(
                f"receptive field {field}: {found.label} is cheapest, MACs"
                f" {percent(found.macs_change)} and params {percent(found.params_change)}"
                f" against {found.against}"
            )
    return lines


def spec_verdict(comparison: Comparison) -> str:
    """'new.yaml against old.yaml: params +73.03%, MACs +40.01%; 2 layers changed, 2
    affected, 1 added'."""
    first, last = comparison.candidates[0], comparison.candidates[-1]
    growth = ", ".join(
        f"{label} {growth_text(relative(getattr(last.report.totals, key), value))}"
        for label, key in (("params", "params"), ("MACs", "macs"))
        for value in [getattr(first.report.totals, key)]
    )
    counts: dict[str, int] = {}
    for change in comparison.diff or []:
        counts[change.change] = counts.get(change.change, 0) + 1
    layers = ", ".join(f"{count} {change}" for change, count in counts.items())
    verdict = f"{last.label} against {first.label}: {growth}"
    return verdict + (f"; layers: {layers}" if layers else "; no layer changed")


def comparison_data(comparison: Comparison) -> dict:
    """The JSON object of a comparison (keys are a contract: scripts depend on them)."""
    data = {
        "macs_per_output_position": comparison.per_output_position,
        "candidates": [
            _candidate_dict(candidate, with_totals=comparison.diff is not None)
            for candidate in comparison.candidates
        ],
        "verdict": [
            {
                "receptive_field": found.receptive_field,
                "cheapest": found.label,
                "against": found.against,
                "macs_change": percent(found.macs_change),
                "params_change": percent(found.params_change),
            }
            for found in comparison.verdict
        ],
    }
    if comparison.diff is not None:
        data["diff"] = diff_data(comparison.diff)
    return data


def write_json(comparison: Comparison, view: View) -> str:
    """The comparison as indented JSON."""
    return to_json(comparison_data(comparison))


def write_table(comparison: Comparison, view: View) -> str:
    """The candidates (stacks), or the totals and the layer diff (spec files), then the
    notes and the verdict."""
    blocks: list[Block] = []
    if comparison.diff is None:
        blocks.append(_candidates_table(comparison))
    else:
        blocks.append(_side_by_side_table(comparison.candidates))
        blocks.append(diff_table(comparison.diff) if comparison.diff else "no layer changed")
    for candidate in comparison.candidates:
        blocks.extend(
            (Styled("note", "yellow"), printable(f": {candidate.label}: {layer}: {note}"))
            for layer, note in candidate.report.notes
        )
    blocks.extend((Styled("verdict", "bold"), f": {line}") for line in verdict_lines(comparison))
    return write(blocks, view.terminal)


def _candidates_table(comparison: Comparison) -> Table:
    first = comparison.candidates[0].report
    if comparison.per_output_position:
        title = (
            f"{plural(first.input[0], 'input channel')}; MACs per output position of the last"
            " layer, for a large input (give --size for totals)"
        )
    else:
        title = f"input {'x'.join(map(str, first.input))}"
    columns = [Column("candidate", foldable=True, spec_text=True)]
    for header in ("layers", "params", "MACs", "RF", "output", "nonlinearities"):
        columns.append(Column(header, "left" if header in ("RF", "output") else "right", True))
    columns.append(Column("params vs first", "right", True))
    columns.append(Column("MACs vs first", "right", True))
    rows = [
        Row(
            [
                printable(candidate.label),
                str(candidate.layers),
                f"{candidate.params:,}",
                f"{candidate.macs:,}",
                per_dim(candidate.receptive_field),
                shape_text(candidate.output_shape),
                str(candidate.nonlinearities),
                percent(candidate.params_change),
                percent(candidate.macs_change),
            ]
        )
        for candidate in comparison.candidates
    ]
    return Table(title, columns, rows)


def _side_by_side_table(candidates: list[Candidate]) -> Table:
    first, last = candidates[0], candidates[-1]
    columns = [
        Column("", foldable=True),
        *(
            Column(printable(candidate.label), "right", True, spec_text=True)
            for candidate in candidates
        ),
        Column("change", "right", True),
    ]
    rows = [
        Row(
            [
                "layers",
                *(str(candidate.layers) for candidate in candidates),
                f"{last.layers - first.layers:+}",
            ]
        )
    ]
    for label, key, binary in side_by_side():
        values = [getattr(candidate.report.totals, key) for candidate in candidates]
        texts = [human(value, True) if binary else f"{value:,}" for value in values]
        rows.append(Row([label, *texts, percent(relative(values[-1], values[0]))]))
    rows.append(
        Row(
            [
                "receptive field",
                *(per_dim(candidate.receptive_field) for candidate in candidates),
                "",
            ]
        )
    )
    rows.append(
        Row(["output", *(shape_text(candidate.output_shape) for candidate in candidates), ""])
    )
    return Table(printable(f"{first.label} vs {last.label}"), columns, rows)


def diff_table(diff: list[LayerChange]) -> Table:
    """The layers two specs differ in, a changed figure as 'before → after'."""
    numeric = {
        figure.header
        for figure in figures.diffed()
        if figure.unit in (figures.COUNT, figures.BYTES)
    }
    columns = [
        Column(header, "right" if header in numeric else "left", True, spec_text=True)
        for header in diff_headers()
    ]
    return Table(
        "layers added, removed, changed (their own fields, params or MACs) or affected"
        " (their output or field, through a change upstream)",
        columns,
        [Row([printable(cell) for cell in diff_cells(change)]) for change in diff],
    )


def _candidate_dict(candidate: Candidate, with_totals: bool) -> dict:
    data = {
        "label": candidate.label,
        "layers": candidate.layers,
        "params": candidate.params,
        "macs": candidate.macs,
        "receptive_field": candidate.receptive_field,
        "output_shape": candidate.output_shape,
        "nonlinearities": candidate.nonlinearities,
        "params_vs_first": percent(candidate.params_change),
        "macs_vs_first": percent(candidate.macs_change),
        "notes": [f"{layer}: {note}" for layer, note in candidate.report.notes],
    }
    if with_totals:
        # A spec file: its whole-network totals, as `shapes` gives them.
        data["totals"] = totals_dict(candidate.report.totals)
    return data


def diff_data(diff: list[LayerChange]) -> list[dict]:
    """A layer diff as JSON: name, change, and the figures before and after (or null)."""
    return [
        {
            "name": change.name,
            "change": change.change,
            "before": _figures_dict(change.before),
            "after": _figures_dict(change.after),
        }
        for change in diff
    ]


def _figures_dict(compared: LayerFigures | None) -> dict | None:
    if compared is None:
        return None
    return {"type": compared.type, **compared.figures}


def diff_headers() -> list[str]:
    """The columns of a layer diff: the change, the layer, its type, then the figures a
    diff compares (figures.LAYER_FIGURES' `diff`)."""
    return ["change", "layer", "type", *(figure.header for figure in figures.diffed())]


def _diff_text(figure: figures.Figure, value: object) -> str:
    """A figure in a diff: counts exact (a change of one MAC shows), bytes in binary units."""
    if figure.unit == figures.COUNT:
        return f"{value:,}"
    if figure.unit == figures.BYTES:
        return human(value, True)
    return per_dim(value)


def diff_cells(change: LayerChange) -> list[str]:
    """One row of a layer diff, under diff_headers(): a changed figure reads 'before → after'."""
    cells = [change.change, change.name]
    texts = [("type", str)] + [
        (figure.name, lambda value, figure=figure: _diff_text(figure, value))
        for figure in figures.diffed()
    ]
    for key, text in texts:
        before = text(getattr(change.before, key)) if change.before else None
        after = text(getattr(change.after, key)) if change.after else None
        if before is None or after is None or before == after:
            cells.append(after if after is not None else before)
        else:
            cells.append(f"{before} {ARROW} {after}")
    return cells
