"""specs/shufflenet_v2_x1_0.yaml beyond what tests/test_zoo.py checks of every torchvision
spec (its totals against torchvision's published figures, and every module against the
PyTorch model of tests/torch_zoo/shufflenet.py): the stages against the paper's Table 5,
and the steps that torchvision computes with functions rather than modules (x.chunk,
torch.cat, channel_shuffle), whose values no module's output shows directly."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from convcalc.analysis import Report
from convcalc.commands import analyze_spec
from convcalc.spec import load_path
from convcalc.verification import verify

SPEC = Path(__file__).resolve().parent.parent / "specs" / "shufflenet_v2_x1_0.yaml"
# Ma et al., "ShuffleNet V2", ECCV 2018, Table 5, the 1x column: output size and channels
# of each stage (the last unit of stage 2, 3 and 4, and conv5), 2.3M weights.
TABLE_5 = {
    "maxpool": (24, 56, 56),
    "stage2.3.shuffle": (116, 28, 28),
    "stage3.7.shuffle": (232, 14, 14),
    "stage4.3.shuffle": (464, 7, 7),
    "conv5.2": (1024, 7, 7),
}
UNITS = {2: 4, 3: 8, 4: 4}  # torchvision's stages_repeats [4, 8, 4]


@cache
def report() -> Report:
    return analyze_spec(SPEC)


def test_stages_are_table_5s():
    rows = {row.name: row for row in report().layers}
    assert {name: rows[name].output_shape for name in TABLE_5} == TABLE_5
    assert round(report().totals.params / 10**6, 1) == 2.3


def test_stride_1_units_split_their_input_in_halves():
    """x.chunk(2, dim=1) in each of the 13 stride-1 units: two halves of the unit's input."""
    rows = {row.name: row for row in report().layers}
    for stage, count in UNITS.items():
        for unit in range(1, count):
            previous = f"stage{stage}.{unit - 1}.shuffle"
            channels, *spatial = rows[previous].output_shape
            for half in (0, 1):
                row = rows[f"stage{stage}.{unit}.split.{half}"]
                assert row.inputs == (previous,)
                assert row.output_shape == (channels // 2, *spatial)


@cache
def reference_arrays() -> dict:
    """Every layer's output of the NumPy reference at 3x64x64, batch 2."""
    return verify(load_path(SPEC), input_shape=(3, 64, 64), batch=2, keep_arrays=True).arrays


def test_function_steps_equal_pytorchs_on_the_reference_values():
    """Each unit's chunk, cat and channel_shuffle, applied by PyTorch to the reference's own
    inputs of those steps (torchvision's code, tests/torch_zoo/shufflenet.py), give the
    reference's outputs."""
    torch = pytest.importorskip("torch")
    from torch_zoo.shufflenet import channel_shuffle

    arrays = reference_arrays()

    def output(name: str):
        return torch.from_numpy(arrays[f"{name}/output"])

    for stage, count in UNITS.items():
        for unit in range(count):
            path = f"stage{stage}.{unit}"
            if unit == 0:
                first, second = output(f"{path}.branch1.4"), output(f"{path}.branch2.7")
            else:
                x1, x2 = output(f"stage{stage}.{unit - 1}.shuffle").chunk(2, dim=1)
                np.testing.assert_array_equal(arrays[f"{path}.split.0/output"], x1.numpy())
                np.testing.assert_array_equal(arrays[f"{path}.split.1/output"], x2.numpy())
                first, second = x1, output(f"{path}.branch2.7")
            cat = torch.cat((first, second), dim=1)
            np.testing.assert_array_equal(arrays[f"{path}.cat/output"], cat.numpy())
            shuffled = channel_shuffle(output(f"{path}.cat"), 2)
            np.testing.assert_array_equal(arrays[f"{path}.shuffle/output"], shuffled.numpy())
