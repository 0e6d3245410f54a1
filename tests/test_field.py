"""Receptive fields: the Araujo et al. recurrences against brute-force dependency tracing,
and the kinds of field (exact, envelope, data-dependent) carried down the network."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from typer.testing import CliRunner

from convcalc import layers
from convcalc.cli import app
from convcalc.errors import ConvCalcError
from convcalc.field import FieldKind
from convcalc.layers.base import Inputs, Layer, Result
from tests.conftest import run

layer_configs = st.lists(
    st.tuples(
        st.integers(1, 5),  # kernel
        st.integers(1, 3),  # stride
        st.integers(0, 2),  # padding
        st.integers(1, 3),  # dilation
    ),
    min_size=1,
    max_size=5,
)


def traced_field(layers: list[tuple[int, int, int, int]], position: int) -> set[int]:
    """Input positions (padding included) that output `position` of the last layer reads."""
    positions = {position}
    for kernel, stride, padding, dilation in reversed(layers):
        positions = {
            p * stride - padding + tap * dilation for p in positions for tap in range(kernel)
        }
    return positions


@given(layers=layer_configs)
def test_recurrences_match_traced_dependencies(layers):
    size = 200
    specs = [
        {"type": "conv", "out_channels": 1, "kernel_size": k, "stride": s, "padding": p,
         "dilation": d}
        for k, s, p, d in layers
    ]  # fmt: skip
    try:
        row = run([1, size], *specs).layers[-1]
    except ConvCalcError:
        assume(False)  # the input shrank to nothing: not a field question
    first, second = traced_field(layers, 0), traced_field(layers, 1)
    assert row.receptive_field == (max(first) - min(first) + 1,)
    assert row.effective_padding == (-min(first),)
    assert row.effective_stride == (min(second) - min(first),)
    holes = len(first) < max(first) - min(first) + 1
    gridding = any("gridding" in note for note in row.notes)
    if gridding:
        assert holes


def test_residual_union_aligns_fields_by_position():
    # A 1x1 shortcut (field 1, offset 0) added to a 3x3 branch (field 3, padding 1):
    # the union spans 3, starting one position before the output's own.
    report = run(
        [1, 8],
        {"name": "branch", "type": "conv", "out_channels": 1, "kernel_size": 3, "padding": 1},
        {"name": "sum", "type": "add", "inputs": ["branch", "input"]},
    )
    row = report.layers[-1]
    assert (row.receptive_field, row.effective_padding, row.effective_stride) == (
        (3,), (1,), (1,),
    )  # fmt: skip


# A field that depends on the data: no layer type of convcalc has one yet, so a stand-in type,
# registered for these tests only, sorts each row of values (where a value lands depends on
# the values).


class SortRows(Layer):
    """Each channel's values sorted along the last spatial dim."""

    spatial = True
    field_kind = FieldKind.DATA_DEPENDENT

    type: Literal["sort_rows"] = "sort_rows"

    def analyze(self, inputs: Inputs) -> Result:
        return Result(inputs.only)

    def forward(self, inputs: Inputs, values: list, weights: dict, kernels, context):
        import numpy as np

        return np.sort(values[0], axis=-1)

    def dependency(self, inputs: Inputs, masks: list, kernels):
        """Any position of a row may land anywhere in it."""
        import numpy as np

        return np.broadcast_to(masks[0].any(axis=-1, keepdims=True), masks[0].shape)


@pytest.fixture
def sort_rows(monkeypatch):
    """The `sort_rows` type in the layer registry, as a module of convcalc.layers would be."""
    module = types.ModuleType("convcalc.layers.sort_rows")
    module.SortRows = SortRows
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(layers._CLASSES, "sort_rows", ("sort_rows", "SortRows"))
    monkeypatch.setattr(layers.LAYER_TYPES, "_loaded", {})


SORTED = """\
name: sorted
input: [1, 12, 12]
layers:
  - {name: conv1, type: conv, out_channels: 2, kernel_size: 3}
  - {name: sort, type: sort_rows}
  - {name: conv2, type: conv, out_channels: 2, kernel_size: 3}
  - {name: skip, type: conv, out_channels: 2, kernel_size: 3, inputs: [conv1]}
  - {name: sum, type: add, inputs: [conv2, skip]}
  - {name: up, type: upsample, scale_factor: 2, inputs: [skip]}
  - {name: gap, type: global_avg_pool, inputs: [sum]}
"""


def test_a_data_dependent_field_is_unknown_downstream(sort_rows):
    """Exact before the layer, data-dependent from it on (through an add with an exact
    branch too), and an envelope only where an upsample is on the way."""
    report = run(
        [1, 12, 12],
        {"name": "conv1", "type": "conv", "out_channels": 2, "kernel_size": 3},
        {"name": "sort", "type": "sort_rows"},
        {"name": "conv2", "type": "conv", "out_channels": 2, "kernel_size": 3},
        {"name": "skip", "type": "conv", "out_channels": 2, "kernel_size": 3, "inputs": ["conv1"]},
        {"name": "sum", "type": "add", "inputs": ["conv2", "skip"]},
        {"name": "up", "type": "upsample", "scale_factor": 2, "inputs": ["skip"]},
    )
    kinds = {row.name: row.field_kind for row in report.layers}
    assert kinds == {
        "conv1": FieldKind.EXACT,
        "sort": FieldKind.DATA_DEPENDENT,
        "conv2": FieldKind.DATA_DEPENDENT,
        "skip": FieldKind.EXACT,
        "sum": FieldKind.DATA_DEPENDENT,
        "up": FieldKind.ENVELOPE,
    }
    by_name = {row.name: row for row in report.layers}
    for name in ("sort", "conv2", "sum"):
        row = by_name[name]
        assert (row.receptive_field, row.effective_stride, row.effective_padding) == (None,) * 3
    assert by_name["skip"].receptive_field == (5, 5)
    assert [name for name, note in report.notes if "depend on the data" in note] == ["sort"]


def _write(tmp_path: Path, text: str, name: str = "sorted.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_shapes_shows_a_data_dependent_field_as_unknown(sort_rows, tmp_path):
    result = CliRunner().invoke(app, ["shapes", _write(tmp_path, SORTED), "-f", "json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)["layers"]}
    assert rows["conv1"]["receptive_field"] == [3, 3]
    assert rows["sort"]["receptive_field"] is None
    assert rows["gap"]["receptive_field"] is None
    assert "depend on the data" in " ".join(rows["sort"]["notes"])
    table = CliRunner().invoke(app, ["shapes", _write(tmp_path, SORTED), "--columns", "name,rf"])
    assert table.exit_code == 0, table.output
    assert [line.split()[-2] for line in table.stdout.splitlines() if "sort " in line] == ["?"]


def test_check_skips_a_receptive_field_budget_with_a_note(sort_rows, tmp_path):
    """The field a min_receptive_field budget would hold depends on the data: not checked,
    said so, and no failure; the other budgets are checked as ever."""
    path = _write(tmp_path, SORTED)
    result = CliRunner().invoke(
        app, ["check", path, "--min-receptive-field", "5", "--max-params", "1000"]
    )
    assert result.exit_code == 0, result.output
    assert "min_receptive_field not checked: the receptive field of 'sum' depends on the data" in (
        " ".join(result.stdout.split())
    )
    data = json.loads(
        CliRunner()
        .invoke(app, ["check", path, "--min-receptive-field", "5@conv2", "-f", "json"])
        .stdout
    )
    (spec,) = data["specs"]
    assert spec["checks"] == [] and spec["ok"]
    assert any("of 'conv2' depends on the data" in note for note in spec["notes"])
    at_exact = CliRunner().invoke(app, ["check", path, "--min-receptive-field", "5@skip"])
    assert at_exact.exit_code == 0, at_exact.output
    assert "not checked" not in at_exact.stdout


def test_verify_skips_a_data_dependent_field_and_says_why(sort_rows, tmp_path):
    path = _write(tmp_path, SORTED)
    result = CliRunner().invoke(app, ["verify", path])
    assert result.exit_code == 0, result.output
    assert "all checks agree" in result.stdout
    text = " ".join(result.stdout.split())
    for index, name in ((2, "sort"), (3, "conv2"), (5, "sum"), (7, "gap")):
        assert (
            f"layer {index} ({name}): receptive_field not checked: the receptive field"
            " depends on the data" in text
        )
    assert "(conv1): receptive_field not checked" not in text
    data = json.loads(CliRunner().invoke(app, ["verify", path, "-f", "json"]).stdout)
    checks = {layer["name"]: layer["checks"]["receptive_field"] for layer in data["layers"]}
    assert data["ok"] and checks["sort"]["ok"]
    assert checks["sort"]["skipped"] == "the receptive field depends on the data"
    assert "skipped" not in checks["conv1"] and "skipped" not in checks["up"]


def test_compare_shares_no_receptive_field_with_a_data_dependent_one(sort_rows, tmp_path):
    first = _write(tmp_path, SORTED)
    second = _write(tmp_path, SORTED.replace("out_channels: 2", "out_channels: 4"), "b.yaml")
    result = CliRunner().invoke(app, ["compare", first, "vs", second, "-f", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [candidate["receptive_field"] for candidate in data["candidates"]] == [None, None]
    assert data["verdict"] == []
    table = CliRunner().invoke(app, ["compare", first, "vs", second])
    assert table.exit_code == 0, table.output
