"""The spec loader: blocks, repeats, names, inputs, aliases and safe parsing."""

from __future__ import annotations

import json

import pytest

from convcalc.errors import ConvCalcError
from convcalc.spec import load_text

BLOCKS = """
input: [8, 16, 16]
blocks:
  unit:
    args: {width: 8, stride: 1}
    layers:
      - {name: conv, type: conv, out_channels: "${2 * width}", kernel_size: 3,
         stride: "${stride}", padding: 1}
      - {name: proj, type: conv, out_channels: "${2 * width}", kernel_size: 1,
         stride: "${stride}", inputs: [in]}
      - {name: sum, type: add, inputs: [conv, proj]}
  stage:
    args: {width: 8}
    layers:
      - {name: first, type: block, use: unit, args: {width: "${width}", stride: 2}}
      - {name: rest, type: block, use: unit, args: {width: "${width}"}, repeat: 2}
layers:
  - {name: s1, type: block, use: stage, args: {width: 4}}
  - {name: head, type: conv, out_channels: 3, kernel_size: 1, inputs: [s1]}
"""


def test_blocks_expand_with_dotted_names_and_arguments():
    network = load_text(BLOCKS)
    names = [layer.name for layer in network.layers]
    assert names[:3] == ["s1.first.conv", "s1.first.proj", "s1.first.sum"]
    assert names[3:6] == ["s1.rest.0.conv", "s1.rest.0.proj", "s1.rest.0.sum"]
    assert names[-1] == "head"
    by_name = {layer.name: layer for layer in network.layers}
    assert by_name["s1.first.conv"].out_channels == 8
    assert by_name["s1.first.conv"].stride == 2
    assert by_name["s1.rest.0.conv"].stride == 1
    # `in` is the block's input; the next repeat reads the previous one's output.
    assert by_name["s1.first.proj"].inputs == ["input"]
    assert by_name["s1.rest.1.proj"].inputs == ["s1.rest.0.sum"]
    # A block's name stands for its last output.
    assert by_name["head"].inputs == ["s1.rest.1.sum"]


def test_repeat_chains_copies():
    network = load_text(
        "input: [1, 8]\nlayers:\n  - {name: c, type: conv, out_channels: 1, kernel_size: 1,"
        " repeat: 3}\n  - {type: add, inputs: [c, input]}\n"
    )
    assert [layer.name for layer in network.layers] == ["c.0", "c.1", "c.2", "add2"]
    assert network.layers[1].inputs == ["c.0"]
    assert network.layers[-1].inputs == ["c.2", "input"]


def test_json_spec_and_alias():
    text = json.dumps({"input": [3, 8, 8], "layers": [{"type": "conv2d", "out_channels": 2,
                                                       "kernel_size": 3}]})  # fmt: skip
    network = load_text(text, json_format=True)
    assert network.layers[0].type_name() == "conv"
    assert network.layers[0].name == "conv2d1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("input: [1, 8]\nlayers:\n  - {type: block, use: a}\nblocks:\n  a:\n    layers:\n"
         "      - {type: block, use: a}\n", "block uses itself: a -> a"),
        ("input: [1, 8]\nlayers:\n  - {type: conv, out_channels: 1, kernel_size: 1,"
         " inputs: [later]}\n  - {name: later, type: dropout}\n", "comes later"),
        ("input: [1, 8]\nlayers:\n  - {type: convv, kernel_size: 1}\n", "did you mean 'conv'"),
        ("input: [1, 8]\nlayers:\n  - {type: conv, out_channels: '${1 +}', kernel_size: 1}\n",
         "not an arithmetic expression"),
        ("input: [1, 8]\nlayers: []\n", "no layers"),
        ("input: [1, 8]\ninput: [1, 9]\nlayers: []\n", "duplicate key 'input'"),
        ("input: [1, 8]\nlayers:\n  - {type: conv, out_channels: 1, kernel_size: 1,"
         " repeat: 1000000000}\n", "from 1 to 20000"),
        ("!!python/object/apply:os.system ['true']\n", "invalid YAML"),
    ],
)  # fmt: skip
def test_refused_specs(text, message):
    with pytest.raises(ConvCalcError, match=message):
        load_text(text)


def test_error_names_layer_line_and_field():
    text = "input: [1, 8]\nlayers:\n  - {name: a, type: dropout}\n  - {name: b, type: conv,\n" \
           "     out_channels: 0, kernel_size: 3}\n"  # fmt: skip
    with pytest.raises(ConvCalcError) as caught:
        load_text(text)
    error = caught.value
    assert (error.layer_index, error.layer_name, error.field, error.line) == (
        2, "b", "out_channels", 4,
    )  # fmt: skip
    assert "greater than or equal to 1" in str(error)
