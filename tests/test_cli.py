"""The `shapes` command end to end: one-line errors on bad input, the output formats, and
the invariant that per-layer columns sum to the totals.

typer's CliRunner (typer 0.29, its own vendored click) always keeps stdout and stderr apart:
`result.stdout` and `result.stderr` are separate, `result.output` is both interleaved.
A few checks run `python -m convcalc` in a subprocess instead: where a hang must be cut
off by a timeout, and where a YAML tag could run a shell command outside Python's streams.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from convcalc.cli import app
from convcalc.layers import LAYER_TYPES

runner = CliRunner()

# "Short": the line after `error: <file>`. The longest, an unknown layer type, lists every
# type known, so the limit grows with that list (30 types: 350 characters).
MAX_MESSAGE = 150 + len(", ".join([*LAYER_TYPES, "block"]))
# Seconds for an answer, process start-up (about 0.3 s) included: a hang guard, not a
# speed figure (bench/ measures speed), so generous for a loaded machine.
TIMEOUT = 10.0

LAYER_KEYS = {
    "name",
    "type",
    "inputs",
    "output_shape",
    "params",
    "macs",
    "flops",
    "connections",
    "output_bytes",
    "receptive_field",
    "effective_stride",
    "effective_padding",
}
TOTAL_KEYS = {"params", "trainable_params", "macs", "flops", "connections", "peak_activation_bytes"}
SUMMED = ("params", "macs", "flops", "connections")

SMALL = """\
name: small
input: [3, 16, 16]
layers:
  - {name: conv, type: conv, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: bn, type: batchnorm}
  - {name: relu, type: activation, function: relu}
  - {name: pool, type: max_pool, kernel_size: 2}
  - {name: gap, type: global_avg_pool}
  - {name: flat, type: flatten}
  - {name: fc, type: dense, out_features: 10}
"""
SMALL_NAMES = ["conv", "bn", "relu", "pool", "gap", "flat", "fc"]

RESIDUAL = """\
name: residual
input: [4, 8, 8]
blocks:
  res:
    args: {width: 4}
    layers:
      - {name: conv, type: conv, out_channels: "${width}", kernel_size: 3, padding: 1}
      - {name: add, type: add, inputs: [conv, in]}
layers:
  - {name: stem, type: conv, out_channels: 4, kernel_size: 1}
  - {name: body, type: block, use: res, repeat: 2}
  - {name: sep, type: separable_conv, out_channels: 6, kernel_size: 3}
  - {name: cat, type: concat, inputs: [sep, sep]}
"""

CONV = "{name: c1, type: conv, out_channels: 4, kernel_size: 3"


def spec(*layers: str, input_shape: str = "[3, 8, 8]", head: str = "") -> str:
    """A YAML spec with the given flow-style layer lines."""
    body = "".join(f"  - {layer}\n" for layer in layers)
    return f"{head}input: {input_shape}\nlayers:\n{body}"


def block_spec(field_value: str, use_args: str = "") -> str:
    """A spec whose one block sets a conv's out_channels to `field_value`."""
    return (
        "input: [3, 8, 8]\n"
        "blocks:\n"
        "  b:\n"
        "    args: {width: 4}\n"
        "    layers:\n"
        f"      - {{name: c, type: conv, out_channels: {field_value}, kernel_size: 3}}\n"
        "layers:\n"
        f"  - {{name: x, type: block, use: b{use_args}}}\n"
    )


# (file name, spec text, substrings the one error line must contain; <file> is its path).
# The line must also start with `error: <path>`; "layer N (name): field:" names both.
BAD_SPECS = [
    pytest.param("s.yaml", "input: [3, 8, 8\nlayers: []\n", ["<file>:2: invalid YAML"], id="yaml"),
    pytest.param(
        "s.json", '{"input": [3, 8, 8], "layers": [}', ["<file>:1: invalid JSON"], id="json"
    ),
    pytest.param(
        "s.json",
        '{"input": [3, 8, 8], "layers": [{"name": "c1", "type": "conv", "kernel_size": 3}]}',
        ["layer 1 (c1): out_channels: missing"],
        id="json-missing-field",
    ),
    pytest.param("s.yaml", "- 1\n- 2\n", ["a spec is a mapping"], id="not-a-mapping"),
    pytest.param("s.yaml", "42\n", ["a spec is a mapping"], id="scalar"),
    pytest.param("s.yaml", "", ["a spec is a mapping"], id="empty-file"),
    pytest.param(
        "s.yaml",
        spec("{type: flatten}", head="foo: 1\n"),
        ["foo: unknown key 'foo'", "known: name, input"],
        id="unknown-top-level-key",
    ),
    pytest.param("s.yaml", "layers: [{type: flatten}]\n", ["input: missing"], id="missing-input"),
    pytest.param("s.yaml", "input: [3, 8, 8]\n", ["layers: missing"], id="missing-layers"),
    pytest.param("s.yaml", "input: [3, 8, 8]\nlayers: []\n", ["layers: no layers"], id="no-layers"),
    pytest.param(
        "s.yaml",
        spec("{name: c1, type: convv, out_channels: 4, kernel_size: 3}"),
        [
            "layer 1 (c1): type: unknown layer type 'convv'",
            "did you mean 'conv'",
            "(known: activation,",
        ],
        id="unknown-layer-type",
    ),
    pytest.param(
        "s.yaml",
        spec(CONV + ", kernal: 3}"),
        ["layer 1 (c1): kernal: unknown field"],
        id="unknown-field",
    ),
    pytest.param(
        "s.yaml",
        spec("{name: c1, type: conv, kernel_size: 3}"),
        ["layer 1 (c1): out_channels: missing"],
        id="missing-required-field",
    ),
    pytest.param(
        "s.yaml",
        spec("{name: c1, type: conv, out_channels: 4, kernel_size: '3'}"),
        ["layer 1 (c1): kernel_size:", "valid integer", "'3'"],
        id="string-kernel-size",
    ),
    pytest.param(
        "s.yaml",
        spec("{name: c1, type: conv, out_channels: true, kernel_size: 3}"),
        ["layer 1 (c1): out_channels:", "valid integer", "True"],
        id="bool-out-channels",
    ),
    pytest.param(
        "s.yaml",
        spec("{name: c1, type: conv, out_channels: 4, kernel_size: 3.0}"),
        ["layer 1 (c1): kernel_size:", "valid integer", "3.0"],
        id="float-kernel-size",
    ),
    pytest.param(
        "s.yaml",
        spec("{name: c1, type: conv, out_channels: 4.5, kernel_size: 3}"),
        ["layer 1 (c1): out_channels:", "4.5"],
        id="float-out-channels",
    ),
    pytest.param(
        "s.yaml",
        spec("{type: flatten}", input_shape="['3', 8, 8]"),
        ["input:", "'3'"],
        id="string-input",
    ),
    pytest.param(
        "s.yaml",
        spec("{name: c1, type: conv, out_channels: 0, kernel_size: 3}"),
        ["layer 1 (c1): out_channels:", "must be at least 1, got 0"],
        id="zero-out-channels",
    ),
    pytest.param(
        "s.yaml",
        spec("{name: c1, type: conv, out_channels: 4, kernel_size: -3}"),
        ["layer 1 (c1): kernel_size:", "got -3"],
        id="negative-kernel-size",
    ),
    pytest.param(
        "s.yaml", spec(CONV + ", stride: 0}"), ["layer 1 (c1): stride:", "got 0"], id="zero-stride"
    ),
    pytest.param(
        "s.yaml",
        spec(CONV + ", padding: -1}"),
        ["layer 1 (c1): padding:", "-1"],
        id="negative-padding",
    ),
    pytest.param(
        "s.yaml",
        spec("{type: flatten}", input_shape="[3, 0, 8]"),
        ["input:", "got 0"],
        id="zero-input",
    ),
    pytest.param(
        "s.yaml",
        spec("{type: flatten}", input_shape="[-3, 8, 8]"),
        ["input:", "got -3"],
        id="negative-input",
    ),
    pytest.param(
        "s.yaml", spec("{type: flatten}", head="batch: 0\n"), ["batch:", "got 0"], id="zero-batch"
    ),
    pytest.param(
        "s.yaml",
        spec("{name: c1, type: conv, out_channels: 4, kernel_size: 11, padding: 1}"),
        ["layer 1 (c1): kernel_size: kernel 11 exceeds padded input 10"],
        id="kernel-larger-than-padded-input",
    ),
    pytest.param(
        "s.yaml",
        spec(
            "{name: c1, type: conv, out_channels: 4, kernel_size: 3, stride: 2}",
            "{name: c2, type: conv, out_channels: 4, kernel_size: 5}",
        ),
        ["layer 2 (c2): kernel_size: kernel 5 exceeds padded input 3"],
        id="kernel-larger-after-stride",
    ),
    pytest.param(
        "s.yaml",
        spec(
            "{name: up, type: conv_transpose, out_channels: 2, kernel_size: 1, padding: 1}",
            input_shape="[3, 1, 1]",
        ),
        ["layer 1 (up): padding: output 2x-1x-1 below size 1"],
        id="transposed-output-below-1",
    ),
    pytest.param(
        "s.yaml",
        spec("{name: down, type: upsample, scale_factor: 0.1}"),
        ["layer 1 (down): scale_factor: output 3x0x0 below size 1"],
        id="upsample-output-below-1",
    ),
    pytest.param(
        "s.yaml",
        spec(CONV + ", groups: 2}"),
        ["layer 1 (c1): groups: in_channels 3 is not divisible by groups 2"],
        id="groups",
    ),
    pytest.param(
        "s.yaml",
        spec(CONV + "}", "{name: a, type: add, inputs: [c1, nope]}"),
        ["layer 2 (a): inputs: unknown layer 'nope'", "visible here: input, c1"],
        id="unknown-input",
    ),
    pytest.param(
        "s.yaml",
        spec(CONV + ", inputs: [c2]}", "{name: c2, type: conv, out_channels: 4, kernel_size: 3}"),
        ["layer 1 (c1): inputs: 'c2' comes later", "no cycles"],
        id="later-layer-cycle",
    ),
    pytest.param(
        "s.yaml", spec(CONV + ", inputs: [c1]}"), ["layer 1 (c1): inputs:", "'c1'"], id="self-input"
    ),
    pytest.param(
        "s.yaml",
        spec(CONV + "}", "{name: a, type: add, inputs: [c1, input]}"),
        ["layer 2 (a): inputs: shapes differ: c1 4x6x6, input 3x8x8"],
        id="add-shapes",
    ),
    pytest.param(
        "s.yaml",
        spec(CONV + "}", "{name: cat, type: concat, inputs: [c1, input]}"),
        ["layer 2 (cat): inputs: spatial sizes differ: c1 4x6x6, input 3x8x8"],
        id="concat-spatial",
    ),
    pytest.param(
        "s.yaml",
        spec("{name: fc, type: dense, out_features: 10}"),
        ["layer 1 (fc):", "dense needs a flat input, got 3x8x8", "flatten"],
        id="dense-unflattened",
    ),
    pytest.param(
        "s.yaml",
        "input: [3, 8, 8]\nblocks:\n  b:\n    layers:\n      - {name: inner, type: block, use: b}\n"
        "layers:\n  - {name: x, type: block, use: b}\n",
        ["layer 1 (x.inner): use: block uses itself: b -> b"],
        id="block-uses-itself",
    ),
    pytest.param(
        "s.yaml",
        "input: [3, 8, 8]\nblocks:\n  a:\n    layers:\n      - {name: ib, type: block, use: b}\n"
        "  b:\n    layers:\n      - {name: ia, type: block, use: a}\n"
        "layers:\n  - {name: x, type: block, use: a}\n",
        ["layer 1 (x.ib.ia): use: block uses itself: a -> b -> a"],
        id="block-uses-itself-via-another",
    ),
    pytest.param(
        "s.yaml",
        spec("{name: x, type: block, use: nope}"),
        ["layer 1 (x): use: unknown block 'nope'"],
        id="unknown-block",
    ),
    pytest.param(
        "s.yaml",
        block_spec("'${width}'", ", args: {height: 3}"),
        ["layer 1 (x): args: block 'b' has no argument 'height' (arguments: width)"],
        id="unknown-block-argument",
    ),
    pytest.param(
        "s.yaml",
        block_spec("'${width}', kernal: 3"),
        ["layer 1 (x.c): kernal: unknown field"],
        id="unknown-field-in-block",
    ),
    pytest.param(
        "s.yaml",
        block_spec("\"${__import__('os')}\""),
        ["layer 1 (x.c): out_channels:", "__import__", "only integers, argument names"],
        id="expression-import",
    ),
    pytest.param(
        "s.yaml",
        block_spec("'${width.real}'"),
        ["layer 1 (x.c): out_channels:", "width.real", "only integers"],
        id="expression-attribute",
    ),
    pytest.param(
        "s.yaml",
        block_spec("'${width.__class__}'"),
        ["layer 1 (x.c): out_channels:", "__class__", "only integers"],
        id="expression-dunder-attribute",
    ),
    pytest.param(
        "s.yaml",
        block_spec("'${abs(width)}'"),
        ["layer 1 (x.c): out_channels:", "abs(width)", "only integers"],
        id="expression-call",
    ),
    pytest.param(
        "s.yaml",
        block_spec("'${width // 0}'"),
        ["layer 1 (x.c): out_channels:", "division by zero"],
        id="expression-division-by-zero",
    ),
    pytest.param(
        "s.yaml",
        block_spec("'${height}'"),
        ["layer 1 (x.c): out_channels:", "unknown argument 'height'"],
        id="expression-unknown-name",
    ),
    pytest.param(
        "s.yaml",
        block_spec("'${2 ** 100}'"),
        ["layer 1 (x.c): out_channels:", "exponent 100"],
        id="expression-huge-power",
    ),
    pytest.param(
        "s.yaml",
        spec("{name: c1, type: conv, out_channels: 4, out_channels: 5, kernel_size: 3}"),
        ["<file>:3: layer (c1): duplicate key 'out_channels'"],
        id="duplicate-key",
    ),
    pytest.param(
        "s.yaml",
        spec('!!python/object/apply:os.system ["echo hi"]'),
        ["python/object/apply:os.system"],
        id="python-tag",
    ),
    pytest.param(
        "s.yaml",
        spec("{name: c1, type: conv2d, out_channels: 4, kernel_size: 3}", input_shape="[3, 8]"),
        ["layer 1 (c1): type: conv2d on a 1-d input 3x8"],
        id="conv2d-on-1d",
    ),
    pytest.param(
        "s.yaml",
        spec("{name: r, type: activation, function: relu, repeat: 1000000000}"),
        ["layer 1 (r): repeat:", "20000", "1000000000"],
        id="repeat-1e9",
    ),
    pytest.param(
        "s.yaml",
        "input: [3, 8, 8]\nblocks:\n  b:\n    layers:\n      - {name: r, type: activation,"
        " function: relu}\nlayers:\n  - {name: x, type: block, use: b, repeat: 1000000000}\n",
        ["layer 1 (x): repeat:", "20000", "1000000000"],
        id="block-repeat-1e9",
    ),
    pytest.param(
        "s.yaml", spec(CONV + ", repeat: 0}"), ["layer 1 (c1): repeat:", "got 0"], id="repeat-0"
    ),
]


def shapes(*args: object) -> Result:
    """`convcalc shapes ARGS...` in-process."""
    return runner.invoke(app, ["shapes", *map(str, args)])


def run_process(*args: object, timeout: float = TIMEOUT) -> subprocess.CompletedProcess | None:
    """`python -m convcalc shapes ARGS...` in a subprocess; None if it outlives `timeout`."""
    command = [sys.executable, "-m", "convcalc", "shapes", *map(str, args)]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def write(directory: Path, name: str, text: str) -> Path:
    """Write a spec file and return its path."""
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def assert_one_line_error(
    exit_code: int, stdout: str, stderr: str, *expected: str, prefix: str = "error: "
) -> str:
    """Exit 2, nothing on stdout, one short `error: ` line holding every expected piece."""
    assert "Traceback" not in stderr, stderr
    assert exit_code == 2, (exit_code, stderr)
    assert stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    line = lines[0]
    assert line.startswith(prefix), line
    assert len(line) - len(prefix) <= MAX_MESSAGE, f"{len(line)} characters: {line[:300]}..."
    for piece in expected:
        assert piece in line, f"{piece!r} not in {line!r}"
    return line


def assert_refused(result: Result, *expected: str, prefix: str = "error: ") -> str:
    """assert_one_line_error for an in-process run."""
    assert not isinstance(result.exception, Exception), result.exc_info  # SystemExit is not one
    return assert_one_line_error(
        result.exit_code, result.stdout, result.stderr, *expected, prefix=prefix
    )


def assert_answers_quickly(process: subprocess.CompletedProcess | None) -> None:
    """Finished within TIMEOUT: figures (exit 0) or one error line (exit 2), no traceback."""
    assert process is not None, f"still running after {TIMEOUT} s"
    if process.returncode != 0:
        assert_one_line_error(process.returncode, process.stdout, process.stderr)


def json_report(*args: object) -> dict | list:
    """Parsed `--format json` output of a successful run."""
    result = shapes(*args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout)


# --- bad input: one line on stderr, exit 2 ---------------------------------------------------


@pytest.mark.parametrize(("filename", "text", "expected"), BAD_SPECS)
def test_bad_spec_is_one_line_error(tmp_path: Path, filename: str, text: str, expected: list):
    path = write(tmp_path, filename, text)
    started = time.monotonic()
    result = shapes(path)
    assert time.monotonic() - started < TIMEOUT
    pieces = [piece.replace("<file>", str(path)) for piece in expected]
    assert_refused(result, *pieces, prefix=f"error: {path}")


def test_unknown_type_lists_every_known_type(tmp_path: Path):
    path = write(tmp_path, "s.yaml", spec("{name: c1, type: convv, out_channels: 4}"))
    line = assert_refused(shapes(path), "(known: ", prefix=f"error: {path}")
    known = line.split("(known: ")[1].rstrip(")").split(", ")
    assert set(known) == {*LAYER_TYPES, "block"}


def test_nonexistent_file(tmp_path: Path):
    path = tmp_path / "missing.yaml"
    assert_refused(shapes(path), "No such file", prefix=f"error: {path}")


def test_directory_instead_of_file(tmp_path: Path):
    assert_refused(shapes(tmp_path), prefix=f"error: {tmp_path}")


@pytest.mark.parametrize("kind", ["/dev/zero", "/dev/urandom", "fifo"])
def test_a_file_that_is_not_regular_is_refused_unread(tmp_path: Path, kind: str):
    """A symlink to a device was read without a limit (a MemoryError after 13 s); a FIFO
    waited for a writer forever."""
    path = tmp_path / "spec.yaml"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(kind)
    process = run_process(path)
    assert_answers_quickly(process)
    assert_one_line_error(process.returncode, process.stdout, process.stderr, "not a regular file")


def test_yaml_has_a_lower_size_limit_than_json(tmp_path: Path):
    """PyYAML builds every value in Python: a 10 MiB YAML spec took 16-20 s and 800 MB."""
    padding = "x" * (3 * 2**20)
    yaml_spec = write(tmp_path, "big.yaml", f"name: '{padding}'\n" + SMALL)
    assert_refused(shapes(yaml_spec), "larger than 2 MiB, the limit for a YAML spec")
    document = {"name": padding, "input": [3, 8, 8], "layers": [{"type": "flatten"}]}
    json_spec = write(tmp_path, "big.json", json.dumps(document))
    assert shapes(json_spec, "--format", "json").exit_code == 0


def test_not_utf8(tmp_path: Path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    assert_refused(shapes(path), "UTF-8", prefix=f"error: {path}")


def test_one_bad_file_among_several_prints_nothing(tmp_path: Path):
    good = write(tmp_path, "good.yaml", SMALL)
    bad = write(tmp_path, "bad.yaml", spec(CONV + ", groups: 2}"))
    for order in ([good, bad], [bad, good]):
        for output_format in ("table", "json", "csv", "markdown"):
            result = shapes(*order, "--format", output_format)
            assert_refused(result, "groups", prefix=f"error: {bad}")


def test_every_bad_file_is_reported(tmp_path: Path):
    first = write(tmp_path, "first.yaml", "- 1\n")
    second = write(tmp_path, "second.yaml", "input: [3, 8, 8]\n")
    result = shapes(first, write(tmp_path, "good.yaml", SMALL), second)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {first}: a spec is a mapping with at least `input` and `layers`",
        f"error: {second}: layers: missing",
    ]


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--format", "bogus", ["--format: unknown format 'bogus'", "table, json, markdown, csv"]),
        ("--columns", "name,bogus", ["--columns: unknown column 'bogus'", "params"]),
        ("--input", "bogus", ["--input: 'bogus' is not CxH"]),
        ("--input", "3x0x224", ["--input:", "positive sizes"]),
        ("--input", "3x-2x224", ["--input:"]),
        ("--input", "3", ["--input:"]),
        ("--input", "1x2x3x4x5", ["--input:"]),
    ],
)
def test_bad_option_is_one_line_error(tmp_path: Path, option: str, value: str, expected: list):
    path = write(tmp_path, "small.yaml", SMALL)
    assert_refused(shapes(path, option, value), *expected)


@pytest.mark.parametrize("value", ["0", "x"])
def test_bad_batch_option_is_one_line_error(tmp_path: Path, value: str):
    path = write(tmp_path, "small.yaml", SMALL)
    assert_refused(shapes(path, "--batch", value), "--batch")


def test_input_option_with_superscript_digit(tmp_path: Path):
    path = write(tmp_path, "small.yaml", SMALL)
    assert_refused(shapes(path, "--input", "3x²x16"), "--input")


# --- safety: nothing from a spec runs, nothing hangs ------------------------------------------


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system [{command}]",
        "!!python/object/new:os.system [{command}]",
        "!!python/object/apply:subprocess.check_output [[sh, -c, {command}]]",
        "!!python/name:os.system",
    ],
)
def test_python_tags_are_refused_and_never_run(tmp_path: Path, tag: str):
    marker = tmp_path / "ran"
    command = json.dumps(f"touch {marker}")
    path = write(tmp_path, "tag.yaml", spec(tag.format(command=command)))
    process = run_process(path)
    assert process is not None
    assert_one_line_error(
        process.returncode, process.stdout, process.stderr, "python/", prefix=f"error: {path}"
    )
    assert not marker.exists()


def test_python_tag_echo_prints_nothing(tmp_path: Path):
    path = write(tmp_path, "echo.yaml", spec('!!python/object/apply:os.system ["echo hi"]'))
    process = run_process(path)
    assert process is not None
    assert "hi" not in process.stdout
    assert_one_line_error(process.returncode, process.stdout, process.stderr)


def test_repeat_1e9_is_refused_quickly_as_a_process(tmp_path: Path):
    path = write(
        tmp_path,
        "repeat.yaml",
        spec("{name: r, type: activation, function: relu, repeat: 1000000000}"),
    )
    process = run_process(path)
    assert process is not None, f"still running after {TIMEOUT} s"
    assert_one_line_error(process.returncode, process.stdout, process.stderr, "repeat")


def _alias_bomb(depth: int) -> str:
    """A 700-byte spec whose connection_table expands to 10**(depth + 1) values."""
    anchors = ["      l0: &l0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"] + [
        f"      l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 10)}]"
        for level in range(1, depth + 1)
    ]
    return (
        "input: [3, 8, 8]\nblocks:\n  bomb:\n    args:\n"
        + "\n".join(anchors)
        + f"\n    layers: []\nlayers:\n  - {CONV}, connection_table: *l{depth}}}\n"
    )


# Small specs asking for a huge amount of work: each is answered or refused within TIMEOUT.
OVERSIZED = [
    pytest.param(
        "input: [3, 8, 8]\nblocks:\n  b:\n    layers: []\nlayers:\n"
        "  - {name: r, type: activation, function: relu}\n"
        "  - {name: x, type: block, use: b, repeat: 1000000000}\n",
        id="empty-block-repeat-1e9",
    ),
    pytest.param(_alias_bomb(8), id="yaml-alias-bomb"),
    pytest.param(
        spec(
            "{name: c, type: conv, out_channels: 1, kernel_size: 1000000000, padding: 1000000000}",
            input_shape="[1, 8]",
        ),
        id="huge-kernel-and-padding",
    ),
    pytest.param(
        spec("{name: g, type: global_avg_pool}", input_shape="[1, 2000000000]"),
        id="global-pool-on-long-input",
    ),
    pytest.param(
        spec("{name: g, type: adaptive_avg_pool, output_size: 1000000000}", input_shape="[1, 8]"),
        id="huge-adaptive-output",
    ),
    pytest.param(
        spec(
            "{name: u, type: upsample, mode: linear, scale_factor: 100000}",
            input_shape="[1, 100000]",
        ),
        id="huge-linear-upsample",
    ),
    pytest.param(
        spec(
            "{name: g, type: adaptive_avg_pool, output_size: 1048576, repeat: 2000}",
            input_shape="[1, 1048576]",
        ),
        id="adaptive-pool-at-size-limit-repeated",
    ),
    pytest.param(
        "input: [1, 1048576]\nblocks:\n  pair:\n    layers:\n"
        "      - {name: down, type: upsample, mode: linear, size: 524288}\n"
        "      - {name: up, type: upsample, mode: linear, size: 1048576}\n"
        "layers:\n  - {name: p, type: block, use: pair, repeat: 1000}\n",
        id="linear-upsample-at-size-limit-repeated",
    ),
]


@pytest.mark.parametrize("text", OVERSIZED)
def test_small_spec_answers_quickly(tmp_path: Path, text: str):
    assert_answers_quickly(run_process(write(tmp_path, "slow.yaml", text)))


# --- more mistakes: where they are, and values out of bounds ------------------------------------


def test_expression_error_names_its_field(tmp_path: Path):
    path = write(tmp_path, "expr.yaml", block_spec("\"${__import__('os')}\""))
    assert_refused(shapes(path), "out_channels")


def test_expansion_error_in_block_names_expanded_layer(tmp_path: Path):
    path = write(tmp_path, "expr.yaml", block_spec("'${width // 0}'"))
    assert_refused(shapes(path), "layer 1 (x.c)")


def test_error_line_stays_short_for_long_values(tmp_path: Path):
    text = spec(f"{{name: c1, type: conv, out_channels: {'x' * 5000}, kernel_size: 3}}")
    assert_refused(shapes(write(tmp_path, "long.yaml", text)), "out_channels")


def test_infinite_scale_factor(tmp_path: Path):
    text = spec("{name: u, type: upsample, scale_factor: .inf}")
    assert_refused(shapes(write(tmp_path, "inf.yaml", text)), "layer 1 (u): scale_factor")


def test_out_channels_above_max_size(tmp_path: Path):
    text = spec(f"{{name: c1, type: conv, out_channels: {10**30}, kernel_size: 3}}")
    assert_refused(shapes(write(tmp_path, "big.yaml", text)), "layer 1 (c1): out_channels")


def test_empty_inputs_list(tmp_path: Path):
    text = spec(CONV + "}", "{name: c2, type: conv, out_channels: 4, kernel_size: 3, inputs: []}")
    assert_refused(shapes(write(tmp_path, "empty.yaml", text)), "layer 2 (c2): inputs")


def test_yaml_merge_key_may_be_overridden(tmp_path: Path):
    text = spec(
        "&c1 {name: c1, type: conv, out_channels: 4, kernel_size: 3}",
        "{<<: *c1, name: c2, out_channels: 8}",
    )
    report = json_report(write(tmp_path, "merge.yaml", text))
    assert [layer["output_shape"][0] for layer in report["layers"]] == [4, 8]


def test_empty_columns_option(tmp_path: Path):
    path = write(tmp_path, "small.yaml", SMALL)
    assert_refused(shapes(path, "--format", "csv", "--columns", ","), "--columns")


# --- output formats ----------------------------------------------------------------------------


def test_json_keys(tmp_path: Path):
    report = json_report(write(tmp_path, "small.yaml", SMALL))
    assert {"name", "input", "layers", "totals"} <= set(report)
    assert report["name"] == "small"
    assert report["input"] == [3, 16, 16]
    assert [layer["name"] for layer in report["layers"]] == SMALL_NAMES
    for layer in report["layers"]:
        assert set(layer) >= LAYER_KEYS, LAYER_KEYS - set(layer)
    assert set(report["totals"]) >= TOTAL_KEYS, TOTAL_KEYS - set(report["totals"])


def test_json_figures_of_small_spec(tmp_path: Path):
    report = json_report(write(tmp_path, "small.yaml", SMALL))
    layers = {layer["name"]: layer for layer in report["layers"]}
    conv = layers["conv"]
    assert conv["output_shape"] == [8, 16, 16]
    assert conv["params"] == 8 * 3 * 3 * 3 + 8
    assert conv["macs"] == 16 * 16 * 8 * 3 * 3 * 3
    assert conv["output_bytes"] == 8 * 16 * 16 * 4
    assert conv["receptive_field"] == [3, 3]
    assert layers["pool"]["output_shape"] == [8, 8, 8]
    assert layers["pool"]["effective_stride"] == [2, 2]
    assert layers["fc"]["output_shape"] == [10]
    assert layers["fc"]["params"] == 8 * 10 + 10
    assert layers["fc"]["inputs"] == ["flat"]


def test_json_of_several_files_is_a_list(tmp_path: Path):
    small = write(tmp_path, "small.yaml", SMALL)
    residual = write(tmp_path, "residual.yaml", RESIDUAL)
    reports = json_report(small, residual)
    assert isinstance(reports, list)
    assert [report["name"] for report in reports] == ["small", "residual"]
    assert isinstance(json_report(small), dict)


def test_csv_params_sum_to_json_total(tmp_path: Path):
    path = write(tmp_path, "residual.yaml", RESIDUAL)
    report = json_report(path)
    result = shapes(path, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.endswith("\n")
    *rows, total = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["name"] for row in rows] == [layer["name"] for layer in report["layers"]]
    assert {row["network"] for row in rows} == {"residual"}
    assert sum(int(row["params"]) for row in rows) == report["totals"]["params"]
    assert sum(int(row["macs"]) for row in rows) == report["totals"]["macs"]
    # The totals row, last, carries the sums.
    assert total["name"] == "total" and int(total["macs"]) == report["totals"]["macs"]


def test_csv_columns_option(tmp_path: Path):
    path = write(tmp_path, "small.yaml", SMALL)
    result = shapes(path, "--format", "csv", "--columns", "name,flops,connections")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["network", "name", "flops", "connections"]
    assert len(rows) == 1 + len(SMALL_NAMES) + 1
    totals = json_report(path)["totals"]
    assert sum(int(row[2]) for row in rows[1:-1]) == totals["flops"] == int(rows[-1][2])
    assert sum(int(row[3]) for row in rows[1:-1]) == totals["connections"] == int(rows[-1][3])


def test_markdown_has_a_table(tmp_path: Path):
    result = shapes(write(tmp_path, "small.yaml", SMALL), "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(index for index, line in enumerate(lines) if line.startswith("| name |"))
    assert set(lines[header + 1]) <= set("|-: ")
    body = lines[header + 2 : header + 2 + len(SMALL_NAMES)]
    assert [line.split("|")[1].strip() for line in body] == SMALL_NAMES
    assert all(line.count("|") == lines[header].count("|") for line in body)
    assert any(line.startswith("- **params**") for line in lines)


def test_table_shows_every_layer_and_the_totals(tmp_path: Path):
    path = write(tmp_path, "residual.yaml", RESIDUAL)
    totals = json_report(path)["totals"]
    result = shapes(path)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    for layer in json_report(path)["layers"]:
        assert layer["name"] in result.stdout
    for label in ("params", "MACs", "FLOPs", "connections", "peak activation memory"):
        assert label in result.stdout
    for key in ("params", "macs", "flops", "connections"):
        assert f"{totals[key]:,}" in result.stdout


def test_input_option_changes_the_figures(tmp_path: Path):
    path = write(tmp_path, "small.yaml", SMALL)
    base = json_report(path)
    larger = json_report(path, "--input", "3x32x32")
    assert larger["input"] == [3, 32, 32]
    assert larger["layers"][0]["output_shape"] == [8, 32, 32]
    # Four times the positions: four times the conv's MACs, the same params.
    assert larger["layers"][0]["macs"] == 4 * base["layers"][0]["macs"]
    assert larger["totals"]["params"] == base["totals"]["params"]
    assert larger["layers"][-1]["output_shape"] == [10]
    gray = json_report(path, "--input", "1x16x16")
    assert gray["layers"][0]["params"] == 8 * 1 * 3 * 3 + 8
    assert gray["layers"][0]["macs"] == base["layers"][0]["macs"] // 3


def test_batch_option_scales_costs_not_params(tmp_path: Path):
    path = write(tmp_path, "residual.yaml", RESIDUAL)
    one = json_report(path)
    four = json_report(path, "--batch", "4")
    assert four["batch"] == 4
    for key in ("macs", "flops", "connections", "peak_activation_bytes"):
        assert four["totals"][key] == 4 * one["totals"][key], key
    assert four["totals"]["params"] == one["totals"]["params"]
    for small, large in zip(one["layers"], four["layers"], strict=True):
        assert large["params"] == small["params"]
        assert large["macs"] == 4 * small["macs"]
        assert large["output_bytes"] == 4 * small["output_bytes"]
        assert large["output_shape"] == small["output_shape"]


def test_process_end_to_end(tmp_path: Path):
    good = write(tmp_path, "small.yaml", SMALL)
    process = run_process(good, "--format", "json")
    assert process is not None
    assert process.returncode == 0, process.stderr
    assert json.loads(process.stdout)["totals"] == json_report(good)["totals"]
    bad = write(tmp_path, "bad.yaml", spec(CONV + ", kernal: 3}"))
    process = run_process(good, bad)
    assert process is not None
    assert_one_line_error(
        process.returncode, process.stdout, process.stderr, "kernal", prefix=f"error: {bad}"
    )


# --- property: per-layer figures sum to the totals ----------------------------------------------


def _conv_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


@st.composite
def small_specs(draw) -> tuple[dict, list[int]]:
    """A random valid chain-and-branch spec, and the output shape it must end with."""
    channels = draw(st.integers(1, 4))
    spatial = [draw(st.integers(4, 12))] * draw(st.integers(1, 2))
    document = {"name": "random", "input": [channels, *spatial], "layers": []}
    layers = document["layers"]
    previous = "input"
    for index in range(draw(st.integers(1, 8))):
        name = f"l{index}"
        kind = draw(
            st.sampled_from(
                ["conv", "depthwise", "separable", "pool", "bn", "relu", "residual", "concat"]
            )
        )
        kernel = draw(st.sampled_from([1, 3]))
        stride = draw(st.integers(1, 2))
        padding = kernel // 2
        if kind == "conv":
            out = draw(st.integers(1, 6))
            layers.append(
                {
                    "name": name,
                    "type": "conv",
                    "out_channels": out,
                    "kernel_size": kernel,
                    "stride": stride,
                    "padding": padding,
                    "bias": draw(st.booleans()),
                }
            )
            channels = out
            spatial = [_conv_size(size, kernel, stride, padding) for size in spatial]
        elif kind in ("depthwise", "separable"):
            multiplier = draw(st.integers(1, 2))
            layer = {
                "name": name,
                "type": f"{kind}_conv",
                "kernel_size": kernel,
                "padding": padding,
                "multiplier": multiplier,
            }
            channels *= multiplier
            if kind == "separable":
                channels = draw(st.integers(1, 6))
                layer["out_channels"] = channels
            layers.append(layer)
        elif kind == "pool" and min(spatial) >= 2:
            layers.append(
                {
                    "name": name,
                    "type": draw(st.sampled_from(["max_pool", "avg_pool"])),
                    "kernel_size": 2,
                }
            )
            spatial = [size // 2 for size in spatial]
        elif kind == "bn":
            layers.append({"name": name, "type": "batchnorm"})
        elif kind == "residual":
            layers.append(
                {
                    "name": name,
                    "type": "conv",
                    "out_channels": channels,
                    "kernel_size": 3,
                    "padding": 1,
                }
            )
            name = f"{name}_add"
            layers.append({"name": name, "type": "add", "inputs": [f"l{index}", previous]})
        elif kind == "concat":
            out = draw(st.integers(1, 4))
            layers.append({"name": name, "type": "conv", "out_channels": out, "kernel_size": 1})
            name = f"{name}_cat"
            layers.append({"name": name, "type": "concat", "inputs": [f"l{index}", previous]})
            channels += out
        else:
            layers.append({"name": name, "type": "activation", "function": "relu"})
        previous = name
    if draw(st.booleans()):
        layers.append(
            {"name": "gap", "type": draw(st.sampled_from(["global_avg_pool", "global_max_pool"]))}
        )
        layers.append({"name": "flat", "type": "flatten"})
        features = draw(st.integers(1, 10))
        layers.append({"name": "fc", "type": "dense", "out_features": features})
        return document, [features]
    return document, [channels, *spatial]


@settings(max_examples=60, deadline=None)
@given(small_specs(), st.integers(1, 3))
def test_layer_figures_sum_to_totals(case: tuple[dict, list[int]], batch: int):
    document, final_shape = case
    with tempfile.TemporaryDirectory() as directory:
        path = write(Path(directory), "random.json", json.dumps(document))
        report = json_report(path, "--batch", batch)
        table = shapes(
            path, "--format", "csv", "--batch", batch, "--columns", "name," + ",".join(SUMMED)
        )
    layers, totals = report["layers"], report["totals"]
    assert len(layers) == len(document["layers"])
    assert layers[-1]["output_shape"] == final_shape
    for key in SUMMED:
        assert sum(layer[key] for layer in layers) == totals[key], key
    assert totals["trainable_params"] <= totals["params"]
    *rows, total = list(csv.reader(io.StringIO(table.stdout)))[1:]
    for column, key in enumerate(SUMMED, start=2):
        assert sum(int(row[column]) for row in rows) == totals[key] == int(total[column]), key
    for layer in layers:
        assert layer["output_bytes"] == math.prod(layer["output_shape"]) * 4 * batch
        for key in SUMMED if "parts" in layer else ():
            assert sum(part[key] for part in layer["parts"]) == layer[key], (layer["name"], key)
    assert totals["peak_activation_bytes"] >= max(layer["output_bytes"] for layer in layers)


# --- the command line itself: help, a bare call, a rank-changing --input, crashes --------


def test_bare_convcalc_shows_the_usage_and_the_commands():
    result = runner.invoke(app, [])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: ") and result.stderr == ""
    for command in ("shapes", "sizes", "compare", "verify", "check"):
        assert f"  {command} " in result.stdout


@pytest.mark.parametrize("command", ["shapes", "sizes", "compare", "verify", "check"])
def test_help_takes_h_and_reads_without_python_types(command: str):
    short, long = runner.invoke(app, [command, "-h"]), runner.invoke(app, [command, "--help"])
    assert short.exit_code == long.exit_code == 0 and short.stdout == long.stdout
    options = short.stdout.split("Options:")[1]
    for python_type in ("<int", "<str>", "<bool>", "<list", "<path>"):
        assert python_type not in options.lower(), (command, python_type)


@pytest.mark.parametrize(
    ("command", "usage", "argument"),
    [
        ("shapes", "[OPTIONS] SPEC...", "SPEC..."),
        ("sizes", "[OPTIONS] SPEC", "SPEC"),
        ("compare", "[OPTIONS] A vs B [vs C ...]", "A vs B [vs C ...]"),
        ("verify", "[OPTIONS] SPEC", "SPEC"),
        ("check", "[OPTIONS] SPEC...", "SPEC..."),
    ],
)
def test_help_names_arguments_by_their_metavar_alone(command: str, usage: str, argument: str):
    """An argument reads as its metavar, in the usage line and under Arguments: not
    `{SPEC...}...` nor `SPEC... <list[Path]>` (B26); and a range as words, not x>=1."""
    text = runner.invoke(app, [command, "--help"]).stdout
    assert text.splitlines()[0].endswith(f" {command} {usage}"), text.splitlines()[0]
    arguments = text.split("Arguments:")[1].split("Options:")[0]
    listed = arguments.strip().splitlines()[0]
    assert listed.startswith(f"{argument}  "), listed
    assert "<" not in arguments and "x>=" not in text and "<=x" not in text, text


def test_an_input_of_another_rank_is_refused(tmp_path: Path):
    path = write(tmp_path, "small.yaml", SMALL)
    result = shapes(path, "--input", "224x224")
    assert_refused(result, "--input: 224x224 has 1 spatial dims", "3x16x16 has 2")


def test_sympy_is_installed_with_convcalc():
    """`pip install .` alone runs the symbolic example specs: sympy is a dependency."""
    import tomllib

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    assert any(dependency.startswith("sympy") for dependency in project["project"]["dependencies"])


def test_a_bug_exits_3_with_its_traceback(monkeypatch, capsys):
    from convcalc import cli, commands

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(commands, "analyze_spec", broken)
    monkeypatch.setattr(sys, "argv", ["convcalc", "shapes", "specs/lenet5.yaml"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 3  # never 1, `check`'s "budget exceeded"
    assert "ZeroDivisionError: a bug" in capsys.readouterr().err


PLUGIN_LOADER_PROGRAM = """
import os
import sys

os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
from convcalc import cli

cli._skip_plugin_loader()
from pydantic.plugin._loader import get_plugins

assert tuple(get_plugins()) == ()
from convcalc.spec import load_path

load_path("specs/resnet50.yaml")  # pydantic validates through the stand-in
assert "importlib.metadata" not in sys.modules
from pydantic.plugin._loader import PYDANTIC_ENTRY_POINT_GROUP  # any other name: the real one

assert PYDANTIC_ENTRY_POINT_GROUP == "pydantic"
assert "importlib.metadata" in sys.modules
"""


def test_pydantic_plugin_loader_stand_in():
    """With plugins disabled, the loader's import (importlib.metadata) is spared."""
    root = Path(__file__).parent.parent
    subprocess.run([sys.executable, "-c", PLUGIN_LOADER_PROGRAM], cwd=root, check=True)
