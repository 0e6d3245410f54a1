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


STAGE = """
input: [4, 8, 8]
blocks:
  unit:
    layers:
      - {name: conv1, type: conv, out_channels: 4, kernel_size: 3, padding: 1}
layers:
  - {name: layer2.0, type: block, use: unit}
  - {name: layer2, type: block, use: unit, repeat: 2, start: 1}
  - {name: relu, type: activation, function: relu, start: 5}
  - {name: head, type: conv, out_channels: 2, kernel_size: 1, inputs: [layer2]}
"""


def test_start_numbers_copies_as_torchvision_numbers_a_stage():
    """torchvision's layer2 is layer2.0 (with the projection) then layer2.1, layer2.2."""
    network = load_text(STAGE)
    names = [layer.name for layer in network.layers]
    assert names == ["layer2.0.conv1", "layer2.1.conv1", "layer2.2.conv1", "relu.5", "head"]
    by_name = {layer.name: layer for layer in network.layers}
    assert by_name["layer2.1.conv1"].inputs == ["layer2.0.conv1"]
    assert by_name["head"].inputs == ["layer2.2.conv1"]


@pytest.mark.parametrize("start", ["-1", "one", "1.5", "true"])
def test_start_must_be_a_whole_number(start: str) -> None:
    with pytest.raises(ConvCalcError, match="start") as caught:
        load_text(STAGE.replace("start: 1}", f"start: {start}}}"))
    assert caught.value.field == "start"


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
    assert "must be at least 1, got 0" in str(error)


# Hostile documents: each is refused in one line, before anything recurses or overflows.
HEAD = "input: [3, 8, 8]\nlayers:\n  - {type: conv, out_channels: 4, kernel_size: 3}\n"
HOSTILE_DOCUMENTS = [
    pytest.param(HEAD + "name: " + "[" * 500 + "]" * 500, False, "nested more than 64", id="yaml"),
    pytest.param(HEAD + "name: " + "[" * 80 + "]" * 80, False, "nested more than 64", id="yaml-80"),
    pytest.param(
        '{"input": [3, 8, 8], "layers": [{"type": "flatten"}], "name": '
        + "[" * 950
        + "]" * 950
        + "}",
        True,
        "nested more than 64",
        id="json",
    ),
    pytest.param(HEAD + "batch: " + "9" * 5_000, False, "an integer of 5000 characters", id="int"),
    pytest.param(
        '{"input": [3, 8, 8], "layers": [{"type": "flatten"}], "batch": ' + "9" * 5_000 + "}",
        True,
        "an integer of 5000 characters",
        id="json-int",
    ),
    pytest.param(HEAD + "dtype: []", False, "dtype: one of float32", id="dtype-list"),
    pytest.param(HEAD + "dtype: {}", False, "dtype: one of float32", id="dtype-mapping"),
]


@pytest.mark.parametrize(("text", "json_format", "expected"), HOSTILE_DOCUMENTS)
def test_hostile_documents_are_refused(text: str, json_format: bool, expected: str):
    with pytest.raises(ConvCalcError) as caught:
        load_text(text, json_format=json_format)
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 200


def test_a_chain_of_blocks_is_bounded():
    chain = "".join(
        f"  b{i}:\n    layers:\n      - {{type: block, use: b{i + 1}}}\n" for i in range(500)
    )
    text = f"input: [3, 8, 8]\nblocks:\n{chain}  b500:\n    layers:\n      - {{type: flatten}}\n"
    with pytest.raises(ConvCalcError, match="blocks nested more than 32 deep: b0 -> b1"):
        load_text(text + "layers:\n  - {type: block, use: b0}\n")


def test_32_nested_blocks_are_fine():
    chain = "".join(
        f"  b{i}:\n    layers:\n      - {{type: block, use: b{i + 1}}}\n" for i in range(31)
    )
    text = f"input: [3, 8, 8]\nblocks:\n{chain}  b31:\n    layers:\n      - {{type: flatten}}\n"
    network = load_text(text + "layers:\n  - {name: x, type: block, use: b0}\n")
    assert network.layers[0].name == "x." + "block1." * 31 + "flatten1"


@pytest.mark.parametrize(
    "value", ["9" * 4_364, "'" + "x" * 100_000 + "'", "[" + ", ".join(["-1"] * 9_000) + "]"]
)
def test_quoted_values_are_cut(value: str):
    with pytest.raises(ConvCalcError) as caught:
        load_text(HEAD + f"  - {{type: conv, out_channels: 4, kernel_size: {value}}}\n")
    assert len(str(caught.value)) < 300


def test_long_names_are_cut_in_messages():
    name = "n" * 100_000
    with pytest.raises(ConvCalcError) as caught:
        load_text(HEAD + f"  - {{name: {name}, type: conv, out_channels: 4, groups: 3}}\n")
    assert len(str(caught.value)) < 300 and "(+99941 characters)" in str(caught.value)


def test_control_characters_in_messages_are_escaped():
    with pytest.raises(ConvCalcError) as caught:
        load_text(HEAD + '  - {name: "a\\n::error::x", type: conv, out_channels: 4, groups: 3}\n')
    assert "\n" not in str(caught.value) and "a\\n::error::x" in str(caught.value)


DOTTED = """
input: [1, 64]
blocks:
  residual:
    layers:
      - {name: conv, type: conv, out_channels: 4, kernel_size: 3, padding: same, dilation: 2}
      - {name: skip, type: conv, out_channels: 4, kernel_size: 1}
      - {name: out, type: add, inputs: [conv, skip]}
layers:
  - {name: layer1.0.conv1, type: conv, out_channels: 4, kernel_size: 1}
  - {name: stack, type: block, use: residual, repeat: 3}
  - {name: skips, type: add, inputs: [stack.0.skip, stack.1.skip, stack.2.skip]}
"""


def test_pytorch_style_dotted_names_and_full_name_references():
    network = load_text(DOTTED)
    names = [layer.name for layer in network.layers]
    assert names[0] == "layer1.0.conv1"
    assert network.layers[-1].inputs == ["stack.0.skip", "stack.1.skip", "stack.2.skip"]


def test_a_dotted_name_that_expansion_also_makes_is_refused_naming_both():
    text = DOTTED.replace("layers:\n  - {name: layer1.0.conv1", "layers:\n  - {name: stack.1.conv")
    with pytest.raises(ConvCalcError) as caught:
        load_text(text)
    assert "'stack.1.conv' names two layers: layer 1 and layer 5" in str(caught.value)


def test_full_names_are_not_visible_inside_a_block():
    text = DOTTED.replace("inputs: [conv, skip]", "inputs: [conv, layer1.0.conv1]")
    with pytest.raises(ConvCalcError, match="unknown layer 'layer1.0.conv1'"):
        load_text(text)


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        (
            "{type: conv, out_channel: 4, strides: 2, kernel_size: 3}",
            "out_channels: missing; out_channel: unknown field (did you mean 'out_channels'?);"
            " strides: unknown field (did you mean 'stride'?)",
        ),
        ("{type: pad, padding: [[-4, -4], [1, 1]]}", "padding: must be at least 0, got -4"),
        ("{type: conv, out_channels: 4, kernel_size: [0, 1]}", "kernel_size: must be at least 1"),
        (
            "{type: conv, out_channels: -4, kernel_size: 0}",
            "kernel_size: must be at least 1, got 0; out_channels: must be at least 1, got -4",
        ),
    ],
)
def test_every_problem_of_a_layer_is_named_plainly(layer: str, expected: str):
    with pytest.raises(ConvCalcError) as caught:
        load_text(f"input: [3, 8, 8]\nlayers:\n  - {layer}\n")
    assert expected in str(caught.value)
    assert "more problem" not in str(caught.value) and "valid integer" not in str(caught.value)
