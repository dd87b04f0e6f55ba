"""A built-in plugin disabled (DYNCORE_DISABLE_PLUGINS) breaks only what needs its components, never a core command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import run_dyncore

BUILT_INS = ["dyncore_chaos", "dyncore_demo", "dyncore_models", "dyncore_solvers", "dyncore_systems", "dyncore_training"]


@pytest.mark.parametrize("plugin", BUILT_INS)
def test_core_commands_start_with_any_built_in_disabled(plugin):
    env = {"DYNCORE_DISABLE_PLUGINS": plugin}
    listed = run_dyncore("--help", env=env)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    assert ("demo " in listed.stdout) == (plugin != "dyncore_demo")  # the demo is the plugin's command, not the core's
    components = run_dyncore("list", "--json", env=env)
    assert components.returncode == 0 and "Traceback" not in components.stderr, components.stderr
    assert run_dyncore("train", "--help", env=env).returncode == 0


def test_a_disabled_plugins_command_names_the_setting():
    result = run_dyncore("demo", "--quick", env={"DYNCORE_DISABLE_PLUGINS": "dyncore_demo"})
    assert result.returncode == 2 and result.stderr.strip() == (
        "dyncore: error: No such command 'demo'; DYNCORE_DISABLE_PLUGINS disables plugin 'dyncore_demo', which may provide it "
        "(see `dyncore --help`)"), result.stderr


def test_the_demo_plugin_disabled_leaves_training_and_listing_alone():
    result = run_dyncore("plugins", "--json", env={"DYNCORE_DISABLE_PLUGINS": "dyncore_demo"})
    states = {p["name"]: p["state"] for p in json.loads(result.stdout)}
    assert states["dyncore_demo"] == "DISABLED" and states["dyncore_training"] == "OK"


EVALUATE_WITHOUT_CHAOS = """
import dyncore
data = dyncore.simulate("spiral", t=[0.1 * i for i in range(41)])
run = dyncore.train("node", data, epochs=2, hparams={"hidden": 8}, progress=False)
result = dyncore.evaluate(run, "spiral", n_tests=2, lyapunov_steps=10, long_time=4.0)
print(result["zero_one"]["model"], any("unknown chaos test 'zero_one'" in n for n in result["notes"]))
"""


def test_evaluate_without_the_chaos_plugin_notes_the_missing_zero_one_test():
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("DYNCORE_")} | {"DYNCORE_DISABLE_PLUGINS": "dyncore_chaos"}
    result = subprocess.run([sys.executable, "-c", EVALUATE_WITHOUT_CHAOS], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["None", "True"], result.stdout
