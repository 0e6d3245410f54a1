"""The kernel-stack notation of `convcalc compare`: '3x3x2', 'dw3x3 + 1x1', '3x3s2d2g4c128'.

Pure parsing, in the manner of einops' `parsing.py`: text in, plain data out, and nothing
known about layers. `compare` turns the terms into a spec. Grammar (case-insensitive):

    stack    := term ('+' term)*                  spaces allowed around '+'
    term     := ['dw'] extent ('x' extent){dims-1} ['x' repeat] modifier*
    modifier := ('s' | 'd' | 'g' | 'c') number   stride, dilation, groups, output channels

With 2 spatial dims `3x3x2` is two stacked 3x3 layers; with 3, `3x3x3` is one 3-d kernel and
`3x3x3x2` two of them. A mistake is reported with the column of the offending character.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from convcalc.errors import ConvCalcError

TIMES = "xX×"  # 3x3, 3X3 and 3×3 are the same kernel
DIGITS = "0123456789"
MODIFIERS = {"s": "stride", "d": "dilation", "g": "groups", "c": "output channels"}
# No modifier but stride and dilation makes sense on a depthwise term: its groups are its
# channels, and it keeps its input's channel count.
DEPTHWISE_REFUSES = ("g", "c")
# Nine digits keep every number below 2**31, the spec loader's bound on any size.
MAX_DIGITS = 9


@dataclass(frozen=True)
class Term:
    """One term of a stack: `repeat` stacked layers of one kernel."""

    kernel_size: tuple[int, ...]
    repeat: int = 1
    stride: int = 1
    dilation: int = 1
    groups: int = 1
    channels: int | None = None  # output channels; None: the stack's default
    depthwise: bool = False


class NotationError(ConvCalcError):
    """A mistake in an expression, with the 1-based column of the offending character."""

    multiline = True  # the expression and a caret under the offending character

    def __init__(self, text: str, column: int, problem: str) -> None:
        self.text = text
        self.column = column
        self.problem = problem
        pointer = " " * (column - 1) + "^"
        super().__init__(f"{text!r}, column {column}: {problem}\n  {text}\n  {pointer}")


def parse_stack(text: str, dims: int = 2) -> list[Term]:
    """'dw3x3 + 1x1c128' -> its terms, in the order they are applied."""
    scanner = _Scanner(text)
    scanner.skip_spaces()
    terms = [_term(scanner, dims)]
    while True:
        scanner.skip_spaces()
        if scanner.at_end():
            return terms
        if scanner.peek() != "+":
            scanner.fail(f"expected '+' and the next term, found {scanner.found()}")
        scanner.advance()
        scanner.skip_spaces()
        terms.append(_term(scanner, dims))


def parse_size(text: str, dims: int = 2) -> tuple[int, ...]:
    """An input size: '56' (every spatial dim) or '56x28' (one per dim)."""
    scanner = _Scanner(text)
    sizes = [scanner.number("a size")]
    while not scanner.at_end() and scanner.peek() in TIMES:
        if len(sizes) == dims:
            scanner.fail(f"too many sizes: give 1 or {dims}, one per spatial dim")
        scanner.advance()
        sizes.append(scanner.number("a size"))
    if not scanner.at_end():
        scanner.fail(f"expected 'x' and the next size, found {scanner.found()}")
    if len(sizes) == 1:
        return (sizes[0],) * dims
    if len(sizes) != dims:
        scanner.fail(f"{len(sizes)} sizes for {dims} spatial dims: give 1 or {dims}")
    return tuple(sizes)


def _term(scanner: _Scanner, dims: int) -> Term:
    depthwise = scanner.take_word("dw")
    if scanner.at_end() or scanner.peek() not in DIGITS:
        scanner.fail("expected a kernel such as 3x3, 3x3x2 (two layers) or dw3x3")
    kernel = [scanner.number("a kernel extent")]
    while len(kernel) < dims:
        if scanner.at_end() or scanner.peek() not in TIMES:
            example = "x".join(["3"] * dims)
            scanner.fail(
                f"expected 'x' and the next extent of a {dims}-d kernel (as in {example}),"
                f" found {scanner.found()}"
            )
        scanner.advance()
        kernel.append(scanner.number("a kernel extent"))
    repeat = 1
    if not scanner.at_end() and scanner.peek() in TIMES:
        scanner.advance()
        repeat = scanner.number("a repeat count")
        if not scanner.at_end() and scanner.peek() in TIMES:
            scanner.fail(
                f"too many extents: a {dims}-d kernel has {dims}, then optionally x and a repeat"
                " count"
            )
    given: dict[str, int] = {}
    while not scanner.at_end() and scanner.peek().lower() in MODIFIERS:
        letter = scanner.peek().lower()
        if letter in given:
            scanner.fail(f"{MODIFIERS[letter]} given twice")
        if depthwise and letter in DEPTHWISE_REFUSES:
            scanner.fail(
                f"a dw term takes no {MODIFIERS[letter]}: its groups are its channels and it"
                " keeps its input's channel count"
            )
        scanner.advance()
        given[letter] = scanner.number(f"the {MODIFIERS[letter]}")
    if given and not scanner.at_end() and scanner.peek() in TIMES:
        scanner.fail("the repeat count comes before the modifiers, as in 3x3x2s2")
    return Term(
        kernel_size=tuple(kernel),
        repeat=repeat,
        stride=given.get("s", 1),
        dilation=given.get("d", 1),
        groups=given.get("g", 1),
        channels=given.get("c"),
        depthwise=depthwise,
    )


class _Scanner:
    """A position in the text, and the few ways to read from it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0

    def at_end(self) -> bool:
        return self.position >= len(self.text)

    def peek(self) -> str:
        return self.text[self.position]

    def advance(self) -> None:
        self.position += 1

    def found(self) -> str:
        """What comes next, for an error message."""
        return "the end" if self.at_end() else repr(self.peek())

    def skip_spaces(self) -> None:
        while not self.at_end() and self.peek().isspace():
            self.advance()

    def take_word(self, word: str) -> bool:
        """Consume `word` (case-insensitive) if it comes next."""
        found = self.text[self.position : self.position + len(word)].lower() == word
        if found:
            self.position += len(word)
        return found

    def number(self, what: str) -> int:
        """A whole number of at least 1."""
        start = self.position
        while not self.at_end() and self.peek() in DIGITS:
            self.advance()
        digits = self.text[start : self.position]
        if not digits:
            self.fail(f"expected {what} (a whole number), found {self.found()}")
        if len(digits) > MAX_DIGITS:
            self.fail(f"{digits} is too large for {what} (at most {MAX_DIGITS} digits)", start)
        if int(digits) < 1:
            self.fail(f"{what} must be at least 1, got {digits}", start)
        return int(digits)

    def fail(self, problem: str, position: int | None = None) -> NoReturn:
        """Raise a NotationError at `position` (default: the current one)."""
        where = self.position if position is None else position
        raise NotationError(self.text, where + 1, problem)
