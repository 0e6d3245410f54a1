"""Receptive fields: the Araujo et al. recurrences against brute-force dependency tracing."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from convcalc.errors import ConvCalcError
from tests.conftest import run

layer_configs = st.lists(
    st.tuples(
        st.integers(1, 5),  # kernel
        st.integers(1, 3),  # stride
        st.integers(0, 2),  # padding
        st.integers(1, 3),  # dilation
    ),
    min_size=1,
    max_size=5,
)


def traced_field(layers: list[tuple[int, int, int, int]], position: int) -> set[int]:
    """Input positions (padding included) that output `position` of the last layer reads."""
    positions = {position}
    for kernel, stride, padding, dilation in reversed(layers):
        positions = {
            p * stride - padding + tap * dilation for p in positions for tap in range(kernel)
        }
    return positions


@given(layers=layer_configs)
def test_recurrences_match_traced_dependencies(layers):
    size = 200
    specs = [
        {"type": "conv", "out_channels": 1, "kernel_size": k, "stride": s, "padding": p,
         "dilation": d}
        for k, s, p, d in layers
    ]  # fmt: skip
    try:
        row = run([1, size], *specs).layers[-1]
    except ConvCalcError:
        assume(False)  # the input shrank to nothing: not a field question
    first, second = traced_field(layers, 0), traced_field(layers, 1)
    assert row.receptive_field == (max(first) - min(first) + 1,)
    assert row.effective_padding == (-min(first),)
    assert row.effective_stride == (min(second) - min(first),)
    holes = len(first) < max(first) - min(first) + 1
    gridding = any("gridding" in note for note in row.notes)
    if gridding:
        assert holes


def test_residual_union_aligns_fields_by_position():
    # A 1x1 shortcut (field 1, offset 0) added to a 3x3 branch (field 3, padding 1):
    # the union spans 3, starting one position before the output's own.
    report = run(
        [1, 8],
        {"name": "branch", "type": "conv", "out_channels": 1, "kernel_size": 3, "padding": 1},
        {"name": "sum", "type": "add", "inputs": ["branch", "input"]},
    )
    row = report.layers[-1]
    assert (row.receptive_field, row.effective_padding, row.effective_stride) == (
        (3,), (1,), (1,),
    )  # fmt: skip
