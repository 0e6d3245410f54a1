"""How the command line names the options that the core marks with `errors.option`."""

from __future__ import annotations

from convcalc.errors import say_options

# Keyword names whose flag is not the name itself in kebab case.
RENAMED = {
    "input_shape": "--input",
    "sizes": "--set",
    "size_range": "--range",
    "output_format": "--format",
}


def flag(name: str) -> str:
    """'max_params' -> '--max-params'; 'input_shape' -> '--input'."""
    return RENAMED.get(name) or "--" + name.replace("_", "-")


def said(text: str) -> str:
    """Core text (a note, an error) with its options said as flags."""
    return say_options(text, flag)
