"""The command line: parse options, call the analysis, render, map errors to exit codes.

Only this module prints or exits. A user's mistake (ConvCalcError) is one line on stderr
and exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from convcalc import __version__
from convcalc.errors import ConvCalcError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Shapes, costs and receptive fields of convolutional networks, from a YAML/JSON spec.",
)

EXIT_INVALID = 2


def fail(message: str) -> typer.Exit:
    """Print one error line on stderr; return the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_INVALID)


def parse_input_shape(text: str | None) -> tuple[int, ...] | None:
    """'3x224x224' -> (3, 224, 224)."""
    if text is None:
        return None
    parts = text.lower().replace(",", "x").split("x")
    if not 2 <= len(parts) <= 4 or not all(part.isdigit() and int(part) > 0 for part in parts):
        raise ConvCalcError(
            f"{text!r} is not CxH[xW[xD]] with positive sizes, e.g. 3x224x224", field="--input"
        )
    return tuple(int(part) for part in parts)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"convcalc {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """convcalc: exact, documented shape and cost figures for CNN specs."""


@app.command()
def shapes(
    specs: Annotated[list[Path], typer.Argument(help="Spec files (.yaml, .yml or .json).")],
    output_format: Annotated[
        str, typer.Option("--format", "-f", help="table, json, markdown or csv.")
    ] = "table",
    columns: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated columns: name, type, inputs, output, params, macs, flops,"
            " connections, memory, rf, stride, padding, share.",
        ),
    ] = None,
    input_shape: Annotated[
        str | None, typer.Option("--input", help="Override the input size, e.g. 3x224x224.")
    ] = None,
    batch: Annotated[
        int | None, typer.Option(min=1, help="Override the batch size (figures are per batch).")
    ] = None,
) -> None:
    """Print each layer's output shape, params, MACs and receptive field, and the totals."""
    from convcalc import render
    from convcalc.analysis import analyze_path

    try:
        if output_format not in render.FORMATS:
            raise ConvCalcError(
                f"unknown format {output_format!r} (known: {', '.join(render.FORMATS)})",
                field="--format",
            )
        chosen = render.parse_columns(columns)
        override = parse_input_shape(input_shape)
    except ConvCalcError as error:
        raise fail(str(error)) from None

    reports, errors = [], []
    for path in specs:
        try:
            reports.append(analyze_path(path, override, batch))
        except ConvCalcError as error:
            errors.append(str(error))
    if errors:
        # Nothing is written for a call with a bad spec: all errors, then exit 2.
        for message in errors[:-1]:
            typer.echo(f"error: {message}", err=True)
        raise fail(errors[-1])

    if output_format == "table":
        render.print_tables(reports, chosen)
    elif output_format == "json":
        typer.echo(render.render_json(reports))
    elif output_format == "markdown":
        typer.echo(render.render_markdown(reports, chosen))
    else:
        sys.stdout.write(render.render_csv(reports, chosen))


def main() -> None:
    """Console-script entry point."""
    # convcalc uses no pydantic plugins; looking them up scans every installed package's
    # entry points, a tenth of the startup time of `shapes`.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    app()
