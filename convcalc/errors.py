"""The one exception family for a user's mistakes, carrying where the mistake is."""

from __future__ import annotations

from convcalc.text import cut, printable


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
        if self.field:
            where.append(self.field)
        line = ": ".join([*where, self.message])
        if self.multiline:
            return "\n".join(printable(part) for part in line.split("\n"))
        return printable(line)
