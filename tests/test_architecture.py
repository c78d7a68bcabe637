"""The core's layering (docs/architecture.md): imports among ``osrbench/`` modules run one way, the
ground floor imports nothing of osrbench, and no core module imports the façades plugins use."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "osrbench"
FACADES = {"__init__", "api"}  # what plugins, docs and tests import; the core never does
GROUND_FLOOR = "specs"  # the torch-free types; ``types`` adds those that need torch on top of it


def imports_of(source: str, package: str, modules: set[str]) -> set[str]:
    """The modules of ``package`` that ``source`` imports, anywhere in it (a lazy import inside a function
    counts: it closes a cycle all the same); ``__init__`` stands for the package itself."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == package:
                    found.add(parts[1] if len(parts) > 1 else "__init__")
        elif isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".")
            if node.level == 0 and parts[0] != package:
                continue
            inner = parts[1:] if node.level == 0 else [p for p in parts if p]
            if inner:
                found.add(inner[0])
            else:  # `from osrbench import x`: x is a module of the package or a name of its __init__
                found |= {a.name if a.name in modules else "__init__" for a in node.names}
    return found


def import_graph(folder: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports (itself left out)."""
    files = {path.stem: path for path in sorted(folder.glob("*.py"))}
    return {name: imports_of(path.read_text(), folder.name, set(files)) - {name} for name, path in files.items()}


def cycle_in(graph: dict[str, set[str]]) -> list[str] | None:
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        return exc.args[1]
    return None


def test_the_core_imports_run_one_way():
    cycle = cycle_in(import_graph(CORE))
    assert cycle is None, f"import cycle in osrbench/: {' -> '.join(cycle)}; see docs/architecture.md"


def test_no_core_module_imports_a_facade():
    graph = import_graph(CORE)
    offenders = {name: sorted(deps & FACADES) for name, deps in graph.items() if name not in FACADES and deps & FACADES}
    assert not offenders, f"core modules import a façade (import from osrbench.types instead): {offenders}"


def test_the_ground_floor_imports_nothing_of_osrbench():
    graph = import_graph(CORE)
    assert graph[GROUND_FLOOR] == set() and graph["types"] == {GROUND_FLOOR}


def test_the_api_facade_only_reexports():
    """api.py holds imports and the names it lists, no definitions of its own."""
    tree = ast.parse((CORE / "api.py").read_text())
    own = [type(node).__name__ for node in tree.body
           if not isinstance(node, (ast.Import, ast.ImportFrom, ast.Assign)) and not
           (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
    assert own == []


@pytest.mark.parametrize("files, cycle", [
    ({"a": "from pkg import b\n", "b": "def f():\n    import pkg.a\n"}, {"a", "b"}),  # a lazy import closes it
    ({"a": "from pkg.b import x\n", "b": "from pkg.c import y\n", "c": "from . import a\n"}, {"a", "b", "c"}),
    ({"__init__": "from pkg.a import A\n", "a": "import pkg\n"}, {"__init__", "a"}),
    ({"a": "from pkg.b import x\n", "b": "import json\n"}, None),
])
def test_the_check_finds_a_planted_cycle(tmp_path, files, cycle):
    package = tmp_path / "pkg"
    package.mkdir()
    for name, text in files.items():
        (package / f"{name}.py").write_text(text)
    found = cycle_in(import_graph(package))
    assert (set(found) if found else None) == cycle
