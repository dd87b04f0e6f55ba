"""Registry behaviour in isolation: specs, lazy targets, did-you-mean, taken names, wrong types."""

from __future__ import annotations

import pytest

from dyncore.errors import PluginError, UnknownNameError
from dyncore.registry import Registrar, Registry, derives_from, import_target
from dyncore.solver import Solver


class Euler(Solver):
    """Forward Euler, for registry tests."""

    name = "test_euler"

    def solve(self, f, x0, t):  # pragma: no cover - never integrated here
        raise NotImplementedError


def make_registry() -> tuple[Registry, list[str]]:
    registry = Registry("solvers")
    problems: list[str] = []
    registrar = Registrar(registry, "plug", "plug-dist", problems)
    registrar.add("euler", Euler)
    registrar.add("lazy_euler", f"{__name__}:Euler", summary="the same, imported on use")
    return registry, problems


def test_specs_carry_name_summary_and_origin():
    registry, problems = make_registry()
    assert problems == []
    assert registry.names() == ["euler", "lazy_euler"]
    spec = registry.spec("euler")
    assert (spec.summary, spec.plugin, spec.distribution) == ("Forward Euler, for registry tests.", "plug", "plug-dist")
    assert spec.target_path == f"{__name__}:Euler"


def test_get_imports_lazy_targets_and_create_builds_instances():
    registry, _ = make_registry()
    assert registry.get("lazy_euler") is Euler
    assert isinstance(registry.create("euler"), Euler)


def test_unknown_name_suggests_close_names():
    registry, _ = make_registry()
    with pytest.raises(UnknownNameError, match="did you mean 'euler'"):
        registry.get("eulr")
    with pytest.raises(KeyError):  # still a KeyError for dict-like callers
        registry.get("nothing_like_it")


def test_a_taken_name_is_refused_and_the_first_owner_kept():
    registry, problems = make_registry()
    Registrar(registry, "other", "other-dist", problems).add("euler", Euler)
    assert registry.spec("euler").plugin == "plug"
    assert problems == ["solver name 'euler' is already registered by plugin 'plug'; plugin 'other' must choose another name"]


def test_wrong_base_type_is_recorded_and_fails_on_use():
    registry, problems = make_registry()
    Registrar(registry, "bad", "bad-dist", problems).add("not_a_solver", dict)
    assert "not a subclass of dyncore.solver.Solver" in problems[0]
    with pytest.raises(PluginError, match="plugin 'bad'"):
        registry.get("not_a_solver")


def test_names_must_be_lower_snake_case():
    registry, problems = make_registry()
    Registrar(registry, "bad", "", problems).add("Bad-Name", Euler)
    assert "Bad-Name" not in registry and "lower_snake_case" in problems[0]


def test_a_wrapped_library_keeps_its_spelling_behind_a_prefix():
    """``prefix.Name`` (one dot, a lower_snake_case prefix) is a valid name: dysts.Rossler; other shapes are not."""
    registry, problems = make_registry()
    for name in ("dysts.Rossler", "my_lib.duffing_2"):
        Registrar(registry, "lib", "", problems).add(name, Euler)
        assert name in registry
    for name in ("Dysts.Rossler", "a.b.c", "dysts.", ".Rossler", "dysts.2x"):
        Registrar(registry, "lib", "", problems).add(name, Euler)
        assert name not in registry
    assert len(problems) == 5 and all("prefix.Name" in p for p in problems)


def test_lazy_target_that_fails_to_import_names_the_plugin():
    registry, problems = make_registry()
    Registrar(registry, "ghostly", "ghost-dist", problems).add("ghost", "no_such_mod_abc:Thing", summary="x")
    with pytest.raises(PluginError, match="plugin 'ghostly' cannot be imported .*no_such_mod_abc"):
        registry.get("ghost")


def test_registry_loader_runs_once_on_first_use():
    calls = []
    registry = Registry("systems", loader=lambda: calls.append(1))
    assert calls == []
    registry.names()
    registry.names()
    assert calls == [1]


def test_resolve_accepts_a_name_or_an_instance():
    registry, _ = make_registry()
    solver = Euler()
    assert registry.resolve(solver) is solver
    assert isinstance(registry.resolve("euler"), Euler)


def test_helpers():
    assert derives_from(Euler, "dyncore.solver:Solver")
    assert not derives_from(Euler(), "dyncore.solver:Solver")
    assert import_target("dyncore.solver:Solver") is Solver
    with pytest.raises(PluginError):
        import_target("no_colon_here")


class Stepped(Euler):
    """Euler with an option, for alias tests."""

    default_options = {"step": 1.0}


def test_an_alias_builds_its_target_with_presets_and_warns():
    registry, problems = Registry("solvers"), []
    registrar = Registrar(registry, "plug", "plug-dist", problems)
    registrar.add("stepped", Stepped)
    registrar.alias("fine", "stepped", options={"step": 0.1})
    assert problems == [] and "deprecated alias of 'stepped'" in registry.spec("fine").summary
    with pytest.warns(DeprecationWarning, match="'fine' is deprecated .* use 'stepped' with step=0.1"):
        solver = registry.create("fine")
    assert type(solver) is Stepped and solver.options == {"step": 0.1}
    with pytest.warns(DeprecationWarning):
        assert registry.get("fine")().options == {"step": 0.1} and issubclass(registry.get("fine"), Stepped)
    with pytest.warns(DeprecationWarning):
        assert registry.create("fine", step=0.5).options == {"step": 0.5}


def test_an_alias_must_point_at_the_plugins_own_registered_name():
    registry, problems = make_registry()
    Registrar(registry, "other", "", problems).alias("old", "euler")
    Registrar(registry, "plug", "", problems).alias("older", "missing")
    assert len(problems) == 2 and "'euler' is not registered by plugin 'other'" in problems[0]
    assert "old" not in registry and "older" not in registry
