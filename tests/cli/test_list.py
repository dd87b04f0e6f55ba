"""`dyncore list` and `dyncore plugins` on the built-in plugins."""

from __future__ import annotations

import json

from conftest import run_dyncore

import dyncore

BUILTIN_PLUGINS = {"dyncore_systems", "dyncore_solvers", "dyncore_models", "dyncore_training", "dyncore_chaos"}


def test_list_json_matches_the_python_registries():
    result = run_dyncore("list", "--json")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    rows = json.loads(result.stdout)
    for key in ("systems", "models", "solvers", "trainers", "chaos_tests"):
        listed = sorted(r["name"] for r in rows if r["kind"] == key.replace("_", "-"))
        assert listed == getattr(dyncore, key).names()
    assert all(r["summary"] and r["plugin"] for r in rows)


def test_list_one_kind_as_a_table():
    result = run_dyncore("list", "systems")
    assert result.returncode == 0
    for name in dyncore.systems.names():
        assert name in result.stdout


def test_list_refuses_an_unknown_kind():
    result = run_dyncore("list", "sytems")
    assert result.returncode == 2 and "sytems" in result.stderr


def test_every_builtin_plugin_is_ok():
    result = run_dyncore("plugins", "--json")
    states = {p["name"]: p["state"] for p in json.loads(result.stdout)}
    assert BUILTIN_PLUGINS <= set(states)
    assert {states[name] for name in BUILTIN_PLUGINS} == {"OK"}


def test_plugins_traceback_of_an_unknown_plugin():
    result = run_dyncore("plugins", "--traceback", "dyncore_sytems")
    assert result.returncode == 2 and "did you mean 'dyncore_systems'" in result.stderr
