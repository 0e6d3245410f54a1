"""The one exception family for a user's mistakes, carrying where the mistake is."""

from __future__ import annotations

import re
from collections.abc import Callable

from convcalc.text import cut, printable

# An option of a call (a Python keyword, a command-line flag), as the core names it: marked
# in the message so that each front end can say it its own way. A NUL cannot come from
# user text here: spec text reaches messages through `shown`, which writes it as \x00.
_OPTION = re.compile("\x00([a-z_]+)\x00")


def option(name: str) -> str:
    """An option of the call, by its keyword name (`input_shape`), for a message or `field`:
    the Python API writes `input_shape`, the command line its flag (`--input`)."""
    return f"\x00{name}\x00"


def keyword(name: str) -> str:
    """How the Python API says an option: its keyword name."""
    return name


def say_options(text: str, say_option: Callable[[str], str] = keyword) -> str:
    """`text` with each option marked by `option` said by `say_option`."""
    return _OPTION.sub(lambda match: say_option(match[1]), text)


class ConvCalcError(Exception):
    """A mistake in a spec or a call: reported in one line, exit code 2, no traceback.

    The line is spec text made printable: a name holding a newline cannot start a line of
    its own (in CI logs, a GitHub workflow command).
    """

    multiline = False  # True for a message laid out on several lines on purpose

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        layer_index: int | None = None,
        layer_name: str | None = None,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.layer_index = layer_index
        self.layer_name = layer_name
        self.field = field
        self.line = line

    def add_context(
        self,
        *,
        file: str | None = None,
        layer_index: int | None = None,
        layer_name: str | None = None,
        field: str | None = None,
        line: int | None = None,
    ) -> ConvCalcError:
        """Fill in the place of the mistake where it is not known yet; return self."""
        self.file = self.file or file
        self.layer_index = self.layer_index if self.layer_index is not None else layer_index
        self.layer_name = self.layer_name or layer_name
        self.field = self.field or field
        self.line = self.line or line
        return self

    def __str__(self) -> str:
        return self.describe(keyword)

    def describe(self, say_option: Callable[[str], str]) -> str:
        """The one line, with each option said by `say_option` (keyword name -> text)."""
        where = []
        if self.file or self.line:
            where.append(":".join(str(part) for part in (self.file, self.line) if part))
        if self.layer_index is not None or self.layer_name:
            label = "layer"
            if self.layer_index is not None:
                label += f" {self.layer_index}"
            if self.layer_name:
                label += f" ({cut(self.layer_name)})"
            where.append(label)
        # Options are said in the field and message only: file and layer names are user text.
        said = [say_options(text, say_option) for text in (self.field, self.message) if text]
        line = ": ".join([*where, *said])
        if self.multiline:
            return "\n".join(printable(part) for part in line.split("\n"))
        return printable(line)
