"""The import graph of convcalc's modules: no cycles, and no NumPy, SymPy or rich on the
path of `convcalc shapes`.

Every module under convcalc/ is parsed (never imported) and each import statement becomes an
edge to the convcalc modules it loads: `import a.b.c` and `from a.b.c import n` load the
packages a and a.b, then a.b.c, then a.b.c.n when n is a module (`from convcalc import
dims`). An import under `if TYPE_CHECKING:` runs only for a type checker and is no edge.

An import is *module-level* when it runs as the module is imported: in the module's body,
in a class body, or in an if/try/with/for block there. One inside a function or lambda is
*lazy*: it runs only when the function is called. That is how NumPy is kept for `verify`
and SymPy for symbolic specs, so:

- a cycle is looked for over all edges, lazy ones included: modules that import each other,
  even only at run time, are one module in two files;
- "reachable" from the shapes path means through module-level imports only, starting at
  convcalc.spec and convcalc.analysis (what `shapes` loads before rendering) and at every
  layer module, which the layer registry imports by name when a spec uses its type.

The test of what actually loads (`test_shapes_loads_no_numpy_sympy_or_rich`) runs the path
in a subprocess, and so also covers imports this parse cannot see (importlib calls).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "convcalc"

# The shapes path's core: the Python API, loading a spec and analyzing it. Rendering and the
# CLI come after and are left out (render imports rich only to draw for a terminal).
CORE = ("convcalc", "convcalc.commands", "convcalc.spec", "convcalc.analysis")
HEAVY = ("numpy", "sympy", "rich")  # never imported at module level from the core

# Cycles that exist today and are being removed; each is the set of modules in it. DELETE an
# entry once its cycle is gone (test_known_cycles_still_exist says when).
KNOWN_CYCLES: tuple[frozenset[str], ...] = ()


@dataclass(frozen=True)
class Edge:
    """One import of a convcalc module by another."""

    source: str
    target: str
    line: int
    lazy: bool

    def __str__(self) -> str:
        kind = "lazy" if self.lazy else "module-level"
        return f"{self.source} -> {self.target} ({kind}, line {self.line})"


def module_files() -> dict[str, Path]:
    """Module name -> file, for every module under convcalc/ (a package by its __init__)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


MODULES = module_files()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _absolute(module: str, node: ast.ImportFrom) -> str:
    """The absolute name of a `from` import's module (`from . import x` included)."""
    if not node.level:
        return node.module or ""
    package = module.split(".")
    if MODULES[module].name != "__init__.py":
        package = package[:-1]
    package = package[: len(package) - node.level + 1]
    return ".".join([*package, *([node.module] if node.module else [])])


def _loaded(name: str) -> list[str]:
    """The modules `import name` loads: each enclosing package, then name itself."""
    parts = name.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts) + 1)]


def imports_of(module: str) -> list[tuple[str, int, bool]]:
    """(imported module, line, lazy) for every import statement of `module`, any package."""
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for statement in child.orelse:
                    visit_one(statement, lazy)
            else:
                visit_one(child, lazy)

    def visit_one(node: ast.AST, lazy: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.extend((name, node.lineno, lazy) for name in _loaded(alias.name))
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, node)
            found.extend((name, node.lineno, lazy) for name in _loaded(base))
            for alias in node.names:
                if f"{base}.{alias.name}" in MODULES:
                    found.append((f"{base}.{alias.name}", node.lineno, lazy))
        else:
            inner = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(node, lazy or inner)

    visit(ast.parse(MODULES[module].read_text(encoding="utf-8")), lazy=False)
    return found


def _encloses(package: str, module: str) -> bool:
    """Whether `package` is `module` or a package it is in: importing a module always runs its
    packages' __init__ first, so `from convcalc import dims` in convcalc.layers.base is no
    edge to convcalc (whose __init__ is the public API)."""
    return module == package or module.startswith(package + ".")


IMPORTS = {module: imports_of(module) for module in MODULES}
EDGES = {
    module: [
        Edge(module, target, line, lazy)
        for target, line, lazy in imports
        if target in MODULES and not _encloses(target, module)
    ]
    for module, imports in IMPORTS.items()
}


def cycles() -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def connect(module: str) -> None:
        index[module] = lowest[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for edge in EDGES[module]:
            if edge.target not in index:
                connect(edge.target)
                lowest[module] = min(lowest[module], lowest[edge.target])
            elif edge.target in on_stack:
                lowest[module] = min(lowest[module], index[edge.target])
        if lowest[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for module in MODULES:
        if module not in index:
            connect(module)
    return components


def cycle_path(component: list[str]) -> list[Edge]:
    """One closed path of imports through the modules of `component`, for the message."""
    members = set(component)
    start = component[0]
    # Breadth-first from start back to start, within the component.
    paths: dict[str, list[Edge]] = {start: []}
    queue = [start]
    while queue:
        module = queue.pop(0)
        for edge in EDGES[module]:
            if edge.target not in members:
                continue
            if edge.target == start:
                return [*paths[module], edge]
            if edge.target not in paths:
                paths[edge.target] = [*paths[module], edge]
                queue.append(edge.target)
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def describe(component: list[str]) -> str:
    """A cycle as its imports, one per line."""
    return "\n".join(f"    {edge}" for edge in cycle_path(component))


def test_the_parse_sees_the_imports_it_should():
    # A few edges of each kind that the rules above must find, and one they must not.
    edges = {(edge.source, edge.target, edge.lazy) for module in EDGES for edge in EDGES[module]}
    assert ("convcalc.analysis", "convcalc.spec", False) in edges
    assert ("convcalc.layers.base", "convcalc.dims", False) in edges  # from convcalc import dims
    assert ("convcalc.layers.conv", "convcalc.layers.base", False) in edges
    assert ("convcalc.cli", "convcalc.render", True) in edges  # inside a command
    assert ("convcalc.analysis", "convcalc.symbolic", True) in edges
    # render's imports of checking and verification are for annotations only (TYPE_CHECKING)
    assert ("convcalc.render.verify", "convcalc.verification", False) not in edges
    assert ("convcalc.render.verify", "convcalc.verification", True) not in edges
    assert ("convcalc.render.check", "convcalc.checking", False) not in edges
    # a module's own packages are no edge: their __init__ runs first in any case
    assert ("convcalc.layers.base", "convcalc", False) not in edges


def test_no_import_cycles():
    found = cycles()
    unknown = [component for component in found if frozenset(component) not in KNOWN_CYCLES]
    assert not unknown, "import cycles:\n" + "\n\n".join(map(describe, unknown))


def test_known_cycles_still_exist():
    found = {frozenset(component) for component in cycles()}
    gone = [sorted(cycle) for cycle in KNOWN_CYCLES if cycle not in found]
    assert not gone, f"no longer cycles, delete them from KNOWN_CYCLES: {gone}"


def module_level_reach(starts: tuple[str, ...]) -> dict[str, list[Edge]]:
    """Every convcalc module imported at module level from `starts`, with the chain of
    module-level imports that brings it in."""
    chains: dict[str, list[Edge]] = {start: [] for start in starts}
    queue = list(starts)
    while queue:
        module = queue.pop(0)
        for edge in EDGES[module]:
            if not edge.lazy and edge.target not in chains:
                chains[edge.target] = [*chains[module], edge]
                queue.append(edge.target)
    return chains


LAYER_MODULES = tuple(module for module in MODULES if module.startswith("convcalc.layers."))


def test_shapes_path_imports_no_numpy_sympy_or_rich_at_module_level():
    chains = module_level_reach(CORE + LAYER_MODULES)
    problems = {}  # (module, line) -> the problem; `import numpy.linalg` is one
    for module, chain in chains.items():
        for name, line, lazy in IMPORTS[module]:
            if not lazy and name.split(".")[0] in HEAVY:
                via = "".join(f"\n    {edge}" for edge in chain)
                problems.setdefault((module, line), f"{module} imports {name} at line {line}{via}")
    assert not problems, "\n".join(problems.values())


ANALYZE_RESNET = """
import sys
from convcalc.commands import analyze_spec
from convcalc.spec import load_path

analyze_spec("specs/resnet50.yaml")
load_path("specs/resnet50.yaml")
print(" ".join(sorted(sys.modules)))
"""

SHAPES_COMMAND = """
import sys
from convcalc import cli

sys.argv = ["convcalc", "shapes", "specs/resnet50.yaml"]
try:
    cli.main()
except SystemExit:
    pass
print(" ".join(sorted(sys.modules)), file=sys.stderr)
"""

# Modules `shapes` has no use for on a numeric spec written to a pipe.
NOT_FOR_SHAPES = (
    "numpy",
    "sympy",
    "rich",
    "convcalc.budget",
    "convcalc.checking",
    "convcalc.comparison",
    "convcalc.numeric",
    "convcalc.symbolic",
    "convcalc.verification",
    # pydantic's plugin loader's import, spared by cli._skip_plugin_loader
    "importlib.metadata",
)


def loaded_by(program: str, stream: str) -> set[str]:
    """The modules in sys.modules at the end of `program`, run in a fresh interpreter."""
    process = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return set(getattr(process, stream).split())


def test_shapes_loads_no_numpy_sympy_or_rich():
    loaded = loaded_by(ANALYZE_RESNET, "stdout")
    assert "convcalc.layers.conv" in loaded  # it ran
    assert not {"numpy", "sympy", "rich"} & loaded


def test_shapes_command_loads_only_what_it_uses():
    loaded = loaded_by(SHAPES_COMMAND, "stderr")
    assert "convcalc.render" in loaded  # it ran
    assert not set(NOT_FOR_SHAPES) & loaded
