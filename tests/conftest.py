"""Shared helpers: analyze a network written inline as a Python dict."""

from __future__ import annotations

import pytest

from convcalc.analysis import Report, analyze
from convcalc.spec import build


def run(input_shape: list[int], *layers: dict, **header) -> Report:
    """Analyze a spec made of `input_shape` and `layers`."""
    return analyze(build({"input": input_shape, "layers": list(layers), **header}))


@pytest.fixture
def network():
    """The `run` helper, as a fixture."""
    return run
