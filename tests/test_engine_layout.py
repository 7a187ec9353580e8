"""The layering rules of the engine (README, "Engine layout"), read from the import statements."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parent.parent / "engine"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((ENGINE / "bcs").rglob("*.py")):
        name = ".".join(path.relative_to(ENGINE).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imports(name: str) -> set[str]:
    """The bcs modules ``name`` imports, TYPE_CHECKING blocks and function bodies included.

    ``from package import module`` counts as an import of the module; the package a module sits
    in is not counted (Python has initialised it before the module runs).
    """
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in MODULES else node.module)
    return {
        m for m in found if m in MODULES and m != name and not (package == m or package.startswith(m + "."))
    }


GRAPH = {name: _imports(name) for name in MODULES}


@pytest.mark.parametrize(("side", "other"), [("bcs.host", "bcs.client"), ("bcs.client", "bcs.host")])
def test_the_file_host_and_the_client_never_import_each_other(side: str, other: str) -> None:
    crossing = {
        name: sorted(m for m in imported if m == other or m.startswith(other + "."))
        for name, imported in GRAPH.items()
        if name == side or name.startswith(side + ".")
    }
    assert {name: found for name, found in crossing.items() if found} == {}


def test_the_engine_has_no_import_cycles() -> None:
    done: set[str] = set()
    cycles: list[list[str]] = []

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycles.append([*path[path.index(name) :], name])
            return
        if name in done:
            return
        for imported in sorted(GRAPH[name]):
            visit(imported, [*path, name])
        done.add(name)

    for name in sorted(GRAPH):
        visit(name, [])
    assert cycles == []
