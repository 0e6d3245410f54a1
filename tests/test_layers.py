"""The registry of layer types: names, classes, and modules imported only when used."""

from __future__ import annotations

import subprocess
import sys

import pytest

from convcalc.layers import LAYER_TYPES
from convcalc.layers.base import Layer


@pytest.mark.parametrize("type_name", list(LAYER_TYPES))
def test_registry_name_is_the_class_type(type_name):
    cls = LAYER_TYPES[type_name]
    assert issubclass(cls, Layer)
    assert cls.type_name() == type_name


def test_registry_refuses_unknown_names():
    assert "conv" in LAYER_TYPES
    assert "block" not in LAYER_TYPES
    with pytest.raises(KeyError):
        LAYER_TYPES["block"]


def test_only_the_modules_of_the_types_used_are_imported():
    program = (
        "import sys\n"
        "from convcalc.spec import load_text\n"
        "load_text('input: [3, 8, 8]\\nlayers: [{type: conv, out_channels: 4, kernel_size: 3}]')\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('convcalc.layers.'))))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    ).stdout
    # conv's own module, the activations it fuses, and the base: no pool, upsample...
    assert output.split() == [
        "convcalc.layers.base",
        "convcalc.layers.conv",
        "convcalc.layers.elementwise",
    ]
