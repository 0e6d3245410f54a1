"""Rendering: the plain table written for pipes is the table rich draws on a terminal."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from convcalc import render
from convcalc.analysis import analyze_path


class Terminal(io.StringIO):
    """A text buffer that says it is a terminal, so print_tables asks rich to draw."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("spec", ["lenet5", "mobilenet_v1", "unet", "segnet"])
@pytest.mark.parametrize("columns", [render.DEFAULT_COLUMNS, tuple(render.COLUMNS)])
def test_plain_table_matches_rich(spec, columns, monkeypatch):
    report = analyze_path(f"specs/{spec}.yaml")
    plain_console = Console  # rich without colour, wide enough never to squeeze a column
    monkeypatch.setattr(
        "rich.console.Console",
        lambda **options: plain_console(**options, color_system=None, width=400),
    )
    drawn = Terminal()
    render.print_tables([report], columns, file=drawn)
    written = render.plain_table(report, columns)
    strip = lambda text: [line.rstrip() for line in text.splitlines()]  # noqa: E731
    assert strip(written) == strip(drawn.getvalue())
    assert report.layers[-1].name in written


def test_markdown_and_csv_share_the_columns():
    report = analyze_path("specs/lenet5.yaml")
    columns = ("name", "params", "macs")
    markdown = render.render_markdown([report], columns)
    assert "| name | params | MACs |" in markdown
    csv_text = render.render_csv([report], columns)
    # CSV headers are the JSON keys, and a last row gives the totals of the figures that sum.
    lines = csv_text.splitlines()
    assert lines[0] == "network,name,params,macs"
    assert len(lines) == 1 + len(report.layers) + 1
    assert lines[-1] == f"LeNet-5,total,{report.totals.params},{report.totals.macs}"


def test_csv_headers_are_the_json_keys():
    report = analyze_path("specs/lenet5.yaml")
    header = render.render_csv([report], tuple(render.COLUMNS)).splitlines()[0].split(",")
    layer_keys = set(render.to_dict(report)["layers"][0])
    assert set(header[1:]) - layer_keys == {"share_of_macs"}


def test_markdown_share_is_the_percentage_alone():
    report = analyze_path("specs/lenet5.yaml")
    markdown = render.render_markdown([report], ("name", "share"))
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
    assert render.human(count, binary) == text
