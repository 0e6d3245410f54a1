"""Block argument expressions: arithmetic over arguments, and nothing else."""

from __future__ import annotations

import pytest

from convcalc.errors import ConvCalcError
from convcalc.expr import evaluate


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("${width}", 64),
        ("${4 * width}", 256),
        ("${(width + 2) // 3}", 22),
        ("${width / 2}", 32),
        ("${-width % 5}", 1),
        ("${2 ** 3}", 8),
        ("${flag}", True),
        ("${ sizes }", [3, 1]),
    ],
)
def test_allowed(text, value):
    assert evaluate(text, {"width": 64, "flag": True, "sizes": [3, 1]}) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${__import__('os')}", "only integers"),
        ("${width.real}", "only integers"),
        ("${open('x')}", "only integers"),
        ("${[1, 2]}", "only integers"),
        ("${lambda: 1}", "only integers"),
        ("${True}", "only integers"),
        ("${width / 0}", "division by zero"),
        ("${width / 3}", "not a whole number"),
        ("${2 ** 100}", "exponent"),
        ("${10 ** 60}", "too large"),
        ("${depth}", "unknown argument 'depth'"),
        ("${flag + 1}", "needs integers"),
        ("x${width}", "whole value"),
        ("${" + "1+" * 200 + "1}", "longer than"),
    ],
)
def test_refused(text, message):
    with pytest.raises(ConvCalcError, match=message):
        evaluate(text, {"width": 64, "flag": True})
