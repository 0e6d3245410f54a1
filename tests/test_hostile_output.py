"""Spec text is data in every format: names that look like markup, HTML, workflow
commands or spreadsheet formulas are written back as text, never run or rendered."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convcalc.cli import app

runner = CliRunner()


def spec_with(tmp_path: Path, name: str, file_name: str = "net.json") -> Path:
    """A small spec whose conv layer is called `name`; JSON, so any text can be written."""
    document = {
        "name": "net",
        "input": [3, 8, 8],
        "budget": {"max_params": 1},
        "layers": [
            {"name": name, "type": "conv", "out_channels": 4, "kernel_size": 3},
            {"name": "pool", "type": "global_avg_pool"},
        ],
    }
    path = tmp_path / file_name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["a\n::error title=PR::INJECTED", "x\r::error::y", "\x1b[31m"])
def test_a_name_with_a_control_character_is_refused(tmp_path: Path, name: str):
    result = runner.invoke(app, ["shapes", str(spec_with(tmp_path, name))])
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert "holds a control character" in line and line.startswith("error: ")


# Every character str.splitlines() breaks a line at, beyond C0 and DEL: NEL (C1), and
# Unicode's line and paragraph separators.
LINE_BREAKS = ["\x85", "\u2028", "\u2029"]
EVERY_FORMAT = [
    ["shapes", "-f", "table"],
    ["shapes", "-f", "json"],
    ["shapes", "-f", "markdown"],
    ["shapes", "-f", "csv"],
    ["check", "-f", "table"],
    ["check", "-f", "markdown"],
    ["check", "-f", "github"],
    ["verify"],
    ["compare"],
]


@pytest.mark.parametrize("character", LINE_BREAKS, ids=["NEL", "LS", "PS"])
@pytest.mark.parametrize("command", EVERY_FORMAT, ids=" ".join)
def test_a_name_with_a_unicode_line_break_cannot_start_a_line(
    tmp_path: Path, character: str, command: list[str]
):
    """A layer name holding NEL, U+2028 or U+2029 is refused like a newline, and the
    refusal stays one line wherever it is split: the character is written as an escape."""
    name = f"a{character}::error title=PR::INJECTED"
    path = str(spec_with(tmp_path, name))
    if command == ["compare"]:
        args = ["compare", str(spec_with(tmp_path, "conv", "old.json")), "vs", path]
    else:
        args = [command[0], path, *command[1:]]
    result = runner.invoke(app, args)
    output = result.stdout + result.stderr
    assert result.exit_code == 2, output
    assert character not in output and "holds a control character" in output
    assert not any(line.startswith("::error title=PR") for line in output.splitlines())
    if command[-1] == "github":  # the refusal is convcalc's own annotation, on one line
        assert [line[:7] for line in result.stdout.splitlines()] == ["::error", "convcal"]
    else:
        (line,) = result.stderr.splitlines()
        assert line.startswith("error: ") and result.stdout == ""


def test_printable_escapes_every_line_break():
    from convcalc.text import printable

    text = "a\nb\x85c\u2028d\u2029e\x0bf"
    assert printable(text) == "a\\nb\\x85c\\u2028d\\u2029e\\x0bf"
    assert len(printable(text).splitlines()) == 1


# Bidirectional formatting characters: each reorders the text after it on screen.
BIDI = [
    "\u061c",
    "\u200e",
    "\u200f",
    *map(chr, range(0x202A, 0x202F)),
    *map(chr, range(0x2066, 0x206A)),
]


@pytest.mark.parametrize("character", BIDI, ids=lambda c: f"U+{ord(c):04X}")
def test_a_name_with_a_bidi_control_is_refused_and_written_escaped(tmp_path: Path, character: str):
    """Trojan Source (CVE-2021-42574): U+202E in a name would show `a::lave` as `a` followed
    by the rest reversed. The name is refused, and the message writes it as an escape."""
    path = str(spec_with(tmp_path, f"safe{character}evil"))
    result = runner.invoke(app, ["shapes", path])
    assert result.exit_code == 2
    assert character not in result.stdout + result.stderr
    (line,) = result.stderr.splitlines()
    assert "holds a control character" in line and f"\\u{ord(character):04x}" in line


@pytest.mark.parametrize("name", ["[/x]", "[bold red]x[/]"])
@pytest.mark.parametrize("command", ["verify", "check", "compare"])
def test_markup_in_a_name_is_printed_as_written(tmp_path: Path, name: str, command: str):
    path = str(spec_with(tmp_path, name))
    args = {
        "verify": ["verify", path],
        "check": ["check", path, "--baseline", path],
        "compare": ["compare", str(spec_with(tmp_path, "conv", "old.json")), "vs", path],
    }[command]
    result = runner.invoke(app, args)
    assert not isinstance(result.exception, Exception), result.exc_info
    assert result.exit_code in (0, 1), result.stderr
    assert name in result.stdout


def test_html_and_mentions_do_not_reach_the_markdown_comment(tmp_path: Path):
    path = spec_with(tmp_path, "<img src=x> --> @here")
    for args in (["check", str(path), "-f", "markdown"], ["shapes", str(path), "-f", "markdown"]):
        result = runner.invoke(app, args)
        assert "<img" not in result.stdout and "@here" not in result.stdout
        assert result.stdout.count("-->") == result.stdout.count("<!-- convcalc check -->")
        assert "&lt;img src=x&gt;" in result.stdout and "@&#8203;here" in result.stdout


@pytest.mark.parametrize("name", ["=HYPERLINK(1)", "+1+2", "-2+3", "@SUM(A1)"])
def test_csv_cells_never_start_a_formula(tmp_path: Path, name: str):
    result = runner.invoke(app, ["shapes", str(spec_with(tmp_path, name)), "-f", "csv"])
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[1][1] == "'" + name
    # Numbers stay numbers: a negative effective padding is not quoted.
    padded = runner.invoke(
        app, ["shapes", str(spec_with(tmp_path, "c")), "-f", "csv", "--columns", "padding"]
    )
    assert list(csv.reader(io.StringIO(padded.stdout)))[1][1] == "0x0"


def test_a_budget_of_1e999_is_refused_before_anything_is_written(tmp_path: Path):
    path = str(spec_with(tmp_path, "conv"))
    result = runner.invoke(app, ["check", path, "--max-peak-activation-bytes", "1e999"])
    assert result.exit_code == 2 and result.stdout == ""
    assert "a limit of at most 1e60" in result.stderr
