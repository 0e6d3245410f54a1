"""`convcalc sizes`: the input sizes a symbolic spec accepts, checked by brute force.

The reference is the concrete engine run at every size of a range: a size is accepted
exactly when `analyze` with that input succeeds, and accepted under --exact when, besides,
no layer notes that its stride never reads the last rows or columns of the scanned dim,
nor that it crops off centre there.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import convcalc
from convcalc.analysis import Report, analyze
from convcalc.cli import app
from convcalc.dims import MAX_SPATIAL
from convcalc.errors import ConvCalcError
from convcalc.flags import said
from convcalc.spec import build, load_path
from convcalc.symbolic.scan import MAX_SCAN, parse_range, scan
from tests.test_symbolic import SMALL_INPUT, SMALL_NETWORKS, dropped_dims, is_inexact

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
UNET = SPECS / "unet_same_symbolic.yaml"
FCN16S = SPECS / "fcn16s_symbolic.yaml"
SPAN = range(1, 161)  # the sizes brute-forced
OTHER = 64  # the other dim, a size both symbolic specs accept

runner = CliRunner()


# --- the brute-force reference --------------------------------------------------------------


def outcome(network, shape: tuple[int, ...]) -> Report | ConvCalcError:
    """The concrete report at `shape`, or the error the concrete engine refuses it with."""
    try:
        return analyze(network, shape)
    except ConvCalcError as error:
        return error


@functools.cache
def concrete_runs(path: Path, dim: str, other: int = OTHER) -> dict[int, Report | ConvCalcError]:
    """The concrete engine at every size of SPAN for `dim`, the other dim at `other`."""
    network = load_path(path)
    axis = network.symbols.index(dim)
    runs = {}
    for size in SPAN:
        spatial = [other] * len(network.symbols)
        spatial[axis] = size
        runs[size] = outcome(network, (network.input.channels, *spatial))
    return runs


def drops(report: Report, axis: int) -> list[str]:
    """Layers noting that a stride never reads the last rows or columns of spatial `axis`, or
    that a crop is off centre there."""
    return [
        layer for layer, note in report.notes if is_inexact(note) and axis in dropped_dims(note)
    ]


def accepted(runs: dict, axis: int | None = None) -> list[int]:
    """Sizes the concrete engine runs; with an axis, only those dropping nothing there."""
    return [
        size
        for size, result in runs.items()
        if isinstance(result, Report) and (axis is None or not drops(result, axis))
    ]


def sizes_cli(*args: str):
    """`convcalc sizes ARGS...` in-process."""
    return runner.invoke(app, ["sizes", *map(str, args)])


def assert_one_error_line(result, *pieces: str) -> str:
    """Exit 2, nothing on stdout, one `error:` line holding every piece."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for piece in pieces:
        assert piece in lines[0], (piece, lines[0])
    return lines[0]


# --- 1. the symbolic specs against brute force ----------------------------------------------

# (spec, closed form of the valid sizes, rule, closed form under --exact, rule under --exact):
# the rules the specs' own comments derive (four 2x2 pools line the U-Net skips up; FCN-16s's
# skip sum needs 2*floor(H/32) == floor(H/16)), and no pool may drop a row for --exact.
SYMBOLIC_SPECS = [
    pytest.param(
        UNET,
        lambda n: n % 16 == 0,
        "{} must be a multiple of 16",
        lambda n: n % 16 == 0,
        "{} must be a multiple of 16",
        id="unet",
    ),
    pytest.param(
        FCN16S,
        lambda n: n >= 32 and n % 32 < 16,
        "{} must be at least 32 and leave a remainder of 0 to 15 when divided by 32",
        lambda n: n % 32 == 0,
        "{} must be a multiple of 32",
        id="fcn16s",
    ),
]


@pytest.mark.parametrize("dim", ["H", "W"])
@pytest.mark.parametrize(("path", "valid", "rule", "exact", "exact_rule"), SYMBOLIC_SPECS)
def test_sizes_equal_a_brute_force_scan_of_the_concrete_engine(
    path: Path, valid, rule: str, exact, exact_rule: str, dim: str
):
    """For every size in 1..160 (the other dim at 64) scan lists exactly the sizes the
    concrete engine runs, --exact exactly those that drop no row either, each equal to the
    closed form the spec states, with the stated rule."""
    report = analyze(load_path(path))
    axis = report.symbols.index(dim) + 1
    runs = concrete_runs(path, dim)
    found = scan(report, dim, SPAN.start, SPAN.stop - 1)
    found_exact = scan(report, dim, SPAN.start, SPAN.stop - 1, exact=True)

    assert found.sizes == accepted(runs)
    assert found_exact.sizes == accepted(runs, axis)
    assert found.sizes == [size for size in SPAN if valid(size)]
    assert found_exact.sizes == [size for size in SPAN if exact(size)]
    assert found.rule == rule.format(dim)
    assert found_exact.rule == exact_rule.format(dim)
    for result in (found, found_exact):
        assert result.least == result.sizes[0]
        assert result.most is None  # the sizes go on
        above = [size for size in SPAN if size >= result.least]
        assert [size for size in above if size % result.period in result.residues] == [
            size for size in above if size in result.sizes
        ]


@pytest.mark.parametrize("dim", ["H", "W"])
@pytest.mark.parametrize("path", [UNET, FCN16S], ids=["unet", "fcn16s"])
def test_each_refused_size_is_blamed_on_the_layer_the_concrete_engine_names(path: Path, dim):
    """A refused size's reason names the layer the concrete engine stops at; under --exact a
    size the engine runs is blamed on the first layer noting dropped rows in that dim."""
    report = analyze(load_path(path))
    axis = report.symbols.index(dim) + 1
    runs = concrete_runs(path, dim)
    found = scan(report, dim, SPAN.start, SPAN.stop - 1)
    found_exact = scan(report, dim, SPAN.start, SPAN.stop - 1, exact=True)
    for size, result in runs.items():
        if isinstance(result, ConvCalcError):
            assert found.reasons[size][0] == result.layer_name, size
            assert size in found_exact.reasons
        elif drops(result, axis):
            assert size not in found.reasons
            assert found_exact.reasons[size][0] == drops(result, axis)[0], size
        else:
            assert size not in found_exact.reasons


@pytest.mark.parametrize("layers", SMALL_NETWORKS)
def test_sizes_of_small_networks_equal_brute_force(layers: list):
    """On each small network of tests/test_symbolic.py, scan over 1..60 lists exactly the H
    the concrete engine runs (W at 8), and --exact those dropping no row of H."""
    network = build({"input": SMALL_INPUT, "layers": layers})
    report = analyze(network)
    runs = {size: outcome(network, (2, size, 8)) for size in range(1, 61)}
    assert scan(report, "H", 1, 60).sizes == accepted(runs)
    assert scan(report, "H", 1, 60, exact=True).sizes == accepted(runs, 1)


# The paper's U-Net (valid convs, centre-cropped skips) at any size.
PAPER_UNET = SPECS / "unet_symbolic.yaml"
PAPER_SPAN = range(150, 621)  # past the least size (188) and the paper's tile (572)
PAPER_OTHER = 188  # the other dim: the least size both dims take


def paper_unet_runs(size: int) -> bool:
    """Closed form of the sizes the paper's U-Net runs at: every map at least 1, from the
    map sizes of tests/test_published.py (floors where a pool halves an odd size; a crop's
    target, twice a floored size, is never larger than its input)."""
    from tests.test_published import unet_valid_sizes

    return min(unet_valid_sizes(size).values()) >= 1


def paper_unet_is_exact(size: int) -> bool:
    """Closed form of the sizes where, besides, every pool halves an even size and every
    crop cuts an even number of positions (centred): the paper's "select the input tile size
    such that all 2x2 max-pooling operations are applied to a layer with an even x- and
    y-size" (Ronneberger et al. 2015, section 2)."""
    from tests.test_published import unet_valid_sizes

    maps = unet_valid_sizes(size)
    pooled = [maps[f"enc{level}.conv2"] for level in (1, 2, 3, 4)]
    cut = [maps[f"enc{level}.conv2"] - maps[f"up{level}"] for level in (1, 2, 3, 4)]
    return paper_unet_runs(size) and all(n % 2 == 0 for n in pooled + cut)


def paper_unet_tiles(count: int) -> list[int]:
    """The least sizes of the paper's rule, derived by hand: n - 4 even, pooled to (n - 4)/2,
    and so on down, each map before a pool even, gives n = 16k + 12; the maps are then
    16k + 8, 8k + 4, 8k, 4k, 4k - 4, 2k - 2, 2k - 6, k - 3, and k - 7 at the bottom; up again
    2k - 14, 2k - 18, 4k - 36, 4k - 40, 8k - 80, 8k - 84, 16k - 168 and 16k - 172 at the
    output, at least 1 from k = 11 on. The crops cut 8, 32, 80 and 176: always even."""
    return [16 * k + 12 for k in range(11, 11 + count)]


@pytest.mark.parametrize("dim", ["H", "W"])
def test_paper_unet_sizes_are_the_papers_rule_and_brute_force(dim: str):
    """On the paper's U-Net, `sizes` lists exactly what the concrete engine runs (every
    size from 188 on), and with --exact exactly the sizes where it notes no dropped row and
    no off-centre crop: 16k + 12 from 188, 572 among them, each equal to the closed forms."""
    network = load_path(PAPER_UNET)
    report = analyze(network)
    axis = report.symbols.index(dim) + 1
    runs = {}
    for size in PAPER_SPAN:
        spatial = [PAPER_OTHER, PAPER_OTHER]
        spatial[axis - 1] = size
        runs[size] = outcome(network, (1, *spatial))
    found = scan(report, dim, PAPER_SPAN.start, PAPER_SPAN.stop - 1)
    found_exact = scan(report, dim, PAPER_SPAN.start, PAPER_SPAN.stop - 1, exact=True)

    assert found.sizes == accepted(runs) == [n for n in PAPER_SPAN if paper_unet_runs(n)]
    assert found_exact.sizes == accepted(runs, axis)
    assert found_exact.sizes == [n for n in PAPER_SPAN if paper_unet_is_exact(n)]
    assert found_exact.sizes[:4] == paper_unet_tiles(4) == [188, 204, 220, 236]
    assert 572 in found_exact.sizes
    assert found.rule == f"{dim} must be at least 188"
    assert (
        found_exact.rule
        == f"{dim} must be at least 188 and leave a remainder of 12 when divided by 16"
    )
    # Whatever the range, no "at most": the scan once bisected the remainder conditions from
    # a valid size to 2^20, which leaves 0 when divided by 16, and found a false ceiling.
    for top in (572, 600, 620, 1024):
        assert scan(report, dim, 188, top, exact=True).rule == found_exact.rule, top
    # Where the engine notes an off-centre crop, scan blames that crop (or a pool before it).
    for size, result in runs.items():
        if isinstance(result, Report) and drops(result, axis):
            assert found_exact.reasons[size][0] == drops(result, axis)[0], size


def test_paper_unet_sizes_from_the_command_line():
    """The rule the paper states, from `convcalc sizes --exact`, and 572 accepted."""
    result = sizes_cli(PAPER_UNET, "--dim", "H", "--exact", "--range", "1..1024")
    assert result.exit_code == 0, result.stderr
    assert "rule: H must be at least 188 and leave a remainder of 12 when divided by 16" in (
        result.stdout
    )
    assert "none dropping rows or columns or cropping off centre (--exact)" in result.stdout
    gate = sizes_cli(PAPER_UNET, "--exact", "--range", "572..572")
    assert gate.exit_code == 0, gate.stdout
    assert sizes_cli(PAPER_UNET, "--exact", "--range", "570..571").exit_code == 1


# --- 2. a dense layer's in_features fixes the size ------------------------------------------


def vgg16_document(input_sizes: list) -> dict:
    """VGG-16 as the paper has it (no adaptive pool: fc6, torchvision's classifier.0, reads
    pool5's 512x7x7 = 25088 features at 224x224), fc6 stating in_features, on the given
    input."""
    document = yaml.safe_load((SPECS / "vgg16.yaml").read_text(encoding="utf-8"))
    layers = [layer for layer in document["layers"] if layer["name"] != "avgpool"]
    layers = [
        {**layer, "in_features": 512 * 7 * 7} if layer["name"] == "classifier.0" else layer
        for layer in layers
    ]
    return {**document, "input": [3, *input_sizes], "layers": layers}


def test_in_features_pins_a_classifier_to_the_sizes_brute_force_finds(tmp_path: Path):
    """VGG-16 with fc6's in_features on [3, S, S]: the sizes are those the concrete engine
    runs, S in 224..255 (floor(S/32) == 7), and the rule says so, from the CLI too."""
    document = vgg16_document(["S", "S"])
    network = build(document)
    runs = {size: outcome(network, (3, size, size)) for size in range(1, 1025)}
    expected = accepted(runs)
    assert expected == [size for size in range(1, 1025) if size // 32 == 7]

    found = scan(analyze(network), "S", 1, 1024)
    assert found.sizes == expected
    assert found.rule == "S must be at least 224 and at most 255"
    assert (found.least, found.most) == (224, 255)

    path = tmp_path / "vgg.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    result = sizes_cli(path, "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data == {
        "dim": "S",
        "range": [1, 1024],
        "exact": False,
        "sizes": expected,
        "rule": "S must be at least 224 and at most 255",
    }


# --- 3. stated constraints narrow the sizes -------------------------------------------------


def test_stated_constraints_narrow_the_sizes_to_brute_force_filtered_by_them(tmp_path: Path):
    """U-Net with `constraints: {H: {multiple_of: 32, min: 64}}`: H's sizes are the concrete
    engine's filtered by the stated rule, sizes it refuses blamed on the constraint; W is
    unchanged."""
    document = yaml.safe_load(UNET.read_text(encoding="utf-8"))
    document["constraints"] = {"H": {"multiple_of": 32, "min": 64}}
    path = tmp_path / "unet.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")

    height, width = convcalc.sizes(path, size_range=(SPAN.start, SPAN.stop - 1))
    stated = [size for size in accepted(concrete_runs(UNET, "H")) if size % 32 == 0]
    assert height.sizes == [size for size in stated if size >= 64]
    assert height.rule == "H must be a multiple of 32 and at least 64"
    assert height.reasons[32] == ("constraints", "H must be a multiple of 32 and at least 64")
    assert height.reasons[48][0] == "constraints"  # the network takes 48; the spec does not
    assert width.sizes == accepted(concrete_runs(UNET, "W"))

    result = sizes_cli(path, "--dim", "H", "--range", "1..160", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["sizes"] == height.sizes
    refused = sizes_cli(path, "--dim", "W", "--set", "H=48")
    assert_one_error_line(refused, "--set H: ", "breaks the spec's constraint")


# --- 4. conditions tying two sizes together -------------------------------------------------


def test_sizes_tied_by_a_dense_layer_need_the_other_size_set(tmp_path: Path):
    """VGG-16 with fc6's in_features on [3, H, W] ties H to W: scanning H alone is an error
    naming --set W; with --set W=224 the sizes are brute force's at W=224."""
    path = tmp_path / "vgg.yaml"
    path.write_text(yaml.safe_dump(vgg16_document(["H", "W"])), encoding="utf-8")
    for args in (["--dim", "H"], []):
        assert_one_error_line(sizes_cli(path, *args), "--dim: ", "ties H to W", "--set W=")

    network = load_path(path)
    runs = {size: outcome(network, (3, size, 224)) for size in range(1, 401)}
    result = sizes_cli(path, "--dim", "H", "--set", "W=224", "--range", "1..400", "-f", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["sizes"] == accepted(runs) == list(range(224, 256))
    assert data["rule"] == "H must be at least 224 and at most 255"

    # floor(100/32) = 3 columns: 512*3*floor(H/32) is never 25088, so no H works.
    none = sizes_cli(path, "--dim", "H", "--set", "W=100", "--range", "1..400", "-f", "json")
    assert none.exit_code == 1, none.stderr
    assert json.loads(none.stdout)["sizes"] == []
    assert all(isinstance(outcome(network, (3, size, 100)), ConvCalcError) for size in runs)


# --- 5. the command line --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code"),
    [
        pytest.param([UNET, "--range", "1..64"], 0, id="found"),
        pytest.param([UNET, "--range", "17..31"], 1, id="none-in-range"),
        pytest.param([FCN16S, "--range", "16..31", "--dim", "W"], 1, id="none-below-least"),
        pytest.param([FCN16S, "--range", "33..63", "--exact"], 1, id="none-exact"),
        pytest.param([FCN16S, "--range", "33..63"], 0, id="found-inexact"),
    ],
)
def test_exit_code_says_whether_a_size_was_found(args: list, code: int):
    """Exit 0 when a size in the range works, 1 when none does (the listing says none)."""
    result = sizes_cli(*args)
    assert result.exit_code == code, result.stderr
    assert result.stderr == ""
    assert ("(0): none" in result.stdout) == (code == 1)


@pytest.mark.parametrize(
    ("args", "pieces"),
    [
        pytest.param([UNET, "--range", "10..5"], ["--range: ", "'10..5'"], id="reversed"),
        pytest.param([UNET, "--range", "abc"], ["--range: ", "not LOW..HIGH"], id="not-a-range"),
        pytest.param([UNET, "--range", "0..5"], ["--range: ", "'0..5'"], id="zero"),
        pytest.param(
            [SPECS / "vgg16.yaml"], ["input: ", "its sizes are all numbers"], id="no-symbols"
        ),
        pytest.param(
            [UNET, "--dim", "X"], ["--dim: ", "'X' is not a symbol of the input"], id="bad-dim"
        ),
        pytest.param([UNET, "--set", "X=3"], ["--set X: ", "not a symbol"], id="bad-set"),
        pytest.param([UNET, "--set", "H=abc"], ["--set: ", "'H=abc'"], id="bad-set-value"),
        pytest.param([UNET, "--format", "xml"], ["--format: ", "unknown format"], id="format"),
        pytest.param([SPECS / "nope.yaml"], ["nope.yaml"], id="missing-file"),
    ],
)
def test_bad_call_is_one_error_line_with_exit_2(args: list, pieces: list):
    """A bad range, dim, setting or format, a missing file, or a spec without symbols: one
    `error:` line naming the option, exit 2."""
    assert_one_error_line(sizes_cli(*args), *pieces)


def test_json_of_one_dim_is_an_object_and_of_several_a_list():
    """--format json: one object for --dim H, a list in input order for every dim."""
    one = sizes_cli(UNET, "--dim", "H", "--range", "1..64", "--format", "json")
    assert one.exit_code == 0, one.stderr
    assert json.loads(one.stdout) == {
        "dim": "H",
        "range": [1, 64],
        "exact": False,
        "sizes": [16, 32, 48, 64],
        "rule": "H must be a multiple of 16",
    }
    several = sizes_cli(FCN16S, "--range", "30..40", "--exact", "--format", "json")
    assert several.exit_code == 0, several.stderr
    data = json.loads(several.stdout)
    assert isinstance(data, list) and [item["dim"] for item in data] == ["H", "W"]
    for item in data:
        assert set(item) == {"dim", "range", "exact", "sizes", "rule"}
        assert (item["range"], item["exact"], item["sizes"]) == ([30, 40], True, [32])


def test_text_gives_the_rule_and_where_the_concrete_engine_stops():
    """The text output states the rule, lists the sizes, and each "fails at" line names the
    layer the concrete engine stops at for that size."""
    result = sizes_cli(UNET, "--dim", "H", "--range", "1..100")
    assert result.exit_code == 0, result.stderr
    assert "  rule: H must be a multiple of 16\n" in result.stdout
    assert "16, 32, 48, 64, 80, 96" in result.stdout
    failures = re.findall(r"^  H=(\d+) fails at (\S+): ", result.stdout, re.MULTILINE)
    assert failures
    runs = concrete_runs(UNET, "H")
    for size, layer in failures:
        assert layer == runs[int(size)].layer_name, size


# --- 6. parse_range -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1..1", (1, 1)),
        ("32..1024", (32, 1024)),
        ("007..8", (7, 8)),
        (f"1..{MAX_SCAN}", (1, MAX_SCAN)),  # MAX_SCAN sizes: the most one range may span
        (f"{MAX_SPATIAL - 5}..{MAX_SPATIAL}", (MAX_SPATIAL - 5, MAX_SPATIAL)),
    ],
)
def test_parse_range_reads_low_and_high(text: str, expected: tuple):
    """LOW..HIGH, both inclusive, up to MAX_SCAN sizes and MAX_SPATIAL."""
    assert parse_range(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "0..5",
        "5..4",
        "1..",
        "..5",
        "5",
        "1-5",
        "1...5",
        "1..2..3",
        " 1..2",
        "1..2 ",
        "+1..5",
        "-1..5",
        "1.5..3",
        "",
        "abc",
        "1234567890..1234567891",
        f"1..{MAX_SCAN + 1}",
        f"1..{MAX_SPATIAL + 1}",
        "²..5",
    ],
)
def test_parse_range_refuses_anything_else(text: str):
    """Every other text is a ConvCalcError naming --range."""
    with pytest.raises(ConvCalcError) as error:
        parse_range(text)
    assert said(error.value.field) == "--range"


@pytest.mark.parametrize("spec", ["fcn", "shufflenet_v1", "alexnet"])
def test_input_with_symbols_scans_any_spec_as_the_concrete_engine_runs_it(spec: str):
    """`sizes SPEC --input 3xHxW` scans a spec written at numbers: it lists exactly the
    heights at which the concrete engine runs the spec, the width at 224."""
    network = load_path(SPECS / f"{spec}.yaml")
    runs = {size: outcome(network, (3, size, 224)) for size in range(1, 257)}
    result = sizes_cli(SPECS / f"{spec}.yaml", "--input", "3xHxW", "--dim", "H", "--set",
                       "W=224", "--range", "1..256", "-f", "json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["sizes"] == accepted(runs)
    assert 0 < len(found["sizes"]) < 256  # some sizes are refused, some run


@pytest.mark.parametrize(
    ("spec", "classes"), [("deeplabv3_resnet50", 21), ("lraspp_mobilenet_v3_large", 21)]
)
def test_segmentation_nets_resized_by_size_of_run_at_every_size(spec: str, classes: int):
    """DeepLabV3 and LR-ASPP resize their outputs to the input's size (`size_of: input`),
    and their convs are padded so that a map of 1 stays 1: torchvision's models run at any
    size in eval mode. `sizes --input` finds that rule, the concrete engine runs every size
    listed, and each output there is classes x H x W."""
    result = sizes_cli(SPECS / f"{spec}.yaml", "--input", "3xHxW", "--dim", "H", "--set",
                       "W=33", "--range", "1..64", "-f", "json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["rule"] == "H may be any size"
    assert found["sizes"] == list(range(1, 65))
    network = load_path(SPECS / f"{spec}.yaml")
    for size in found["sizes"]:
        report = outcome(network, (3, size, 33))
        assert isinstance(report, Report), (size, report)
        shapes = {row.name: row.output_shape for row in report.layers}
        assert [shapes[name] for name in network.outputs] == [(classes, size, 33)] * len(
            network.outputs
        )


@pytest.mark.parametrize(
    ("given", "piece"),
    [("3xHxWxDxT", "is not CxH[xW[xD]]"), ("Cx8x8", "channels must be a whole number"),
     ("3x8x-1", "neither a whole number nor a symbol name")],
)  # fmt: skip
def test_input_with_symbols_refuses_what_a_spec_input_refuses(given: str, piece: str):
    result = sizes_cli(SPECS / "fcn.yaml", "--input", given)
    assert_one_error_line(result, "--input", piece)
