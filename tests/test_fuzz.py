"""A generative fuzzer over hostile specs and command lines: the contract for untrusted input.

Specs come from untrusted pull requests, so whatever a spec or a call holds, every command
must end with exit 0, 1 (only where 1 has a meaning: a budget exceeded, no size found) or 2,
an error must be `error:` lines on stderr and nothing on stdout, nothing may raise (a
traceback), and no spec text may forge output: no line that starts a GitHub workflow
command, no terminal escape or carriage return, no raw HTML in markdown, no formula cell
in CSV.

Each case takes one of the example specs (or a small inline one), mutates one to three
places of its document (a value replaced by a hostile one, a key dropped or misspelt, a
layer duplicated), writes it as YAML or JSON, and runs one command on it, sometimes with a
hostile option. The example budget is fixed, so the test takes well under a minute.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import signal
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from convcalc.cli import app

SPECS = Path(__file__).resolve().parent.parent / "specs"
runner = CliRunner()

# Small enough that `verify` and `sizes` on a mutation stay quick.
TINY = {
    "name": "tiny",
    "input": [3, 12, 12],
    "budget": {"max_params": "1M", "min_receptive_field": 3},
    "blocks": {
        "res": {
            "args": {"width": 4},
            "layers": [
                {
                    "name": "conv",
                    "type": "conv",
                    "out_channels": "${width}",
                    "kernel_size": 3,
                    "padding": 1,
                },
                {"name": "add", "type": "add", "inputs": ["conv", "in"]},
            ],
        }
    },
    "layers": [
        {"name": "stem", "type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"name": "body", "type": "block", "use": "res", "repeat": 2},
        {"name": "pool", "type": "max_pool", "kernel_size": 2},
        {"name": "up", "type": "upsample", "scale_factor": 2, "mode": "bilinear"},
        {"name": "cat", "type": "concat", "inputs": ["up", "stem"]},
        {"name": "gap", "type": "global_avg_pool"},
        {"name": "flat", "type": "flatten"},
        {"name": "fc", "type": "dense", "out_features": 10},
    ],
}
SYMBOLIC = {
    "name": "symbolic",
    "input": [1, "H", "W"],
    "constraints": {"H": {"multiple_of": 4}},
    "layers": [
        {"name": "conv", "type": "conv", "out_channels": 4, "kernel_size": 3, "padding": "same"},
        {"name": "pool", "type": "max_pool", "kernel_size": 2},
        {"name": "up", "type": "conv_transpose", "out_channels": 4, "kernel_size": 2, "stride": 2},
        {"name": "cat", "type": "concat", "inputs": ["up", "conv"]},
    ],
}


def _example(name: str) -> dict:
    # Our own files, read with the safe loader: the spec text under test is the mutation.
    return yaml.safe_load((SPECS / name).read_text())


SEEDS = {
    "tiny": TINY,
    "symbolic": SYMBOLIC,
    **{name: _example(f"{name}.yaml") for name in ("lenet5", "resnet18", "unet", "mobilenet_v2")},
}

# Text that must never come out as it went in: a workflow command, markup, HTML, an
# escape sequence, a spreadsheet formula.
INJECTED = "::error title=PR::INJECTED"
HOSTILE_TEXT = [
    "",
    f"a\n{INJECTED}",
    f"x\r{INJECTED}",
    "[/x]",
    "[bold red]x[/]",
    "<img src=x onerror=alert(1)>",
    "-->",
    "@here",
    "=HYPERLINK(1)",
    "+1+cmd",
    "\x1b[31mred\x1b[0m",
    "\x00\x07\x08",
    "${width",
    "${2 ** 99999}",
    "${width * 10 ** 12}",
    "x" * 20_000,
    "same",
    "valid",
    "H",
    "input",
    "stem",
    "layer1.0.conv1",
    "strides",
    "1e999",
    "-inf",
]
# Written into the serialized text in place of these markers: values that Python could
# not serialize (a 5,000-digit integer) or that are about the document's depth.
BIG_INT = "__BIG_INT__"
DEEP = "__DEEP__"
RAW = {BIG_INT: "9" * 5_000, DEEP: "[" * 1_200 + "]" * 1_200}
HOSTILE_VALUES = st.one_of(
    st.sampled_from(HOSTILE_TEXT),
    st.sampled_from([0, -1, -4, 1, 2, 3, 2**31, 2**63, 10**30, 1.5, -0.0, True, False, None]),
    st.sampled_from([[], {}, [0, 1], [[-4, -4], [1, 1]], [1] * 40, {"a": 1}, BIG_INT, DEEP]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
)
# Options a pull request's workflow might pass through, hostile or not.
HOSTILE_OPTIONS = {
    "shapes": [
        ["--input", "224x224"],
        ["--input", "3x0x4"],
        ["--input", "9" * 5_000],
        ["--batch", "0"],
        ["--batch", "99999999999999999999"],
        ["--set", "H=0"],
        ["--set", "H=64"],
        ["--columns", "name,bogus"],
        ["--columns", "name,params,share"],
    ],
    "check": [
        ["--max-params", "1e999"],
        ["--max-peak-activation-bytes", "1e999"],
        ["--max-macs", "9" * 5_000],
        ["--max-params", "-1"],
        ["--min-receptive-field", "0x0@nowhere"],
        ["--output-shape", "10"],
        ["--max-growth", "params=5%"],
    ],
    "verify": [["--input", "3x8x8"], ["--max-memory", "1e999"], ["--seed", "-1"]],
    "sizes": [["--range", "1..64"], ["--range", "0..99999999999"], ["--dim", "Q"]],
}
FORMATS = {
    "shapes": ["table", "json", "markdown", "csv"],
    "check": ["table", "json", "markdown", "github"],
    "compare": ["table", "json"],
    "verify": ["table", "json"],
    "sizes": ["table", "json"],
}
# Exit codes with a meaning, per command: 1 is a budget exceeded or no size found.
EXITS = {
    "shapes": {0, 2},
    "check": {0, 1, 2},
    "compare": {0, 2},
    "verify": {0, 2},
    "sizes": {0, 1, 2},
}
# Control characters (tab and newline aside) and the terminal's escape introducer.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x9b]")
# The workflow commands convcalc itself writes in the github format.
OWN_WORKFLOW_COMMAND = re.compile(r"::(error|warning|notice) file=")
NUMBER = re.compile(r"[+-]?[0-9][0-9.,eE+-]*%?")
SECONDS = 30  # a hang guard for one case, not a speed figure


def places(document: object, path: tuple = ()) -> list[tuple]:
    """Every path to a value in a document (mapping keys and list indices)."""
    found = [path]
    if isinstance(document, dict):
        for key, value in document.items():
            found.extend(places(value, (*path, key)))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found.extend(places(value, (*path, index)))
    return found


def mutate(document: dict, data: st.DataObject) -> dict:
    """One hostile change at a drawn place: a name or a value replaced, a key dropped or
    misspelt, a layer duplicated."""
    everywhere = places(document)[1:]
    names = [path for path in everywhere if path[-1] == "name"]
    if data.draw(st.booleans(), label="rename"):
        # Names are what every format writes back: the likeliest way to forge output.
        path = data.draw(st.sampled_from(names), label="name")
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        parent["name"] = data.draw(st.sampled_from(HOSTILE_TEXT), label="text")
        return document
    path = data.draw(st.sampled_from(everywhere), label="place")
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    action = data.draw(st.sampled_from(["replace", "replace", "drop", "misspell", "copy"]))
    if action == "replace" or (action == "misspell" and not isinstance(parent, dict)):
        # A copy: the sampled lists and mappings are shared between cases.
        parent[last] = copy.deepcopy(data.draw(HOSTILE_VALUES, label="value"))
    elif action == "drop":
        del parent[last]
    elif action == "misspell":
        parent[f"{last}s" if data.draw(st.booleans()) else str(last)[:-1]] = parent.pop(last)
    elif isinstance(parent, list):
        parent.insert(last, json.loads(json.dumps(parent[last])))
    else:
        parent[last] = [parent[last], copy.deepcopy(parent[last])]
    return document


def serialize(document: dict, as_json: bool, block_style: bool) -> str:
    """The document as spec text, with the raw markers written in."""
    if as_json or not block_style:
        # JSON text is also YAML (flow style): written to a .yaml file, the YAML reader parses it.
        text = json.dumps(document, allow_nan=True)
    else:
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=False)
    for marker, raw in RAW.items():
        text = text.replace(f'"{marker}"', raw).replace(marker, raw)
    return text


def _hang(signum, frame):
    raise TimeoutError(f"a case ran longer than {SECONDS} s")


def assert_contract(command: str, output_format: str, args: list[str], result) -> None:
    """Exit code, one-line errors, no traceback, no forged output."""
    shown = f"convcalc {' '.join(a[:80] for a in args)}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{shown} raised {result.exception!r}") from result.exception
    assert result.exit_code in EXITS[command], (shown, result.exit_code, result.stderr[-2000:])
    stdout, stderr = result.stdout, result.stderr
    assert "Traceback" not in stderr, shown
    for stream in (stdout, stderr):
        assert not CONTROL.search(stream), (shown, CONTROL.search(stream)[0], stream[-500:])
        for line in stream.splitlines():
            if line.startswith("::"):
                assert stream is stdout and output_format == "github", (shown, line)
                assert OWN_WORKFLOW_COMMAND.match(line), (shown, line)
            assert not line.startswith(INJECTED), (shown, line)
    if result.exit_code == 2:
        lines = stderr.splitlines()
        assert lines and all(line.startswith("error: ") for line in lines), (shown, stderr)
        assert all(len(line) < 1_000 for line in lines), (shown, max(map(len, lines)))
        if output_format != "github":
            assert stdout == "", (shown, stdout[:500])
    if output_format == "markdown":
        assert "<img" not in stdout, shown
        marker = stdout.count("<!-- convcalc check -->")
        assert stdout.count("-->") == marker, shown
    if output_format == "csv" and result.exit_code == 0:
        for row in csv.reader(io.StringIO(stdout)):
            for cell in row:
                formula = cell[:1] in ("=", "@", "+", "-")
                assert not formula or NUMBER.fullmatch(cell), (shown, cell[:80])


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """One folder for every case's spec files, each case overwriting its own."""
    return tmp_path_factory.mktemp("fuzz")


@settings(
    max_examples=1_000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_hostile_specs_and_calls_keep_the_contract(folder: Path, data: st.DataObject):
    seed = data.draw(st.sampled_from(sorted(SEEDS)), label="seed")
    document = json.loads(json.dumps(SEEDS[seed]))
    for _ in range(data.draw(st.integers(min_value=0, max_value=3), label="mutations")):
        document = mutate(document, data)
    as_json = data.draw(st.booleans(), label="json")
    text = serialize(document, as_json, data.draw(st.booleans(), label="block style"))
    path = folder / f"spec.{'json' if as_json else 'yaml'}"
    path.write_text(text, encoding="utf-8")

    tiny = seed in ("tiny", "symbolic")
    commands = ["shapes", "check", "compare"] + (["verify", "sizes"] if tiny else [])
    command = data.draw(st.sampled_from(commands), label="command")
    output_format = data.draw(st.sampled_from(FORMATS[command]), label="format")
    if command == "compare":
        args = ["compare", str(SPECS / "lenet5.yaml"), "vs", str(path)]
    else:
        args = [command, str(path)]
    args += ["--format", output_format]
    if command == "verify":
        args += ["--max-memory", "64MiB"]
    if command in HOSTILE_OPTIONS and data.draw(st.booleans(), label="hostile option"):
        args += data.draw(st.sampled_from(HOSTILE_OPTIONS[command]), label="option")

    previous = signal.signal(signal.SIGALRM, _hang)
    signal.alarm(SECONDS)
    try:
        result = runner.invoke(app, args)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert_contract(command, output_format, args, result)
