"""Reading a spec: YAML or JSON text -> validated layer models, blocks and repeats expanded.

Specs arrive from untrusted pull requests: YAML is read with the safe loader only, block
arguments are evaluated by the whitelisting parser in `expr`, and sizes are bounded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import gc
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from convcalc import expr
from convcalc.dims import MAX_SPATIAL
from convcalc.errors import ConvCalcError, option
from convcalc.layers import LAYER_TYPES
from convcalc.layers.base import INPUT, Layer, Shape
from convcalc.text import CONTROL, cut, shown

if TYPE_CHECKING:
    from convcalc.budget import Budget

MAX_FILE_BYTES = 10 * 2**20  # a JSON spec
# A YAML spec: PyYAML builds every value in Python even over libyaml's C parser, about
# 1.2 s and 60 MB per MiB of small values, so YAML's limit is lower than JSON's.
MAX_YAML_BYTES = 2 * 2**20
MAX_LAYERS = 20_000
MAX_SIZE = 2**31  # any one count a spec states
MAX_NODES = 1_000_000  # values in a parsed spec, YAML aliases expanded
MAX_DEPTH = 64  # lists and mappings nested in one another
MAX_BLOCK_DEPTH = 32  # blocks using blocks
MAX_DIGITS = 100  # digits of one integer (Python refuses to read more than 4,300)
TOO_DEEP = f"lists and mappings nested more than {MAX_DEPTH} deep"

# Bytes per value of each dtype, for the memory figures.
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}

TOP_LEVEL_KEYS = (
    "name",
    "input",
    "inputs",
    "outputs",
    "constraints",
    "batch",
    "dtype",
    "blocks",
    "layers",
    "budget",
)
TRAINABLE = "trainable"  # False on a layer or block use: its weights get no gradient
SHARES = "shares"  # a layer's field naming the earlier layer (or block use) whose weights it uses
BLOCK_INPUT = "in"  # a block's input, as named inside the block
_ALIAS = re.compile(r"^(?P<base>[a-z_]+?)_?(?P<rank>[123])d$")
# A symbolic input size: `input: [3, H, W]`. A null size gets the name of its axis.
SYMBOL_PATTERN = "[A-Za-z][A-Za-z0-9_]{0,31}"
SYMBOL = re.compile(SYMBOL_PATTERN)
AXIS_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
CONSTRAINT_KEYS = ("multiple_of", "min", "max")


@dataclass(frozen=True)
class SizeRule:
    """What a spec states about one symbolic input size (its `constraints:` entry)."""

    multiple_of: int = 1
    min: int = 1
    max: int = MAX_SPATIAL

    def admits(self, size: int) -> bool:
        """True when `size` meets the rule."""
        return size % self.multiple_of == 0 and self.min <= size <= self.max

    def __str__(self) -> str:
        parts = [f"a multiple of {self.multiple_of}"] if self.multiple_of > 1 else []
        if self.min > 1:
            parts.append(f"at least {self.min}")
        if self.max < MAX_SPATIAL:
            parts.append(f"at most {self.max}")
        return " and ".join(parts) or "any size"


@dataclass
class Network:
    """A spec after loading: header and the expanded, validated layers in execution order."""

    name: str
    input: Shape  # the first (or only) network input
    batch: int = 1
    dtype: str = "float32"
    layers: list[Layer] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)  # layer name -> line in the spec
    file: str | None = None
    budget: Budget | None = None  # the `budget:` section; `convcalc check` evaluates it
    constraints: dict[str, SizeRule] = field(default_factory=dict)  # by symbol name
    notes: tuple[str, ...] = ()  # about the spec as a whole, shown on its first layer
    # Every network input by name, in the spec's order: {"input": input} for `input:`.
    named_inputs: dict[str, Shape] = field(default_factory=dict)
    output_names: tuple[str, ...] = ()  # the spec's `outputs:`; () for the last layer

    @property
    def inputs(self) -> dict[str, Shape]:
        """The network inputs by name (one, `input`, unless the spec has `inputs:`)."""
        return self.named_inputs or {INPUT: self.input}

    @property
    def outputs(self) -> tuple[str, ...]:
        """The names of the network's outputs: the spec's `outputs:`, or the last layer."""
        return self.output_names or ((self.layers[-1].name,) if self.layers else ())

    @property
    def symbols(self) -> tuple[str, ...]:
        """The inputs' symbolic sizes, in order (() for concrete inputs)."""
        return tuple(
            dict.fromkeys(
                size
                for shape in self.inputs.values()
                for size in shape.spatial
                if isinstance(size, str)
            )
        )

    @property
    def dtype_bytes(self) -> int:
        """Bytes per value."""
        return DTYPE_BYTES[self.dtype]


def load_path(path: str | Path) -> Network:
    """Read and validate the spec at `path` (YAML, or JSON by its .json suffix)."""
    path = Path(path)
    json_format = path.suffix.lower() == ".json"
    try:
        text = read_text(path, MAX_FILE_BYTES if json_format else MAX_YAML_BYTES)
        network = load_text(text, json_format=json_format, name=path.stem)
    except ConvCalcError as error:
        raise error.add_context(file=str(path)) from None
    network.file = str(path)
    return network


def read_text(path: Path, limit: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of the regular file at `path`, refused past `limit` bytes.

    A path may point anywhere (a symlink to /dev/zero, a FIFO): only a regular file is
    read, and never more than the limit and one byte.
    """
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise ConvCalcError("not a regular file")
            data = handle.read(limit + 1)
    except OSError as error:
        raise ConvCalcError(error.strerror or str(error)) from None
    if len(data) > limit:
        kind = "a YAML spec" if limit == MAX_YAML_BYTES else "a spec"
        raise ConvCalcError(f"larger than {limit // 2**20} MiB, the limit for {kind}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConvCalcError("not UTF-8 text") from None


def load_text(text: str, json_format: bool = False, name: str = "network") -> Network:
    """Parse and validate spec text."""
    with collector_paused():
        document = _parse_json(text) if json_format else _parse_yaml(text)
        return load_document(document, name)


def load_document(document: Any, name: str = "network") -> Network:
    """Validate a parsed spec (a mapping, as YAML or JSON gives it)."""
    with collector_paused():
        _check_size(document)
        network = build(document, default_name=name)
    shape = network.input.as_tuple()
    if len(shape) == 4 and shape[0] == 1:
        # As written by a user, not built by `compare` for its 3-d stacks.
        volume, written = "x".join(map(str, shape[1:])), ", ".join(map(str, shape))
        network.notes = (
            f"the input [{written}] is read as 1 channel of a {volume} volume; for PyTorch's"
            f" NCHW with its batch, write `input: [{written.removeprefix('1, ')}]` and put the"
            " batch in `batch:`",
        )
    return network


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block (if it was running).

    Loading and analyzing a spec make several objects for every value and layer, nearly
    all kept to the end and none in a reference cycle, and each collection that so many
    allocations trigger walks again every object made so far: a third of the time spent
    on a 10,000-layer spec went to collecting nothing. Cycles the block leaves behind, if
    any, are collected once it is over.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _check_size(document: Any) -> None:
    """Refuse a document of more than MAX_NODES values, counting YAML aliases expanded, or
    nested more than MAX_DEPTH deep.

    Aliases let a few lines stand for an exponential number of values ("billion laughs");
    everything after parsing walks the expanded tree, some of it recursively, so it is
    bounded here, early.
    """
    pending, seen = [(document, 0)], 0
    while pending:
        value, depth = pending.pop()
        seen += 1
        if seen > MAX_NODES:
            raise ConvCalcError(f"more than {MAX_NODES} values (YAML aliases expanded)")
        if depth > MAX_DEPTH:
            raise ConvCalcError(TOO_DEEP, line=getattr(value, "line", None))
        if isinstance(value, dict):
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)


def build(document: Any, default_name: str = "network") -> Network:
    """Validate a parsed spec document and expand its blocks."""
    if not isinstance(document, dict):
        raise ConvCalcError("a spec is a mapping with at least `input` and `layers`")
    for key in document:
        if key not in TOP_LEVEL_KEYS:
            raise ConvCalcError(
                f"unknown key {shown(key)} (known: {', '.join(TOP_LEVEL_KEYS)})", field=str(key)
            )
    if "layers" not in document:
        raise ConvCalcError("missing", field="layers")
    named_inputs = _network_inputs(document)
    network = Network(
        name=_name(document.get("name", default_name)),
        input=next(iter(named_inputs.values())),
        batch=_positive(document.get("batch", 1), "batch"),
        dtype=_dtype(document.get("dtype", "float32")),
        named_inputs=named_inputs if "inputs" in document else {},
    )
    network.constraints = parse_constraints(document.get("constraints"), network.symbols)
    if document.get("budget") is not None:
        from convcalc.budget import parse_budget  # only specs with a budget pay its import

        network.budget = parse_budget(document["budget"])
    blocks = document.get("blocks") or {}
    if not isinstance(blocks, dict):
        raise ConvCalcError("a mapping of block name to {args, layers}", field="blocks")
    expansion = _Expansion(blocks, tuple(named_inputs))
    top = {name: name for name in named_inputs}
    # With several inputs, a layer that reads none by name has no default to read.
    first = next(iter(named_inputs)) if len(named_inputs) == 1 else None
    expansion.expand(_layer_list(document["layers"], "layers"), top, "", first, {}, ())
    if not expansion.layers:
        raise ConvCalcError("no layers", field="layers")
    for index, (raw, line) in enumerate(expansion.layers, start=1):
        layer = validate_layer(raw, index, line)
        network.layers.append(layer)
        if line:
            network.lines[layer.name] = line
    if document.get("outputs") is not None:
        network.output_names = _outputs(document["outputs"], top, expansion)
    return network


def _network_inputs(document: dict) -> dict[str, Shape]:
    """The network inputs by name: `input: [...]` (named `input`) or `inputs: {name: [...]}`."""
    if "input" not in document and "inputs" not in document:
        raise ConvCalcError(
            "missing (give input, or inputs for several named inputs)", field="input"
        )
    if "input" in document and "inputs" in document:
        raise ConvCalcError(
            "give exactly one of input (one network input) and inputs (several, by name);"
            " both given",
            field="inputs",
        )
    if "input" in document:
        return {INPUT: parse_input(document["input"])}
    given = document["inputs"]
    if not isinstance(given, dict) or not given:
        raise ConvCalcError(
            "a mapping of input name to [channels, *spatial], e.g. {image: [3, 224, 224]}",
            field="inputs",
        )
    found = {}
    for name, value in given.items():
        try:
            _name(name)
            if name in (BLOCK_INPUT, "block"):
                raise ConvCalcError(f"{shown(name)} is reserved; name the input otherwise")
            found[name] = parse_input(value)
        except ConvCalcError as error:
            raise ConvCalcError(error.message, field=f"inputs.{cut(str(name))}") from None
    return found


def _outputs(value: Any, names: dict[str, str], expansion: _Expansion) -> tuple[str, ...]:
    """The `outputs:` list as global layer names: top-level names (a block use or a
    repeated layer means its last output) or any layer's full name."""
    if not isinstance(value, list) or not value or not all(isinstance(n, str) for n in value):
        raise ConvCalcError("a non-empty list of layer names", field="outputs")
    found: list[str] = []
    for name in value:
        if name in expansion.input_names:
            raise ConvCalcError(f"{shown(name)} is a network input, not a layer", field="outputs")
        if name in names:
            resolved = names[name]
        elif name in expansion.taken:
            resolved = name
        else:
            layers = [known for known in names if known not in expansion.input_names]
            raise ConvCalcError(
                f"unknown layer {shown(name)}{_hint(name, layers)} (layers: {_listing(layers)})",
                field="outputs",
            )
        resolved = expansion._one_output(resolved, "outputs")
        if resolved in found:
            raise ConvCalcError(f"{shown(name)} is listed twice", field="outputs")
        found.append(resolved)
    return tuple(found)


def parse_input(value: Any) -> Shape:
    """`[channels, *spatial]` with 0 to 3 spatial dims; a spatial size may be a symbol
    name (`H`) or null (a symbol named after its axis)."""
    if not isinstance(value, list) or not 1 <= len(value) <= 4:
        raise ConvCalcError("[channels, *spatial] with up to 3 spatial dims", field="input")
    if isinstance(value[0], str) or value[0] is None:
        raise ConvCalcError(
            f"channels must be a whole number, got {shown(value[0])}; only spatial sizes may be"
            " symbols",
            field="input",
        )
    channels = _positive(value[0], "input")
    sizes = value[1:]
    named = {size for size in sizes if isinstance(size, str)}
    spatial: list[int | str] = []
    for axis, size in enumerate(sizes):
        if size is None:
            name = AXIS_NAMES[len(sizes)][axis]
            if name in named:  # taken: S<axis>, with _ added until it is free
                name = f"S{axis + 1}"
                while name in named:
                    name += "_"
            spatial.append(name)
            named.add(name)
        elif isinstance(size, str):
            if not SYMBOL.fullmatch(size):
                raise ConvCalcError(
                    f"size {shown(size)} is neither a whole number nor a symbol name (a letter,"
                    " then letters, digits or _; at most 32)",
                    field="input",
                )
            spatial.append(size)
        else:
            spatial.append(_positive(size, "input", MAX_SPATIAL))
    return Shape(channels, tuple(spatial))


def require_numbers(network: Network, command: str, how: str) -> Network:
    """The network, refused when its input sizes are symbols: `command` needs numbers."""
    if network.symbols:
        raise ConvCalcError(
            f"the input's sizes are symbols ({', '.join(network.symbols)}): {command} needs"
            f" numbers; {how}",
            field="input",
        )
    return network


def sizes_of(network: Network, shape: tuple[int, ...]) -> dict[str, int]:
    """The sizes an `--input` shape gives the input's symbols (by axis; none for another
    rank), refusing one symbol given two sizes."""
    if len(shape) != 1 + len(network.input.spatial) or len(network.inputs) > 1:
        return {}  # the analysis refuses it
    sizes: dict[str, int] = {}
    for name, size in zip(network.input.spatial, shape[1:], strict=True):
        if isinstance(name, str) and sizes.setdefault(name, size) != size:
            raise ConvCalcError(
                f"gives {name} two sizes, {sizes[name]} and {size}", field=option("input_shape")
            )
    return sizes


def set_sizes(
    network: Network, sizes: dict[str, int], field_name: str = option("sizes")
) -> Network:
    """The network with some of its input's symbols given sizes (`--set H=224`)."""
    symbols = network.symbols
    for name, size in sizes.items():
        where = f"{field_name} {name}"
        if name not in symbols:
            known = ", ".join(symbols) or "none: its input sizes are numbers"
            raise ConvCalcError(f"not a symbol of the input (symbols: {known})", field=where)
        _positive(size, where, MAX_SPATIAL)
        rule = network.constraints.get(name)
        if rule is not None and not rule.admits(size):
            raise ConvCalcError(
                f"{size} breaks the spec's constraint: {name} must be {rule}", field=where
            )

    def sized(shape: Shape) -> Shape:
        return Shape(shape.channels, tuple(sizes.get(size, size) for size in shape.spatial))

    return dataclasses.replace(
        network,
        input=sized(network.input),
        named_inputs={name: sized(shape) for name, shape in network.named_inputs.items()},
    )


def parse_constraints(value: Any, symbols: tuple[str, ...]) -> dict[str, SizeRule]:
    """The `constraints:` section: {symbol: {multiple_of, min, max}}."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConvCalcError(
            "a mapping of input size symbol to {multiple_of, min, max}", field="constraints"
        )
    rules = {}
    for name, entry in value.items():
        where = f"constraints.{name}"
        if name not in symbols:
            known = ", ".join(symbols) or "none: the input has no symbolic sizes"
            raise ConvCalcError(f"not a symbol of the input (symbols: {known})", field=where)
        if not isinstance(entry, dict):
            raise ConvCalcError("a mapping with multiple_of, min or max", field=where)
        for key in entry:
            if key not in CONSTRAINT_KEYS:
                raise ConvCalcError(
                    f"unknown key {shown(key)} (known: {', '.join(CONSTRAINT_KEYS)})",
                    field=f"{where}.{key}",
                )
        rule = SizeRule(
            **{key: _positive(entry[key], f"{where}.{key}", MAX_SPATIAL) for key in entry}
        )
        if rule.min > rule.max:
            raise ConvCalcError(f"min {rule.min} exceeds max {rule.max}", field=where)
        rules[name] = rule
    return rules


def validate_layer(raw: dict, index: int, line: int | None = None) -> Layer:
    """One layer's fields -> its layer model, errors naming the layer and the field."""
    name = raw.get("name")
    try:
        cls, rank = layer_class(raw.get("type"))
        try:
            layer = cls.model_validate({**raw, "type": cls.type_name()})
        except ValidationError as error:
            raise _pydantic_error(error, cls) from None
        layer._rank = rank
        return layer
    except ConvCalcError as error:
        raise error.add_context(layer_index=index, layer_name=name, line=line) from None


def layer_class(type_name: Any) -> tuple[type[Layer], int | None]:
    """The layer model for a `type:`, and the rank a `conv2d`-style alias demands."""
    if not isinstance(type_name, str):
        raise ConvCalcError("missing or not a string", field="type")
    if type_name in LAYER_TYPES:
        return LAYER_TYPES[type_name], None
    alias = _ALIAS.match(type_name)
    if alias and alias["base"] in LAYER_TYPES and LAYER_TYPES[alias["base"]].spatial:
        return LAYER_TYPES[alias["base"]], int(alias["rank"])
    hint = _hint(type_name, [*LAYER_TYPES, "block"])
    known = ", ".join(sorted([*LAYER_TYPES, "block"]))
    raise ConvCalcError(
        f"unknown layer type {shown(type_name)}{hint} (known: {known})", field="type"
    )


class _Expansion:
    """Blocks and repeats unrolled into one list of layer dicts with global names."""

    def __init__(self, blocks: dict[str, Any], input_names: tuple[str, ...] = (INPUT,)) -> None:
        self.blocks = blocks
        self.input_names = input_names
        self.layers: list[tuple[dict, int | None]] = []
        # global name -> layer index (1-based); 0 for the network inputs
        self.taken: dict[str, int] = {name: 0 for name in input_names}
        # The layers each block use made, by the use's global name: their global names.
        # Global name of a layer of several outputs (a split) -> its number of parts: only
        # its parts, NAME.0 ..., are layers that later ones may read.
        self.several: dict[str, int] = {}
        self.block_layers: dict[str, list[str]] = {}
        # A sharing layer's owner, by the sharer's global name: the layer whose weights
        # it uses (never itself a sharer: a chain ends at its first layer).
        self.owners: dict[str, str] = {}

    def expand(
        self,
        raws: list[Any],
        names: dict[str, str],
        prefix: str,
        previous: str | None,
        args: dict[str, Any],
        stack: tuple[str, ...],
    ) -> str:
        """Append `raws` (one layer list) to self.layers; return the last output's name.

        `names` maps the names visible in this list to global names; `previous` is the
        global name of what the first layer reads by default (None: nothing, several
        network inputs being named).
        """
        for position, raw in enumerate(raws, start=1):
            index = len(self.layers) + 1
            line = getattr(raw, "line", None)
            if not isinstance(raw, dict):
                raise ConvCalcError("a layer is a mapping with a `type`", layer_index=index)
            local = raw.get("name")
            try:
                raw = _substitute(raw, args)
                local = raw.get("name", f"{raw.get('type')}{position}")
                _name(local)
                if local in names and names[local] in self.input_names and not prefix:
                    raise ConvCalcError(
                        f"{shown(local)} names a network input and a layer", field="name"
                    )
                if local in names:
                    raise ConvCalcError(f"{shown(local)} names two layers", field="name")
                repeat = _positive(raw.pop("repeat", 1), "repeat", MAX_LAYERS)
                numbers = _copy_numbers(raw.pop("start", None), repeat)
                # At the top level, any layer made so far may be named in full
                # (`stack.3.skip`, inside a repeated block), as PyTorch names modules.
                expanded = None if prefix else self.taken
                sources = self._inputs(raw, names, raws, position, previous, expanded)
                if raw.get("type") == "block":
                    previous = self._block(raw, local, sources, prefix, stack, numbers)
                else:
                    previous = self._plain(
                        raw, local, sources, names, expanded, prefix, numbers, line, raws, position
                    )
            except ConvCalcError as error:
                label = f"{prefix}{local}" if isinstance(local, str) else None
                raise error.add_context(layer_index=index, layer_name=label, line=line) from None
            names[local] = previous
        return previous

    def _inputs(
        self,
        raw: dict,
        names: dict[str, str],
        raws: list[Any],
        position: int,
        previous: str | None,
        expanded: dict[str, int] | None,
    ) -> list[str]:
        given = raw.pop("inputs", None)
        if given is None and previous is None:
            raise ConvCalcError(
                f"the network has several inputs ({', '.join(map(cut, self.input_names))}):"
                " name the one this layer reads",
                field="inputs",
            )
        if given is None:
            return [self._one_output(previous, "inputs", "follows")]
        if not isinstance(given, list) or not given or not all(isinstance(n, str) for n in given):
            raise ConvCalcError("a non-empty list of earlier layer names", field="inputs")
        return [
            self._one_output(_resolve(name, names, expanded, raws, position, "inputs"), "inputs")
            for name in given
        ]

    def _one_output(self, name: str, field_name: str, how: str = "names") -> str:
        """`name`, refused when it is a layer of several outputs rather than one of them."""
        parts = self.several.get(name)
        if parts is None:
            return name
        raise ConvCalcError(
            f"{how} {shown(name)}, which makes {parts} outputs: name one of them,"
            f" {cut(name)}.0 to {cut(name)}.{parts - 1}",
            field=field_name,
        )

    def _plain(
        self,
        raw: dict,
        local: str,
        sources: list[str],
        names: dict[str, str],
        expanded: dict[str, int] | None,
        prefix: str,
        numbers: list[str],
        line: int | None,
        raws: list[Any],
        position: int,
    ) -> str:
        cls, _ = layer_class(raw.get("type"))
        for reference in cls.references:
            if isinstance(raw.get(reference), str):
                given = raw[reference]
                found = _resolve(given, names, expanded, raws, position, reference)
                raw[reference] = self._one_output(found, reference)
        if raw.get(SHARES) is not None:
            if raw[SHARES] == local:
                raise ConvCalcError(
                    "a layer shares another layer's weights, not its own", field=SHARES
                )
            raw[SHARES] = self._owner(raw[SHARES], names, raws, position, prefix)
        parts = cls.expand_parts(raw)
        if parts is not None:
            return self._parts(parts, local, sources, names, prefix, numbers, line)
        for number in numbers:
            name = f"{prefix}{local}{number}"
            self._append({**raw, "name": name, "inputs": sources}, line)
            sources = [name]
        return sources[0]

    def _parts(
        self,
        parts: list[dict],
        local: str,
        sources: list[str],
        names: dict[str, str],
        prefix: str,
        numbers: list[str],
        line: int | None,
    ) -> str:
        """One row per output of a layer of several (a split `s`: `s.0`, `s.1`, ...)."""
        if numbers != [""]:
            raise ConvCalcError("a layer of several outputs cannot be repeated", field="repeat")
        base = f"{prefix}{local}"
        self._claim(base)
        first = len(self.layers) + 1
        for index, fields in enumerate(parts):
            part = f"{local}.{index}"
            if part in names:
                raise ConvCalcError(f"{shown(part)} names two layers", field="name")
            self._append({**fields, "name": f"{prefix}{part}", "inputs": sources}, line)
            names[part] = f"{prefix}{part}"
        self.taken[base] = first
        self.several[base] = len(parts)
        return base

    def _owner(
        self, given: Any, names: dict[str, str], raws: list[Any], position: int, prefix: str
    ) -> str:
        """The global name of the layer whose weights `shares: given` means: a name visible
        here or any earlier layer's full name (inside a block too: a tower's layers may
        share another block use's), followed to the layer that owns them."""
        if not isinstance(given, str):
            raise ConvCalcError(f"an earlier layer's name, got {shown(given)}", field=SHARES)
        if given in self.input_names or names.get(given) in self.input_names:
            raise ConvCalcError(
                f"{shown(given)} is a network input, which has no weights", field=SHARES
            )
        if given in self.block_layers or f"{prefix}{given}" in self.block_layers:
            raise ConvCalcError(
                f"{shown(given)} is a block use: a layer shares a layer's weights; to share a"
                " whole block, give the block use `shares`",
                field=SHARES,
            )
        owner = self._one_output(_resolve(given, names, self.taken, raws, position, SHARES), SHARES)
        return self.owners.get(owner, owner)

    def _block(
        self,
        raw: dict,
        local: str,
        sources: list[str],
        prefix: str,
        stack: tuple[str, ...],
        numbers: list[str],
    ) -> str:
        unknown = set(raw) - {"type", "name", "use", "args", SHARES, TRAINABLE}
        if unknown:
            raise ConvCalcError(
                f"unknown field(s) {', '.join(sorted(unknown))} (a block takes use, args,"
                " shares, trainable)",
                field=sorted(unknown)[0],
            )
        trainable = raw.get(TRAINABLE, True)
        if not isinstance(trainable, bool):
            raise ConvCalcError(f"true or false, got {shown(trainable)}", field=TRAINABLE)
        use = raw.get("use")
        if not isinstance(use, str) or use not in self.blocks:
            known = ", ".join(sorted(self.blocks)) or "none defined"
            raise ConvCalcError(f"unknown block {shown(use)} (blocks: {known})", field="use")
        if use in stack:
            raise ConvCalcError(f"block uses itself: {' -> '.join([*stack, use])}", field="use")
        if len(stack) >= MAX_BLOCK_DEPTH:
            raise ConvCalcError(
                f"blocks nested more than {MAX_BLOCK_DEPTH} deep: {' -> '.join(stack[:3])} ->"
                f" ... -> {stack[-1]} -> {use}",
                field="use",
            )
        if len(sources) != 1:
            raise ConvCalcError("a block reads exactly one input", field="inputs")
        definition = self.blocks[use]
        if not isinstance(definition, dict) or set(definition) - {"args", "layers"}:
            raise ConvCalcError(
                f"block {shown(use)} must be a mapping of args and layers", field="use"
            )
        defaults = definition.get("args") or {}
        given = raw.get("args") or {}
        if not isinstance(defaults, dict) or not isinstance(given, dict):
            raise ConvCalcError("args must be a mapping of name to value", field="args")
        for name in given:
            if name not in defaults:
                known = ", ".join(sorted(defaults)) or "none"
                raise ConvCalcError(
                    f"block {shown(use)} has no argument {shown(name)} (arguments: {known})",
                    field="args",
                )
        block_args = {**defaults, **given}
        body = _layer_list(definition.get("layers"), f"blocks.{use}.layers")
        if not body:
            raise ConvCalcError(f"block {shown(use)} has no layers", field="use")
        shared = self._shared_block(raw.get(SHARES), prefix)
        previous = sources[0]
        start = len(self.layers)
        for number in numbers:
            inner = f"{prefix}{local}{number}."
            previous = self.expand(
                body, {BLOCK_INPUT: previous}, inner, previous, block_args, (*stack, use)
            )
        if not trainable:  # a frozen block use freezes every layer it makes
            self.layers[start:] = [
                ({**raw, TRAINABLE: False}, line) for raw, line in self.layers[start:]
            ]
        made = [raw["name"] for raw, _ in self.layers[start:]]
        self.block_layers[f"{prefix}{local}"] = made
        if shared is not None:
            self._share_block(shared, f"{prefix}{local}", start)
        return previous

    def _shared_block(self, given: Any, prefix: str) -> str | None:
        """The global name of the earlier block use whose layers a block use's `shares`
        names (a use in the same list, or a use's full name), or None without `shares`."""
        if given is None:
            return None
        if isinstance(given, str):
            for found in (f"{prefix}{given}", given):
                if found in self.block_layers:
                    return found
        known = ", ".join(map(cut, self.block_layers)) or "none so far"
        raise ConvCalcError(
            f"a block use shares the layers of an earlier block use: {shown(given)} is none"
            f" (earlier uses: {known})",
            field=SHARES,
        )

    def _share_block(self, owner: str, sharer: str, start: int) -> None:
        """Make each layer of block use `sharer` (its layers from self.layers[start]) share
        the layer of `owner` at the same place in it."""
        owned = self.block_layers[owner]
        made = self.block_layers[sharer]
        suffixes = [name.removeprefix(f"{sharer}.") for name in made]
        if suffixes != [name.removeprefix(f"{owner}.") for name in owned]:
            raise ConvCalcError(
                f"{shown(owner)} made other layers ({len(owned)}) than this use"
                f" ({len(made)}): only a use of the same block, with the same repeat, can"
                " share its layers",
                field=SHARES,
            )
        for offset, owner_layer in enumerate(owned):
            raw, line = self.layers[start + offset]
            if raw.get(SHARES) is None:
                root = self.owners.get(owner_layer, owner_layer)
                self.layers[start + offset] = ({**raw, SHARES: root}, line)
                self.owners[raw["name"]] = root

    def _append(self, raw: dict, line: int | None) -> None:
        name = raw["name"]
        self._claim(name)
        if len(self.layers) >= MAX_LAYERS:
            raise ConvCalcError(f"more than {MAX_LAYERS} layers after expansion", field="repeat")
        self.taken[name] = len(self.layers) + 1
        if raw.get(SHARES) is not None:
            self.owners[name] = raw[SHARES]
        self.layers.append((raw, line))

    def _claim(self, name: str) -> None:
        """Refuse a global name already taken by an earlier layer or the network input."""
        if name in self.taken:
            earlier = f"layer {self.taken[name]}" if self.taken[name] else "the network input"
            raise ConvCalcError(
                f"{shown(name)} names two layers: {earlier} and layer {len(self.layers) + 1}",
                field="name",
            )


def _resolve(
    name: str,
    names: dict[str, str],
    expanded: dict[str, int] | None,
    raws: list[Any],
    position: int,
    field_name: str,
) -> str:
    """The global name of `name` as seen from layer `position` (1-based) of `raws`: a name
    visible there, or (`expanded`, at the top level) the full name of any earlier layer."""
    if name in names:
        return names[name]
    if expanded is not None and name in expanded:
        return name
    if any(isinstance(raw, dict) and raw.get("name") == name for raw in raws[position:]):
        raise ConvCalcError(
            f"{shown(name)} comes later: {field_name} must name earlier layers (no cycles)",
            field=field_name,
        )
    raise ConvCalcError(
        f"unknown layer {shown(name)}{_hint(name, names)} (visible here: {_listing(names)})",
        field=field_name,
    )


def _hint(given: str, known) -> str:
    """'; did you mean ...?' for the closest of `known`, or ''."""
    close = _closest(given, known)
    return f"; did you mean {shown(close)}?" if close else ""


def _closest(given: str, known) -> str | None:
    """The one of `known` closest to `given`, when one is close."""
    if len(given) > 100:  # difflib's cost grows with the product of the lengths
        return None
    close = difflib.get_close_matches(given, [name for name in known if len(name) <= 100], n=1)
    return close[0] if close else None


def _listing(names, shown_names: int = 12) -> str:
    """Names for a message, the last `shown_names` of them (the nearest earlier layers)."""
    names = list(names)
    listed = ", ".join(cut(name) for name in names[-shown_names:])
    return f"..., {listed} ({len(names)} in all)" if len(names) > shown_names else listed


def _substitute(value: Any, args: dict[str, Any], field_name: str | None = None) -> Any:
    """A copy of `value` with every `${...}` string evaluated over `args`."""
    if expr.is_expression(value):
        try:
            return expr.evaluate(value, args)
        except ConvCalcError as error:
            raise error.add_context(field=field_name) from None
    if isinstance(value, dict):
        return {key: _substitute(item, args, field_name or str(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, args, field_name) for item in value]
    return value


MAX_PROBLEMS = 10  # problems of one layer listed in its error line
# Pydantic's bound checks, with the word for each: a broken bound says more than the type
# errors of the union's other members ("Input should be a valid integer, got [0, 1]").
_BOUNDS = {"greater_than_equal": ("ge", "at least"), "less_than_equal": ("le", "at most")}


def _pydantic_error(error: ValidationError, cls: type[Layer]) -> ConvCalcError:
    """Pydantic's errors as one line: each field's most telling problem, `field: message`,
    up to MAX_PROBLEMS of them."""
    by_field: dict[str, list[dict]] = {}
    for problem in error.errors():
        field_name = str(problem["loc"][0]) if problem["loc"] else ""
        by_field.setdefault(field_name, []).append(problem)
    parts = [_field_problem(name, problems, cls) for name, problems in by_field.items()]
    if len(parts) == 1:
        name, message = parts[0]
        return ConvCalcError(message, field=name or None)
    listed = [f"{name}: {message}" if name else message for name, message in parts]
    more = len(listed) - MAX_PROBLEMS
    text = "; ".join(listed[:MAX_PROBLEMS]) + (f"; and {more} more" if more > 0 else "")
    return ConvCalcError(text)


def _field_problem(name: str, problems: list[dict], cls: type[Layer]) -> tuple[str, str]:
    """(field, message) for one field's problems."""
    first = problems[0]
    if first["type"] == "extra_forbidden":
        close = _closest(name, cls.model_fields)
        return name, "unknown field" + (f" (did you mean {shown(close)}?)" if close else "")
    if first["type"] == "missing":
        return name, "missing"
    for problem in problems:
        if problem["type"] in _BOUNDS:
            key, word = _BOUNDS[problem["type"]]
            return name, f"must be {word} {problem['ctx'][key]}, got {shown(problem['input'])}"
    return name, f"{first['msg']}, got {shown(first.get('input'))}"


def _layer_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConvCalcError("a list of layers", field=where)
    return value


def _positive(value: Any, field_name: str, limit: int = MAX_SIZE) -> int:
    if type(value) is not int or not 1 <= value <= limit:
        raise ConvCalcError(
            f"a whole number from 1 to {limit}, got {shown(value)}", field=field_name
        )
    return value


def _copy_numbers(start: Any, repeat: int) -> list[str]:
    """The name suffix of each copy of a repeated layer or block use: `.0` ... `.N-1`, none
    for a single copy, and `.S` ... `.S+N-1` whenever `start` is given (torchvision's
    `layer2.1`, `layer2.2` after a `layer2.0` written apart)."""
    if start is None:
        return [f".{copy}" for copy in range(repeat)] if repeat > 1 else [""]
    if type(start) is not int or not 0 <= start <= MAX_LAYERS:
        raise ConvCalcError(
            f"a whole number from 0 to {MAX_LAYERS}, got {shown(start)}", field="start"
        )
    return [f".{start + copy}" for copy in range(repeat)]


def _name(value: Any) -> str:
    """A spec's or a layer's name: text that every format writes back, so one line of it."""
    if not isinstance(value, str) or not value:
        raise ConvCalcError(f"a non-empty string, got {shown(value)}", field="name")
    if CONTROL.search(value):
        raise ConvCalcError(
            f"{shown(value)} holds a control character (a newline, tab or escape)", field="name"
        )
    return value


def _dtype(value: Any) -> str:
    if not isinstance(value, str) or value not in DTYPE_BYTES:
        raise ConvCalcError(f"one of {', '.join(DTYPE_BYTES)}, got {shown(value)}", field="dtype")
    return value


class _MarkedDict(dict):
    """A mapping that remembers the spec line it started on, and the line of each key."""

    __slots__ = ("line", "key_lines")  # no attribute dict for each of a spec's mappings
    line: int
    key_lines: dict[Any, int]


class _SpecLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe YAML loader (over libyaml's parser when PyYAML has it), refusing duplicate
    keys and recording each mapping's line."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._scalar_tags: dict[tuple[str, Any], str] = {}

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: Any) -> str:
        """The tag of a node, as PyYAML's resolver gives it, remembered for each scalar
        text: a long spec states the same few words and numbers thousands of times, and
        the resolver tries its patterns one by one. (With no path resolvers set, as here,
        a scalar's tag depends on its text and quoting alone.)"""
        if kind is not yaml.ScalarNode:
            return super().resolve(kind, value, implicit)
        key = (value, implicit)
        tag = self._scalar_tags.get(key)
        if tag is None:
            tag = self._scalar_tags[key] = super().resolve(kind, value, implicit)
        return tag


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    _check_digits(node.value, node.start_mark.line + 1)
    return yaml.constructor.SafeConstructor.construct_yaml_int(loader, node)


_SpecLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _check_digits(text: str, line: int | None = None) -> str:
    """`text`, an integer literal, refused past MAX_DIGITS digits."""
    if len(text) > MAX_DIGITS:
        raise ConvCalcError(
            f"an integer of {len(text)} characters (at most {MAX_DIGITS})", line=line
        )
    return text


_STR_TAG = "tag:yaml.org,2002:str"
# The loader's constructors of the other scalars a spec is made of, called directly on
# their nodes: `construct_object`'s bookkeeping (aliases shared, recursion refused) is for
# collections, and would be most of the time spent on a long spec's plain values.
_PLAIN_SCALARS = {
    f"tag:yaml.org,2002:{name}": _SpecLoader.yaml_constructors[f"tag:yaml.org,2002:{name}"]
    for name in ("int", "float", "bool", "null")
}


def _construct_child(loader: yaml.SafeLoader, node: yaml.Node, deep: bool) -> Any:
    """The value of a key or item: a plain scalar at once, anything else through PyYAML."""
    if isinstance(node, yaml.ScalarNode):
        if node.tag == _STR_TAG:
            return node.value  # all that PyYAML's string constructor does
        constructor = _PLAIN_SCALARS.get(node.tag)
        if constructor is not None:
            return constructor(loader, node)
    return loader.construct_object(node, deep=deep)


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> _MarkedDict:
    # Keys written twice are refused; keys brought in by a `<<:` merge may be overridden.
    written: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = _construct_child(loader, key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)):
            raise ConvCalcError("a key must be a string", line=key_node.start_mark.line + 1)
        if key in written:
            # Layers are numbered only once parsed; the mapping's own name says which one.
            named = [
                value.value
                for name, value in node.value
                if name.value == "name" and isinstance(value, yaml.ScalarNode)
            ]
            raise ConvCalcError(
                f"duplicate key {shown(key)}",
                line=key_node.start_mark.line + 1,
                layer_name=named[0] if named else None,
            )
        written.add(key)
    loader.flatten_mapping(node)
    mapping = _MarkedDict()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = key_lines = {}
    for key_node, value_node in node.value:
        key = _construct_child(loader, key_node, deep=True)
        mapping[key] = _construct_child(loader, value_node, deep=True)
        key_lines[key] = key_node.start_mark.line + 1
    return mapping


_SpecLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _construct_sequence(loader: yaml.SafeLoader, node: yaml.Node) -> Iterator[list[Any]]:
    """PyYAML's list constructor, its items built by `_construct_child`: a generator, so
    that a list may hold itself through an alias, as PyYAML allows."""
    if not isinstance(node, yaml.SequenceNode):  # `!!seq` on a scalar: PyYAML's error
        yield from yaml.constructor.SafeConstructor.construct_yaml_seq(loader, node)
        return
    items: list[Any] = []
    yield items
    items.extend(_construct_child(loader, child, deep=False) for child in node.value)


_SpecLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _parse_yaml(text: str) -> Any:
    loader = _SpecLoader(text)
    try:
        return loader.get_single_data()
    except RecursionError:  # PyYAML builds nested values recursively
        raise ConvCalcError(TOO_DEEP) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConvCalcError(f"invalid YAML: {problem}", line=mark and mark.line + 1) from None
    finally:
        loader.dispose()


def _parse_json(text: str) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        mapping: dict[str, Any] = {}
        for key, value in items:
            if key in mapping:
                raise ConvCalcError(f"duplicate key {shown(key)}")
            mapping[key] = value
        return mapping

    try:
        return json.loads(
            text, object_pairs_hook=pairs, parse_int=lambda digits: int(_check_digits(digits))
        )
    except RecursionError:  # the JSON decoder nests recursively
        raise ConvCalcError(TOO_DEEP) from None
    except json.JSONDecodeError as error:
        raise ConvCalcError(f"invalid JSON: {error.msg}", line=error.lineno) from None
