"""Budgets without the CLI: exact parsing of limits, the spec's `budget:` section with the
lines of its entries, flags winning over the spec, and evaluation against closed forms."""

from __future__ import annotations

from fractions import Fraction

import pytest

from convcalc.analysis import analyze
from convcalc.budget import (
    Budget,
    FieldLimit,
    evaluate,
    merge,
    parse_bytes,
    parse_field_limit,
    parse_growth,
    parse_limits,
    parse_quantity,
    parse_shape,
)
from convcalc.errors import ConvCalcError
from convcalc.flags import flag
from convcalc.spec import load_text

# (written, exact value): counts take SI prefixes.
QUANTITIES = [
    (0, 0),
    (25_557_032, 25_557_032),
    ("25557032", 25_557_032),
    ("25.6M", 25_600_000),
    ("25.6 M", 25_600_000),
    ("4.1G", 4_100_000_000),
    ("4.09G", 4_090_000_000),
    ("100k", 100_000),
    ("100K", 100_000),
    ("1.5T", 1_500_000_000_000),
    ("2P", 2 * 10**15),
    ("1e9", 10**9),
    ("2.5e3k", 2_500_000),
    (".5k", 500),
    ("0.000001M", 1),
    (2.56e7, 25_600_000),  # a YAML or JSON float that is a whole number
    ("12345678901234567890123456789M", 12345678901234567890123456789 * 10**6),
]
# Byte budgets also take byte units, decimal and binary.
BYTES = [
    ("100MB", 100_000_000),
    ("100 MB", 100_000_000),
    ("1.5GiB", 1_610_612_736),
    ("1.5GB", 1_500_000_000),
    ("512KiB", 524_288),
    ("2kB", 2_000),
    ("2KB", 2_000),
    ("4G", 4_000_000_000),
    ("1TiB", 2**40),
    ("7B", 7),
    (1024, 1024),
]
# (written, substring of the error message).
BAD_QUANTITIES = [
    ("25.6X", "unknown unit 'X'"),
    ("25.6m", "unknown unit 'm'"),
    ("100MB", "byte units are for the byte budgets"),
    ("1.5", "not a whole number"),
    ("1.0000001k", "not a whole number"),
    ("-5", "is not a number"),
    (-5, "0 or more"),
    ("", "is not a number"),
    ("M", "is not a number"),
    ("1,000", "is not a number"),
    (True, "got True"),
    (None, "got None"),
    ([1], "got [1]"),
    (float("inf"), "got inf"),
    (float("nan"), "got nan"),
    (2.5, "not a whole number"),
]


@pytest.mark.parametrize(("written", "value"), QUANTITIES)
def test_quantities_are_exact(written, value):
    parsed = parse_quantity(written)
    assert parsed == value
    assert type(parsed) is int


@pytest.mark.parametrize(("written", "value"), QUANTITIES + BYTES)
def test_byte_budgets_take_byte_units_and_si_numbers(written, value):
    assert parse_bytes(written) == value


@pytest.mark.parametrize(("written", "message"), BAD_QUANTITIES)
def test_bad_quantities(written, message):
    with pytest.raises(ConvCalcError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_quantity(written)


def test_unknown_byte_unit_lists_the_known_ones():
    with pytest.raises(ConvCalcError, match="unknown unit 'Mb'.*MiB"):
        parse_bytes("100Mb")


@pytest.mark.parametrize(
    ("written", "growth"),
    [
        ("params=5%", {"params": Fraction(1, 20)}),
        ("params=5%,macs=10%", {"params": Fraction(1, 20), "macs": Fraction(1, 10)}),
        (" params = 2.5% , model_bytes=0%", {"params": Fraction(1, 40), "model_bytes": 0}),
        ({"flops": "12.5%"}, {"flops": Fraction(1, 8)}),
        ({"peak_activation_bytes": "100%"}, {"peak_activation_bytes": 1}),
    ],
)
def test_growth(written, growth):
    assert parse_growth(written) == growth


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("params", "not METRIC=PERCENT"),
        ("parms=5%", "unknown metric 'parms' (known: params, macs"),
        ("params=5", "params: a percentage such as 5%"),
        ("params=-5%", "params: a percentage"),
        ({"params": 0.05}, "params: a percentage"),
        ({}, "a mapping of metric to percentage"),
        (5, "a mapping of metric to percentage"),
    ],
)
def test_bad_growth(written, message):
    with pytest.raises(ConvCalcError) as caught:
        parse_growth(written)
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("written", "limit"),
    [
        (200, FieldLimit((200,))),
        ([96, 128], FieldLimit((96, 128))),
        ({"size": 200, "at": "layer4"}, FieldLimit((200,), "layer4")),
        ({"size": [3, 5, 7]}, FieldLimit((3, 5, 7))),
        ("200", FieldLimit((200,))),
        ("96x128", FieldLimit((96, 128))),
        ("200@layer4.1.relu", FieldLimit((200,), "layer4.1.relu")),
    ],
)
def test_field_limit(written, limit):
    assert parse_field_limit(written) == limit


@pytest.mark.parametrize(
    "written",
    [0, -3, True, "3.5", "200@", "x", [], [1, 2, 3, 4], {"at": "x"}, {"size": 3, "on": "x"}],
)
def test_bad_field_limit(written):
    with pytest.raises(ConvCalcError):
        parse_field_limit(written)


@pytest.mark.parametrize(
    ("written", "shape"),
    [
        ([1000], (1000,)),
        ([21, 224, 224], (21, 224, 224)),
        ("1000", (1000,)),
        ("64x7x7", (64, 7, 7)),
    ],
)
def test_shape(written, shape):
    assert parse_shape(written) == shape


@pytest.mark.parametrize("written", [1000, [], [0], ["1000"], [1, 2, 3, 4, 5], "1000x", "a"])
def test_bad_shape(written):
    with pytest.raises(ConvCalcError):
        parse_shape(written)


SPEC = """\
name: tiny
input: [3, 32, 32]
budget:
  max_params: 1k
  max_macs: 2.5M
  max_peak_activation_bytes: 100KiB
  max_model_bytes: 4KiB
  min_receptive_field: {size: 40, at: conv2}
  output_shape: [10]
  max_growth:
    params: 5%
layers:
  - {name: conv1, type: conv, out_channels: 16, kernel_size: 3, padding: 1}
  - {name: conv2, type: conv, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
  - {name: gap, type: global_avg_pool}
  - {name: flat, type: flatten}
  - {name: fc, type: dense, out_features: 10}
"""
# conv1 448 params, conv2 2,320, fc 170: 2,938 in all.


def test_spec_budget_and_entry_lines():
    network = load_text(SPEC)
    assert network.budget == Budget(
        maxima={
            "params": 1000,
            "macs": 2_500_000,
            "peak_activation_bytes": 102_400,
            "model_bytes": 4096,
        },
        min_receptive_field=FieldLimit((40,), "conv2"),
        output_shape=(10,),
        max_growth={"params": Fraction(1, 20)},
    )
    assert network.budget.lines == {
        "max_params": 4,
        "max_macs": 5,
        "max_peak_activation_bytes": 6,
        "max_model_bytes": 7,
        "min_receptive_field": 8,
        "output_shape": 9,
        "max_growth": 10,
        "max_growth.params": 11,
    }


def test_json_spec_budget_has_no_lines():
    network = load_text(
        '{"input": [3, 8, 8], "budget": {"max_params": "1k"}, "layers": [{"type": "flatten"}]}',
        json_format=True,
    )
    assert network.budget == Budget(maxima={"params": 1000})
    assert network.budget.lines == {}


@pytest.mark.parametrize(
    ("budget", "expected"),
    [
        ("  max_parms: 1k\n", "3: budget.max_parms: unknown budget 'max_parms' (known:"),
        ("  max_params: 1k\n  max_macs: 2.5Q\n", "4: budget.max_macs: unknown unit 'Q'"),
        ("  max_growth: {parms: 5%}\n", "3: budget.max_growth: unknown metric 'parms'"),
        ("  output_shape: 1000\n", "3: budget.output_shape: [channels, *spatial]"),
    ],
)
def test_bad_budget_names_entry_and_line(budget, expected):
    text = f"input: [3, 8, 8]\nbudget:\n{budget}layers:\n  - {{type: flatten}}\n"
    with pytest.raises(ConvCalcError) as caught:
        load_text(text)
    assert str(caught.value).startswith(expected)


def test_budget_must_be_a_mapping():
    with pytest.raises(ConvCalcError, match="budget: a mapping of budget name"):
        load_text("input: [3, 8, 8]\nbudget: 25M\nlayers:\n  - {type: flatten}\n")


def test_flags_win_and_keep_the_other_entries():
    spec_budget = load_text(SPEC).budget
    flags = parse_limits(
        {"max_params": "3k", "max_flops": None, "max_growth": "macs=10%", "output_shape": None}
    )
    merged = merge(spec_budget, flags)
    assert merged.maxima["params"] == 3000
    assert merged.maxima["macs"] == 2_500_000
    assert merged.max_growth == {"params": Fraction(1, 20), "macs": Fraction(1, 10)}
    assert merged.from_flags == {"max_params", "max_growth.macs"}
    assert "max_params" not in merged.lines
    assert merged.lines["max_macs"] == 5
    assert merge(None, flags).entries() == ["max_params", "max_growth.macs"]


def test_bad_flag_names_the_flag():
    with pytest.raises(ConvCalcError) as caught:
        parse_limits({"max_peak_activation_bytes": "1.5XB"})
    # The core names the option; the command line says it as its flag, the API by keyword.
    assert caught.value.describe(flag).startswith("--max-peak-activation-bytes: unknown unit 'XB'")
    assert str(caught.value).startswith("max_peak_activation_bytes: unknown unit 'XB'")


def outcomes(text: str, flags: Budget | None = None, baseline: str | None = None) -> dict:
    network = load_text(text)
    budget = merge(network.budget, flags or Budget())
    before = analyze(load_text(baseline)) if baseline else None
    found = evaluate(budget, analyze(network), network.lines, before)
    return {outcome.budget: outcome for outcome in found.outcomes}


def test_evaluate_counts_bytes_fields_and_shapes():
    found = outcomes(SPEC)
    params = found["max_params"]
    assert (params.ok, params.actual, params.limit, params.excess) == (False, 2938, 1000, 1938)
    assert [(layer.name, layer.value, layer.line) for layer in params.layers] == [
        ("conv2", 2320, 14),
        ("conv1", 448, 13),
        ("fc", 170, 17),
    ]
    assert params.line == 4 and not params.from_flag
    macs = found["max_macs"]
    # conv1: 16x32x32 outputs x 27 taps; conv2: 16x16x16 x 144; fc: 16 x 10.
    assert macs.actual == 16 * 32 * 32 * 27 + 16 * 16 * 16 * 144 + 160
    assert macs.ok and macs.excess is None and macs.layers == ()
    peak = found["max_peak_activation_bytes"]
    assert peak.ok and peak.kind == "bytes"
    model = found["max_model_bytes"]
    assert (model.ok, model.actual, model.excess) == (False, 2938 * 4, 2938 * 4 - 4096)
    assert model.layers[0].value == 2320 * 4
    field = found["min_receptive_field"]
    assert (field.ok, field.layer, field.actual, field.excess) == (
        False,
        "conv2",
        (5, 5),
        (35, 35),
    )
    assert found["output_shape"].ok and found["output_shape"].layer == "fc"
    assert "max_growth.params" not in found  # no baseline


def test_flag_limit_points_at_the_layer_that_counts_most():
    found = outcomes(SPEC, parse_limits({"max_params": "2k"}))
    assert found["max_params"].from_flag
    assert found["max_params"].line == 14  # conv2


def test_growth_against_a_baseline():
    baseline = SPEC.replace(
        "out_channels: 16, kernel_size: 3, stride", "out_channels: 8, kernel_size: 3, stride"
    )
    growth = outcomes(SPEC, baseline=baseline)["max_growth.params"]
    # conv2: 8 -> 16 channels, 1,160 -> 2,320 params; fc: 90 -> 170.
    assert (growth.baseline, growth.value) == (448 + 1160 + 90, 2938)
    assert growth.actual == Fraction(2938 - 1698, 1698)
    assert growth.excess == growth.actual - Fraction(1, 20)
    assert [(layer.name, layer.value) for layer in growth.layers] == [("conv2", 1160), ("fc", 80)]
    assert growth.line == 11
    same = outcomes(SPEC, baseline=SPEC)["max_growth.params"]
    assert same.ok and same.actual == 0


def test_growth_limit_is_inclusive():
    text = SPEC.replace("params: 5%", "params: 100%")
    half = SPEC.replace("out_channels: 10}", "out_channels: 10, bias: false}")
    assert outcomes(text, baseline=half)["max_growth.params"].ok


@pytest.mark.parametrize(
    ("limit", "at", "ok", "layer"),
    [
        # By default the layer the global pool reads: the pool's own field is the whole
        # padded input (35x35 here), which any limit below it would pass trivially.
        ("5", None, True, "conv2"),
        ("6", None, False, "conv2"),
        ("35", None, False, "conv2"),
        ("[5, 5]", "conv2", True, "conv2"),
        ("[5, 6]", "conv2", False, "conv2"),
        ("3", "conv1", True, "conv1"),
    ],
)
def test_receptive_field_limit(limit, at, ok, layer):
    entry = f"{{size: {limit}, at: {at}}}" if at else limit
    text = SPEC.replace("{size: 40, at: conv2}", entry)
    found = outcomes(text)["min_receptive_field"]
    assert (found.ok, found.layer) == (ok, layer)


def test_receptive_field_at_a_block_means_its_last_output():
    text = """\
input: [3, 16, 16]
budget:
  min_receptive_field: {size: 5, at: body}
blocks:
  pair:
    layers:
      - {name: a, type: conv, out_channels: 4, kernel_size: 3, padding: 1}
      - {name: b, type: conv, out_channels: 4, kernel_size: 3, padding: 1}
layers:
  - {name: body, type: block, use: pair}
  - {name: head, type: conv, out_channels: 4, kernel_size: 3, padding: 1}
"""
    found = outcomes(text)["min_receptive_field"]
    assert (found.ok, found.layer, found.actual) == (True, "body.b", (5, 5))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{size: 3, at: nope}", "8: budget.min_receptive_field: at: no layer 'nope'"),
        ("[3, 3, 3]", "8: budget.min_receptive_field: 3 sizes for the 2-d field of 'conv2'"),
    ],
)
def test_receptive_field_limit_mistakes(entry, message):
    text = SPEC.replace("{size: 40, at: conv2}", entry)
    with pytest.raises(ConvCalcError) as caught:
        outcomes(text)
    assert str(caught.value).startswith(message)


def test_no_spatial_layer_has_no_receptive_field():
    text = (
        "input: [8]\nbudget: {min_receptive_field: 3}\n"
        "layers:\n  - {type: dense, out_features: 2}\n"
    )
    with pytest.raises(ConvCalcError, match="no layer has spatial dims"):
        outcomes(text)
