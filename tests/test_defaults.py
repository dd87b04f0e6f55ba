"""dyncore/defaults.py is the one table of built-in names the core uses: no other core module names a component."""

from __future__ import annotations

import ast

from conftest import REPO

import dyncore
from dyncore import defaults
from dyncore.model import Model
from dyncore.simulation import FALLBACK_SOLVER

#: Registry look-ups by a literal name still in modules that helper eval restructures (issue 10 part C).
REGISTRIES = {f"dyncore.{name}" for name in ("systems", "models", "solvers", "trainers", "chaos_tests", "recipes")}
KNOWN_LEFT = {("dyncore/metrics/lyapunov.py", "lorenz")}  # a docstring example


def _named_lookups() -> set[tuple[str, str]]:
    """(module, name) of every ``registry.create/get/resolve("literal", ...)`` in the core outside defaults.py."""
    found = set()
    for path in sorted((REPO / "dyncore").rglob("*.py")):
        if path.name == "defaults.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("create", "get", "resolve") \
                    and ast.unparse(node.func.value) in REGISTRIES and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.add((str(path.relative_to(REPO)), node.args[0].value))
    return found


def test_the_core_names_built_in_components_only_in_the_defaults_table():
    assert _named_lookups() - KNOWN_LEFT == set()


def test_the_defaults_are_what_the_core_uses():
    assert Model.default_trainer == defaults.DEFAULT_TRAINER == "full_batch" and FALLBACK_SOLVER == defaults.DEFAULT_SOLVER == "dop853"
    from dyncore.cli.chaos_test_cmd import chaos_test_command

    assert next(p.default for p in chaos_test_command.params if p.name == "test_name") == defaults.DEFAULT_CHAOS_TEST
    assert all(name in dyncore.trainers or name in dyncore.solvers or name in dyncore.chaos_tests
               for name in (defaults.DEFAULT_TRAINER, defaults.DEFAULT_SOLVER, defaults.DEFAULT_CHAOS_TEST, defaults.SEMILINEAR_SOLVER))
