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
    assert csv_text.splitlines()[0] == "network,name,params,MACs"
    assert len(csv_text.splitlines()) == 1 + len(report.layers)


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
    ],
)
def test_human_units_keep_three_significant_digits(count, binary, text):
    assert render.human(count, binary) == text
