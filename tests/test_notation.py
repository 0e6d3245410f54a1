"""The kernel-stack notation: what each expression parses to, and where a mistake is pointed at."""

from __future__ import annotations

import pytest

from convcalc.notation import NotationError, Term, parse_size, parse_stack


@pytest.mark.parametrize(
    ("text", "dims", "terms"),
    [
        ("3x3", 2, [Term((3, 3))]),
        ("5x5", 2, [Term((5, 5))]),
        ("3x3x2", 2, [Term((3, 3), repeat=2)]),
        ("3x3 + 3x3", 2, [Term((3, 3)), Term((3, 3))]),
        ("3x1+1x3", 2, [Term((3, 1)), Term((1, 3))]),
        ("  3x1  +  1x3 ", 2, [Term((3, 1)), Term((1, 3))]),
        ("dw3x3 + 1x1", 2, [Term((3, 3), depthwise=True), Term((1, 1))]),
        ("DW3X3+1x1c128", 2, [Term((3, 3), depthwise=True), Term((1, 1), channels=128)]),
        ("3×3", 2, [Term((3, 3))]),
        ("3x3s2d2g4c128", 2, [Term((3, 3), stride=2, dilation=2, groups=4, channels=128)]),
        ("3x3c128g4d2s2", 2, [Term((3, 3), stride=2, dilation=2, groups=4, channels=128)]),
        ("3x3x2s2", 2, [Term((3, 3), repeat=2, stride=2)]),
        ("dw3x3s2d2", 2, [Term((3, 3), stride=2, dilation=2, depthwise=True)]),
        ("1x1g4+1x1g4", 2, [Term((1, 1), groups=4), Term((1, 1), groups=4)]),
        # --dims 3: three extents make one kernel, a fourth number is the repeat count.
        ("3x3x3", 3, [Term((3, 3, 3))]),
        ("3x3x3x2", 3, [Term((3, 3, 3), repeat=2)]),
        ("3", 1, [Term((3,))]),
        ("3x4", 1, [Term((3,), repeat=4)]),
    ],
)
def test_parses(text, dims, terms):
    assert parse_stack(text, dims) == terms


@pytest.mark.parametrize(
    ("text", "dims", "size"),
    [("56", 2, (56, 56)), ("56x28", 2, (56, 28)), ("7", 3, (7, 7, 7)), ("16x8x8", 3, (16, 8, 8))],
)
def test_sizes(text, dims, size):
    assert parse_size(text, dims) == size


@pytest.mark.parametrize(
    ("parse", "text", "dims", "column", "problem"),
    [
        (parse_stack, "3x3+5y5", 2, 6, "expected 'x' and the next extent of a 2-d kernel"),
        (parse_stack, "", 2, 1, "expected a kernel"),
        (parse_stack, "3x3+", 2, 5, "expected a kernel"),
        (parse_stack, "3x3 + + 5x5", 2, 7, "expected a kernel"),
        (parse_stack, "3", 2, 2, "found the end"),
        (parse_stack, "3x3", 3, 4, "a 3-d kernel"),
        (parse_stack, "3x3x3x2", 2, 6, "too many extents"),
        (parse_stack, "3x0", 2, 3, "at least 1, got 0"),
        (parse_stack, "3x3x0", 2, 5, "repeat count must be at least 1"),
        (parse_stack, "3x3s", 2, 5, "expected the stride"),
        (parse_stack, "3x3s2s2", 2, 6, "stride given twice"),
        (parse_stack, "3x3s2x2", 2, 6, "the repeat count comes before the modifiers"),
        (parse_stack, "dw3x3g2", 2, 6, "a dw term takes no groups"),
        (parse_stack, "dw3x3c8", 2, 6, "a dw term takes no output channels"),
        (parse_stack, "d3x3", 2, 1, "expected a kernel"),
        (parse_stack, "3x3 s2", 2, 5, "expected '+' and the next term, found 's'"),
        (parse_stack, "3x3;5x5", 2, 4, "found ';'"),
        (parse_stack, "3x3c1234567890", 2, 5, "too large"),
        (parse_stack, "3x²", 2, 3, "found '²'"),
        (parse_size, "56x", 2, 4, "expected a size"),
        (parse_size, "56x56x56", 2, 6, "too many sizes"),
        (parse_size, "8x8", 3, 4, "2 sizes for 3 spatial dims"),
        (parse_size, "0", 2, 1, "at least 1"),
        (parse_size, "56,56", 2, 3, "found ','"),
    ],
)
def test_refuses_with_the_column(parse, text, dims, column, problem):
    with pytest.raises(NotationError) as caught:
        parse(text, dims)
    assert problem in caught.value.problem
    assert caught.value.column == column
    # The message shows the text with a caret under the offending character.
    first, shown, pointer = str(caught.value).split("\n")
    assert first.startswith(f"{text!r}, column {column}: ")
    assert shown == f"  {text}"
    assert pointer == "  " + " " * (column - 1) + "^"
