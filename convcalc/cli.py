"""The command line: parse options, call the analysis, render, map errors to exit codes.

Only this module prints or exits. A user's mistake (ConvCalcError) is one line on stderr
and exit code 2; anything else is a bug and keeps its traceback.
"""

# Not `from __future__ import annotations`: Typer reads the annotations of every command's
# options on each run, and as strings it would compile and evaluate each one anew.

import inspect
import os
import re
import sys
import traceback
import types
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperCommand, TyperGroup

from convcalc import __version__, render
from convcalc.errors import ConvCalcError, option
from convcalc.flags import flag
from convcalc.render.shapes import layer_columns
from convcalc.text import cut, printable, shown

if TYPE_CHECKING:
    from convcalc.layers.base import Shape

EXIT_INVALID = 2
EXIT_BUG = 3
DIGITS = re.compile(r"[0-9]{1,9}")


class OneLineErrors(TyperGroup):
    """Typer's group, with a malformed call (unknown option, bad value, missing argument)
    reported as one `error:` line and exit code 2, like a bad spec, not a usage box."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
        except typer.Abort:
            typer.echo("Aborted!", err=True)
            result = 1
        except Exception as error:
            # Click's usage exceptions (vendored by recent Typer) all carry these two.
            if not (hasattr(error, "format_message") and hasattr(error, "exit_code")):
                raise
            if type(error).__name__ == "NoArgsIsHelpError":  # a bare `convcalc`: the usage
                typer.echo(error.ctx.get_help())
                return self._exit(0, standalone_mode)
            # The message may quote the value given: made printable and cut, as a spec's are.
            typer.echo(f"error: {printable(cut(error.format_message(), 200))}", err=True)
            result = EXIT_INVALID
        return self._exit(result, standalone_mode)

    @staticmethod
    def _exit(result, standalone_mode: bool):
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


class PlainHelp(TyperCommand):
    """Typer's command, its help in words: an argument is its metavar alone (`SPEC...`,
    not `{SPEC...}...` in the usage or `SPEC... <list[Path]>` under Arguments), and a
    range reads "at least 1", not "x>=1"."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument" and param.metavar:
                pieces.append(param.metavar if param.required else f"[{param.metavar}]")
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces

    def format_options(self, ctx, formatter) -> None:
        records: dict[str, list] = {"argument": [], "option": []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None or param.param_type_name not in records:
                continue
            name, text = record
            if param.param_type_name == "argument" and param.metavar:
                name = param.metavar
            records[param.param_type_name].append((name, _range_in_words(text)))
        for title, kind in (("Arguments", "argument"), ("Options", "option")):
            if records[kind]:
                with formatter.section(title):
                    formatter.write_dl(records[kind])


RANGES = (
    (re.compile(r"\b([0-9]+)<=x<=([0-9]+)\b"), r"\1 to \2"),
    (re.compile(r"\bx>=([0-9]+)\b"), r"at least \1"),
    (re.compile(r"\bx<=([0-9]+)\b"), r"at most \1"),
)


def _range_in_words(text: str) -> str:
    """Click's [1<=x<=3] and [x>=1] as [1 to 3] and [at least 1]."""
    for pattern, words in RANGES:
        text = pattern.sub(words, text)
    return text


app = typer.Typer(
    cls=OneLineErrors,
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: metavars as written (SPEC..., N), not Python types
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    help="Shapes, costs and receptive fields of convolutional networks, from a YAML/JSON spec.",
)


def fail(*errors: ConvCalcError) -> typer.Exit:
    """Print one error line per error on stderr, options said as flags; return the exit to
    raise."""
    for error in errors:
        typer.echo(f"error: {error.describe(flag)}", err=True)
    return typer.Exit(EXIT_INVALID)


def check_format(command: str, output_format: str) -> None:
    """Refuse a --format the command does not write."""
    known = render.formats(command)
    if output_format not in known:
        raise ConvCalcError(
            f"unknown format {shown(output_format)} (known: {', '.join(known)})",
            field=option("output_format"),
        )


def terminal() -> render.Terminal | None:
    """stdout's width and colour system when it is a terminal, which rich draws tables for;
    None off one (a pipe, a file, a CI log), where every table is a plain box."""
    if not sys.stdout.isatty():
        return None
    from rich.console import Console

    console = Console()
    return render.Terminal(console.width, console.color_system)


def write(
    command: str, output_format: str, result: object, columns: tuple[str, ...] | None = None
) -> None:
    """Render `result` and write it on stdout; only a table is drawn for the terminal."""
    on_terminal = terminal() if output_format == "table" else None
    text = render.render(command, output_format, result, render.View(on_terminal, columns))
    typer.echo(text, nl=False)


class verify_progress:  # noqa: N801 (used as a function in a with statement)
    """A transient progress bar on stderr while verify runs (nothing when not a terminal)."""

    def __enter__(self) -> Callable[[int, int], None]:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TimeElapsedColumn

        console = Console(stderr=True)
        self.progress = Progress(
            "verifying",
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self.progress.start()
        self.task = self.progress.add_task("verify", total=None)

        def update(done: int, total: int) -> None:
            self.progress.update(self.task, completed=done, total=total)

        return update

    def __exit__(self, *exc_info) -> None:
        self.progress.stop()


def parse_input_shape(text: str | None) -> tuple[int, ...] | None:
    """'3x224x224' -> (3, 224, 224)."""
    if text is None:
        return None
    from convcalc.spec import parse_input

    parts = text.lower().replace(",", "x").split("x")
    if not 2 <= len(parts) <= 4 or not all(DIGITS.fullmatch(part) and int(part) for part in parts):
        raise ConvCalcError(
            f"{shown(text)} is not CxH[xW[xD]] with positive sizes, e.g. 3x224x224",
            field=option("input_shape"),
        )
    try:  # the limits a spec's own `input:` has
        return parse_input([int(part) for part in parts]).as_tuple()
    except ConvCalcError as error:
        raise ConvCalcError(error.message, field=option("input_shape")) from None


def parse_symbolic_input(text: str | None) -> "Shape | None":
    """'3xHxW' -> Shape(3, ('H', 'W')): sizes may be numbers or symbol names."""
    if text is None:
        return None
    from convcalc.spec import parse_input

    parts = text.replace(",", "x").split("x")
    if not 2 <= len(parts) <= 4:
        raise ConvCalcError(
            f"{shown(text)} is not CxH[xW[xD]], e.g. 3xHxW or 3x224xW", field=option("input_shape")
        )
    try:
        return parse_input([int(part) if DIGITS.fullmatch(part) else part for part in parts])
    except ConvCalcError as error:
        raise ConvCalcError(error.message, field=option("input_shape")) from None


def parse_size_settings(texts: list[str] | None) -> dict[str, int]:
    """['H=224', 'W=320'] -> {'H': 224, 'W': 320}."""
    from convcalc.spec import SYMBOL_PATTERN

    setting = re.compile(rf"({SYMBOL_PATTERN})=([0-9]{{1,9}})")
    sizes: dict[str, int] = {}
    for text in texts or []:
        match = setting.fullmatch(text.strip())
        if not match:
            raise ConvCalcError(
                f"{shown(text)} is not NAME=SIZE, e.g. H=224", field=option("sizes")
            )
        name, size = match[1], int(match[2])
        if name in sizes:
            raise ConvCalcError(f"{name} is set twice", field=option("sizes"))
        sizes[name] = size
    return sizes


SET_HELP = "Give a symbolic input size a value, e.g. --set H=224 (repeatable)."


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


@app.command(cls=PlainHelp)
def shapes(
    specs: Annotated[
        list[Path], typer.Argument(metavar="SPEC...", help="Spec files (.yaml, .yml or .json).")
    ],
    output_format: Annotated[
        str, typer.Option("--format", "-f", metavar="FORMAT", help=render.format_help("shapes"))
    ] = "table",
    columns: Annotated[
        str | None,
        typer.Option(
            metavar="LIST",
            help=f"Comma-separated columns: {', '.join(layer_columns())}.",
        ),
    ] = None,
    input_shape: Annotated[
        str | None,
        typer.Option("--input", metavar="CxHxW", help="Override the input size, e.g. 3x224x224."),
    ] = None,
    batch: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="Override the batch size (figures are per batch)."),
    ] = None,
    settings: Annotated[
        list[str] | None, typer.Option("--set", metavar="NAME=SIZE", help=SET_HELP)
    ] = None,
    train: Annotated[
        bool,
        typer.Option(
            "--train",
            help="Add what a training step costs: backward MACs, saved activations, the"
            " gradients' and optimizer's memory, the training peak.",
        ),
    ] = False,
    optimizer: Annotated[
        str,
        typer.Option(metavar="NAME", help="With --train: sgd, momentum, adam or adamw."),
    ] = "adam",
    amp: Annotated[
        bool,
        typer.Option(
            "--amp",
            help="With --train: mixed precision (float16 weights, activations and gradients;"
            " float32 master weights and optimizer state).",
        ),
    ] = False,
) -> None:
    """Print each layer's output shape, params, MACs and receptive field, and the totals."""
    from convcalc import commands
    from convcalc.render.shapes import parse_columns, training_columns
    from convcalc.training import Setup

    try:
        check_format("shapes", output_format)
        chosen = parse_columns(columns)
        if not train:
            asked = [key for key in chosen if key in training_columns()]
            if asked:
                raise ConvCalcError(
                    f"column {asked[0]} is a training figure: add --train", field="--columns"
                )
        training = Setup(optimizer, amp) if train else None
        request = commands.ShapesRequest(
            specs,
            parse_input_shape(input_shape),
            batch,
            parse_size_settings(settings),
            training,
        )
    except ConvCalcError as error:
        raise fail(error) from None
    result = commands.shapes(request)
    if result.errors:  # nothing is written for a call with a bad spec: all errors, exit 2
        raise fail(*result.errors)
    write("shapes", output_format, result.reports, chosen)


EXIT_NO_SIZE = 1


@app.command("sizes", cls=PlainHelp)
def sizes_command(
    spec: Annotated[
        Path, typer.Argument(metavar="SPEC", help="Spec file whose input has symbolic sizes.")
    ],
    size_range: Annotated[
        str, typer.Option("--range", metavar="LOW..HIGH", help="Sizes to list, LOW..HIGH.")
    ] = "1..1024",
    dim: Annotated[
        str | None,
        typer.Option(metavar="SYMBOL", help="The symbol to scan (default: each in turn)."),
    ] = None,
    exact: Annotated[
        bool,
        typer.Option(
            "--exact", help="Only sizes no layer drops rows or columns of, nor crops off centre."
        ),
    ] = False,
    settings: Annotated[
        list[str] | None, typer.Option("--set", metavar="NAME=SIZE", help=SET_HELP)
    ] = None,
    input_shape: Annotated[
        str | None,
        typer.Option(
            "--input",
            metavar="CxHxW",
            help="Replace the spec's input, with symbols for the sizes to scan, e.g. 3xHxW.",
        ),
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", "-f", metavar="FORMAT", help=render.format_help("sizes"))
    ] = "table",
) -> None:
    """List the input sizes the network accepts, and the rule they follow.

    Exit 0 when some size in the range works, 1 when none does, 2 for a bad spec or call.
    """
    from convcalc import commands
    from convcalc.symbolic.scan import parse_range

    try:
        check_format("sizes", output_format)
        request = commands.SizesRequest(
            spec,
            dim,
            parse_range(size_range),
            exact,
            parse_size_settings(settings),
            parse_symbolic_input(input_shape),
        )
        result = commands.sizes(request)
    except ConvCalcError as error:
        raise fail(error) from None
    if result.errors:
        raise fail(*result.errors)
    write("sizes", output_format, result)
    if any(not scan.sizes for scan in result.scans):
        raise typer.Exit(EXIT_NO_SIZE)


@app.command(cls=PlainHelp)
def compare(
    candidates: Annotated[
        list[str],
        typer.Argument(
            metavar="A vs B [vs C ...]",
            help="Kernel stacks (5x5, 3x3x2, 3x1 + 1x3, dw3x3 + 1x1c128, 3x3s2d2g4) or two spec"
            " files (.yaml, .yml, .json), separated by `vs`.",
        ),
    ],
    dims: Annotated[
        int | None,
        typer.Option(min=1, max=3, metavar="N", help="Spatial dims of a kernel (default 2)."),
    ] = None,
    in_channels: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="Channels into the first layer (default 64)."),
    ] = None,
    out_channels: Annotated[
        int | None,
        typer.Option(
            min=1, metavar="N", help="Channels out of every conv without cN (default 64)."
        ),
    ] = None,
    channels: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="Both --in-channels and --out-channels.")
    ] = None,
    size: Annotated[
        str | None,
        typer.Option(
            metavar="SIZE",
            help="Input size (56 or 56x56): exact totals. Default: MACs per output position.",
        ),
    ] = None,
    padding: Annotated[
        str | None, typer.Option(metavar="valid|same", help="valid (default) or same, with --size.")
    ] = None,
    bias: Annotated[
        bool | None, typer.Option("--bias/--no-bias", help="Count biases (default: no).")
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", "-f", metavar="FORMAT", help=render.format_help("compare"))
    ] = "table",
) -> None:
    """Compare kernel stacks (3x3 + 3x3 vs 5x5), or two spec files layer by layer."""
    from convcalc import commands

    try:
        check_format("compare", output_format)
    except ConvCalcError as error:
        raise fail(error) from None
    options = dict(dims=dims, in_channels=in_channels, out_channels=out_channels)
    options.update(channels=channels, size=size, padding=padding, bias=bias)
    result = commands.compare(commands.CompareRequest(candidates, **options))
    if result.errors:
        raise fail(*result.errors)
    write("compare", output_format, result.comparison)


EXIT_MISMATCH = 1


@app.command(cls=PlainHelp)
def verify(
    spec: Annotated[Path, typer.Argument(metavar="SPEC", help="Spec file (.yaml, .yml or .json).")],
    output_format: Annotated[
        str, typer.Option("--format", "-f", metavar="FORMAT", help=render.format_help("verify"))
    ] = "table",
    input_shape: Annotated[
        str | None,
        typer.Option("--input", metavar="CxHxW", help="Override the input size, e.g. 3x64x64."),
    ] = None,
    batch: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="Override the batch size.")
    ] = None,
    seed: Annotated[
        int, typer.Option(min=0, metavar="N", help="Seed of the random weights and input.")
    ] = 0,
    save: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="Write the input, every output and every weight to this .npz."
        ),
    ] = None,
    max_memory: Annotated[
        str | None,
        typer.Option(
            metavar="BYTES",
            help="Cap on the reference's arrays, e.g. 1GiB or 512MiB (default 1GiB).",
        ),
    ] = None,
) -> None:
    """Run a NumPy reference forward pass and check every layer's figures against it."""
    from convcalc import commands
    from convcalc.budget import parse_bytes
    from convcalc.render.verify import mismatch_lines

    try:
        check_format("verify", output_format)
        override = parse_input_shape(input_shape)
        try:  # byte sizes read as in budgets: 1GiB is 2**30, 1GB is 10**9
            cap = None if max_memory is None else parse_bytes(max_memory)
        except ConvCalcError as error:
            raise error.add_context(field=option("max_memory")) from None
    except ConvCalcError as error:
        raise fail(error) from None
    with verify_progress() as progress:
        result = commands.verify(
            commands.VerifyRequest(spec, override, batch, seed, cap, save, progress)
        )
    if result.errors:
        raise fail(*result.errors)
    verification = result.verification
    write("verify", output_format, verification)
    if not verification.ok:
        for line in mismatch_lines(verification):
            typer.echo(f"mismatch: {line}", err=True)
        raise typer.Exit(EXIT_MISMATCH)


EXIT_OVER_BUDGET = 1
LIMIT = "Limit (flags win over the spec's budget): "


def _maxima_options(command):
    """`command` with one `--max-METRIC` option per total a budget can cap (figures.TOTALS),
    before its `--min-receptive-field`; it receives them in its `**maxima`."""
    from convcalc import figures

    signature = inspect.signature(command)
    parameters = [
        parameter
        for parameter in signature.parameters.values()
        if parameter.kind is not parameter.VAR_KEYWORD
    ]
    where = [parameter.name for parameter in parameters].index("min_receptive_field")
    options = [
        inspect.Parameter(
            f"max_{total.name}",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=None,
            annotation=Annotated[
                str | None,
                typer.Option(
                    metavar="BYTES" if total.unit == figures.BYTES else "N",
                    help=f"{LIMIT}{total.example}.",
                ),
            ],
        )
        for total in figures.TOTALS
        if total.budget
    ]
    parameters[where:where] = options
    command.__signature__ = signature.replace(parameters=parameters)
    command.__annotations__ = {
        **command.__annotations__,
        **{option.name: option.annotation for option in options},
    }
    return command


@app.command("check", cls=PlainHelp)
@_maxima_options
def check_budgets(
    specs: Annotated[
        list[str],
        typer.Argument(metavar="SPEC...", help="Spec files or globs (quoted: 'specs/**/*.yaml')."),
    ],
    output_format: Annotated[
        str,
        typer.Option("--format", "-f", metavar="FORMAT", help=render.format_help("check")),
    ] = "table",
    baseline: Annotated[
        str | None,
        typer.Option(
            metavar="PATH",
            help="The spec on the base branch, or a directory holding the base branch's specs"
            " at the same paths: growth is measured against it.",
        ),
    ] = None,
    max_growth: Annotated[
        str | None,
        typer.Option(
            metavar="METRIC=PCT,...",
            help="Largest growth against --baseline, e.g. params=5%,macs=10%.",
        ),
    ] = None,
    min_receptive_field: Annotated[
        str | None,
        typer.Option(
            metavar="SIZE[@LAYER]", help="Smallest receptive field, e.g. 200, 96x96 or 200@layer4."
        ),
    ] = None,
    output_shape: Annotated[
        str | None,
        typer.Option(metavar="CxHxW", help="Exact output shape, e.g. 1000 or 21x224x224."),
    ] = None,
    settings: Annotated[
        list[str] | None, typer.Option("--set", metavar="NAME=SIZE", help=SET_HELP)
    ] = None,
    **maxima: str | None,  # one --max-METRIC option per budget metric: see _maxima_options
) -> None:
    """Hold each spec to its budget: exit 0 if all hold, 1 if one is exceeded, 2 if invalid."""
    from convcalc import commands

    limits = {
        **maxima,
        "min_receptive_field": min_receptive_field,
        "output_shape": output_shape,
        "max_growth": max_growth,
    }
    try:
        check_format("check", output_format)
        request = commands.CheckRequest(specs, limits, baseline, parse_size_settings(settings))
        run = commands.check(request)
    except ConvCalcError as error:
        raise fail(error) from None
    if run.errors:
        # As in `shapes`: every invalid spec named, exit 2. Only the github format writes
        # them on stdout too, as annotations on the spec lines.
        if output_format == "github":
            write("check", output_format, run)
        raise fail(*run.errors)
    write("check", output_format, run)
    if not run.ok:
        raise typer.Exit(EXIT_OVER_BUDGET)


def main() -> None:
    """Console-script entry point."""
    # convcalc uses no pydantic plugins; looking them up scans every installed package's
    # entry points, a tenth of the startup time of `shapes`.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    _skip_plugin_loader()
    try:
        app()
    except Exception:
        # A bug, not a user's mistake: the traceback, and an exit code of its own, so that
        # CI never reads a crash as `check`'s "budget exceeded" (1) or a bad spec (2).
        traceback.print_exc()
        sys.exit(EXIT_BUG)


PLUGIN_LOADER = "pydantic.plugin._loader"


def _skip_plugin_loader() -> None:
    """Stand in for pydantic's plugin loader while its plugins are all disabled.

    Disabled, the loader finds no plugins, but importing it imports importlib.metadata (and
    with it email, zipfile, csv...), a twentieth of the start-up of `shapes`. The stand-in
    answers `get_plugins()` as the loader would; anything else asked of it (a later pydantic
    may ask more) loads the real loader and answers from it.
    """
    if os.environ.get("PYDANTIC_DISABLE_PLUGINS") not in ("__all__", "1", "true"):
        return
    if PLUGIN_LOADER in sys.modules:
        return
    stand_in = types.ModuleType(PLUGIN_LOADER)
    stand_in.get_plugins = lambda: ()

    def real(name: str):
        if name.startswith("__"):  # what the import system asks of any module
            raise AttributeError(name)
        if sys.modules.get(PLUGIN_LOADER) is stand_in:
            del sys.modules[PLUGIN_LOADER]
        import importlib

        return getattr(importlib.import_module(PLUGIN_LOADER), name)

    stand_in.__getattr__ = real
    sys.modules[PLUGIN_LOADER] = stand_in
