"""Rendering: the plain table written for pipes is the table rich draws on a terminal."""

from __future__ import annotations

import json
import re

import pytest

from convcalc import cli
from convcalc.commands import analyze_spec
from convcalc.render import Terminal, View, shapes, values
from convcalc.training import Setup


def table(report, columns, terminal: Terminal | None = None) -> str:
    """The `shapes` table of one report: plain, or drawn by rich for `terminal`."""
    return shapes.write_table([report], View(terminal, columns))


@pytest.mark.parametrize("spec", ["lenet5", "mobilenet_v1", "unet", "segnet"])
@pytest.mark.parametrize("columns", [shapes.DEFAULT_COLUMNS, tuple(shapes.layer_columns())])
def test_plain_table_matches_rich(spec, columns):
    # With training figures, so that every column has its values.
    report = analyze_spec(f"specs/{spec}.yaml", training=Setup())
    # rich without colour, wide enough never to squeeze a column
    drawn = table(report, columns, Terminal(400, color_system=None))
    written = table(report, columns)
    strip = lambda text: [line.rstrip() for line in text.splitlines()]  # noqa: E731
    assert strip(written) == strip(drawn)
    assert report.layers[-1].name in written


def test_markdown_and_csv_share_the_columns():
    report = analyze_spec("specs/lenet5.yaml")
    columns = ("name", "params", "macs")
    markdown = shapes.write_markdown([report], View(columns=columns))
    assert "| name | params | MACs |" in markdown
    csv_text = shapes.write_csv([report], View(columns=columns))
    # CSV headers are the JSON keys, and a last row gives the totals of the figures that sum.
    lines = csv_text.splitlines()
    assert lines[0] == "network,name,params,macs"
    assert len(lines) == 1 + len(report.layers) + 1
    assert lines[-1] == f"LeNet-5,total,{report.totals.params},{report.totals.macs}"


def test_csv_headers_are_the_json_keys():
    report = analyze_spec("specs/lenet5.yaml", training=Setup())  # every column
    header = (
        shapes.write_csv([report], View(columns=tuple(shapes.layer_columns())))
        .splitlines()[0]
        .split(",")
    )
    layer_keys = set(report.to_dict()["layers"][0])
    assert set(header[1:]) - layer_keys == {"share_of_macs"}


def test_markdown_share_is_the_percentage_alone():
    report = analyze_spec("specs/lenet5.yaml")
    markdown = shapes.write_markdown([report], View(columns=("name", "share")))
    assert "| C1 | 36.0% |" in markdown and "█" not in markdown


@pytest.mark.parametrize(
    ("count", "binary", "text"),
    [
        (999, False, "999"),
        (9_994, False, "9.99 k"),
        (9_999, False, "10.0 k"),
        (999_999, False, "1.00 M"),
        (25_557_032, False, "25.6 M"),
        (4_089_184_256, False, "4.09 G"),
        (512, True, "512 B"),
        (24 * 1024, True, "24.0 KiB"),
        (1024**3 - 1, True, "1.00 GiB"),
        (10**999, False, "1.00e999"),  # a budget of 1e999 overflowed a float
        (10**4000 - 1, True, "9.99e3999 B"),
        (2**64, False, "1.84e19"),
    ],
)
def test_human_units_keep_three_significant_digits(count, binary, text):
    assert values.human(count, binary) == text


ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize(
    "spec", ["specs/resnet50.yaml", "specs/lenet5.yaml", "specs/unet_same.yaml"]
)
def test_numbers_are_never_cut_in_a_narrow_terminal(spec: str, width: int):
    report = analyze_spec(spec)
    drawn = table(report, shapes.DEFAULT_COLUMNS, Terminal(width, color_system="standard"))
    text = ANSI.sub("", drawn)
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    table_lines = [line for line in text.splitlines() if line.startswith("│")]
    for row in report.layers:  # every layer's params and MACs, whole, in its row
        assert any(
            values.human(row.params) in line and values.human(row.macs) in line
            for line in table_lines
        ), row.name
    if width == 80 and spec != "specs/lenet5.yaml":
        assert "columns left out to fit 80 columns: share" in text


def test_a_real_80_column_terminal_keeps_the_numbers(tmp_path):
    """In a pseudo-terminal of 80 columns, as a user's shell gives it."""
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 80, 0, 0))
    environment = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    process = subprocess.Popen(
        [sys.executable, "-m", "convcalc", "shapes", "specs/resnet50.yaml"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**environment, "TERM": "xterm"},
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the follower closed: the process ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert process.wait(timeout=60) == 0
    os.close(leader)
    text = ANSI.sub("", b"".join(chunks).decode("utf-8", "replace")).replace("\r", "")
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    assert "25.6 M (25,557,032)" in text and "4.09 G (4,089,184,256)" in text
    assert "│ fc" in text and "2.05 M" in text


@pytest.mark.parametrize(
    "args",
    [
        ["compare", "3x3", "vs", "dw3x3 + 1x1", "--channels", "1024", "--size", "224"],
        ["compare", "specs/resnet18.yaml", "vs", "specs/resnet50.yaml"],
        ["check", "specs/resnet50.yaml", "--baseline", "specs/resnet18.yaml"],
        ["verify", "specs/lenet5.yaml"],
    ],
)
def test_compare_check_and_verify_fold_rather_than_cut_at_80_columns(args, monkeypatch):
    from typer.testing import CliRunner

    from convcalc.cli import app

    monkeypatch.setattr(cli, "terminal", lambda: Terminal(80, color_system="standard"))
    result = CliRunner().invoke(app, args)
    assert result.exit_code in (0, 1), result.output
    text = ANSI.sub("", result.stdout)
    assert text and "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_the_format_choices_and_their_help_come_from_the_registry():
    from typer.testing import CliRunner

    from convcalc import render
    from convcalc.cli import app

    assert render.formats("shapes") == ("table", "json", "markdown", "csv")
    assert render.format_help("check") == "table, json, markdown or github."
    assert render.format_help("verify") == "table or json."
    result = CliRunner().invoke(app, ["compare", "5x5", "vs", "3x3", "-f", "csv"])
    assert result.exit_code == 2
    assert "unknown format 'csv' (known: table, json)" in result.stderr


def test_one_json_encoder_writes_fractions_exact_and_tuples_as_lists():
    from fractions import Fraction

    from convcalc.render.encoding import to_json

    data = {"field": (Fraction(3, 2), Fraction(4, 2)), "count": 7, "none": None}
    assert json.loads(to_json(data)) == {"field": ["3/2", 2], "count": 7, "none": None}
    with pytest.raises(TypeError):
        to_json({"set": {1}})


def test_every_table_off_a_terminal_is_the_plain_box():
    from convcalc.render.table import Column, Row, Styled, Table, plain

    table = Table("title", [Column("a"), Column("b", "right"), Column("", "center")], [])
    rows = [Row(["x", "10", Styled("✓", "green")]), Row(["  └ part", "2", None], dim=True)]
    text = plain([Table(table.title, table.columns, rows, ["after"])])
    assert text.splitlines() == [
        "title",
        "┏━━━━━━━━━━┳━━━━┳━━━┓",
        "┃ a        ┃  b ┃   ┃",
        "┡━━━━━━━━━━╇━━━━╇━━━┩",
        "│ x        │ 10 │ ✓ │",
        "│   └ part │  2 │   │",
        "└──────────┴────┴───┘",
        "after",
    ]
