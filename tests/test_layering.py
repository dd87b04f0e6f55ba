"""The layering, read from the source with ``ast``: no import cycle inside dyncore/, and the core imports
neither a built-in plugin nor the CLI (only dyncore/cli itself and dyncore/__main__.py reach the CLI)."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

CORE = REPO / "dyncore"
#: The package root is the public facade: its lazy ``__getattr__`` re-exports every module on purpose,
#: and a submodule's ``import dyncore`` reaches the registries through it, so it takes part in no cycle.
FACADE = "dyncore"


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports when it runs (at import time or in a function), ``TYPE_CHECKING`` blocks excluded."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return found


def _core_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in CORE.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules and m not in (name, FACADE)}
            for name, path in modules.items() if name != FACADE}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (as a path that returns to its start), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for other in sorted(graph[node]):
            if state.get(other) == 1:
                return stack[stack.index(other):] + [other]
            if other not in state and (found := visit(other)):
                return found
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _builtin_plugin_packages() -> set[str]:
    """Top-level packages shipped under plugins/ (``dyncore_systems``, ..., ``dyncore_sindy``)."""
    plugins = REPO / "plugins"
    direct = {p.name for p in plugins.iterdir() if (p / "__init__.py").is_file()}
    nested = {p.parent.name for p in plugins.glob("*/*/__init__.py")}
    return direct | nested


def test_the_import_graph_is_read():
    graph = _core_graph()
    assert "dyncore.simulation" in graph and "dyncore.system" in graph["dyncore.metrics.lyapunov"]
    assert {"dyncore_systems", "dyncore_training", "dyncore_sindy"} <= _builtin_plugin_packages()


def test_no_import_cycle_inside_dyncore():
    assert _cycle(_core_graph()) is None, f"import cycle: {' -> '.join(_cycle(_core_graph()))}"


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]


def test_the_core_imports_no_builtin_plugin_and_not_the_cli():
    plugins = _builtin_plugin_packages()
    offenders = []
    for path in CORE.rglob("*.py"):
        name = _module_name(path)
        if name.startswith("dyncore.cli") or name == "dyncore.__main__":
            continue
        for imported in _imports(path):
            top = imported.partition(".")[0]
            if top in plugins or imported == "dyncore.cli" or imported.startswith("dyncore.cli."):
                offenders.append(f"{path.relative_to(REPO)} imports {imported}")
    assert not offenders, "; ".join(offenders)
