"""The figure registry: every output and check iterates over convcalc.figures, so a figure
added there (a dummy one here) reaches rows, totals, budgets and every format."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

import convcalc
from convcalc import figures

SPEC = {
    "name": "tiny",
    "input": [3, 8, 8],
    "layers": [
        {"name": "conv", "type": "conv", "out_channels": 4, "kernel_size": 3},
        {"name": "relu", "type": "activation", "function": "relu"},
        {"name": "flat", "type": "flatten"},
    ],
}
# conv: 4x6x6 out; relu 4x6x6; flatten 144: channels 4, 4 and 144 (the dummy's rule).
CHANNELS = (4, 4, 144)

DUMMY = figures.Figure(
    "dummy_count", "dummy", figures.COUNT, lambda facts: facts.output.channels, column="dummy"
)
DUMMY_TOTAL = figures.Total(
    "dummy_count",
    figures.COUNT,
    lambda facts: figures.summed(row.dummy_count for row in facts.rows),
    "dummy total",
    sums="dummy_count",
    budget=True,
    example="1k",
)


@pytest.fixture
def dummy(monkeypatch):
    """The registry with the dummy figure and its total at the end."""
    monkeypatch.setattr(figures, "LAYER_FIGURES", (*figures.LAYER_FIGURES, DUMMY))
    monkeypatch.setattr(figures, "TOTALS", (*figures.TOTALS, DUMMY_TOTAL))


def test_a_new_figure_is_in_every_row_and_its_total_sums(dummy):
    report = convcalc.analyze(SPEC)
    assert tuple(row.dummy_count for row in report.rows) == CHANNELS
    assert report.totals.dummy_count == sum(CHANNELS)
    assert report.to_dict()["totals"]["dummy_count"] == sum(CHANNELS)


COLUMNS = ("name", "output", "dummy")


@pytest.mark.parametrize("output_format", ["table", "markdown", "csv", "json"])
def test_a_new_figure_is_in_every_format_of_shapes(dummy, output_format):
    from convcalc.render import View, render
    from convcalc.render.shapes import parse_columns

    report = convcalc.analyze(SPEC)
    view = View(columns=parse_columns(",".join(COLUMNS)))  # a column key like any other
    text = render("shapes", output_format, [report], view)
    if output_format == "json":
        data = json.loads(text)
        assert [layer["dummy_count"] for layer in data["layers"]] == list(CHANNELS)
        assert data["totals"]["dummy_count"] == sum(CHANNELS)
        return
    lines = text.splitlines()
    if output_format == "csv":
        assert lines[0] == "network,name,output_shape,dummy_count"
        assert lines[1:] == [
            "tiny,conv,4x6x6,4",
            "tiny,relu,4x6x6,4",
            "tiny,flat,144,144",
            "tiny,total,,152",  # the dummy sums, as its Total says
        ]
        return
    # The table and markdown: its header, each layer's value, and its total's line.
    assert any("dummy" in line and "output" in line for line in lines), text
    flat = next(line for line in lines if "flat" in line)
    assert "144" in flat.split("flat", 1)[1]
    assert any("dummy total" in line and "152" in line for line in lines), text


def test_a_new_budget_metric_is_checked_and_names_its_largest_layer(dummy, tmp_path):
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(SPEC))
    run = convcalc.check(str(spec), max_dummy_count="100")
    (outcome,) = run.specs[0].outcomes
    assert (outcome.budget, outcome.ok, outcome.actual, outcome.excess) == (
        "max_dummy_count",
        False,
        152,
        52,
    )
    assert outcome.layers[0].name == "flat"  # 144 of the 152
    assert convcalc.check(str(spec), max_dummy_count="1k").specs[0].outcomes[0].ok


def test_check_has_one_max_option_per_budget_metric():
    from typer.testing import CliRunner

    from convcalc import cli

    result = CliRunner().invoke(cli.app, ["check", "--help"])
    maxima = re.findall(r"(--max-[a-z-]+)", result.output)
    assert [name for name in maxima if name != "--max-growth"] == [
        f"--max-{metric.replace('_', '-')}" for metric in figures.budget_metrics()
    ]
    assert figures.budget_metrics() == (
        "params",
        "macs",
        "flops",
        "peak_activation_bytes",
        "model_bytes",
    )


def test_every_layer_figure_has_a_distinct_name_and_column():
    names = [figure.name for figure in figures.LAYER_FIGURES]
    columns = [figure.column for figure in figures.LAYER_FIGURES if figure.column]
    assert len(set(names)) == len(names) and len(set(columns)) == len(columns)
    for total in figures.TOTALS:
        assert total.sums is None or total.sums in names
        assert dataclasses.is_dataclass(total)
