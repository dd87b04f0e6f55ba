"""Plugin loading through real entry points: each failure kind is recorded, reported once, and contained."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import run_dyncore

USE = """
import sys, dyncore
try:
    dyncore.systems.create(sys.argv[1])
except dyncore.PluginError as exc:
    print(exc)
    sys.exit(3)
"""


def _use(name: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Build system ``name`` through the public registry in a fresh interpreter."""
    return subprocess.run([sys.executable, "-c", USE, name], capture_output=True, text=True, env={**os.environ, **env})


GOOD = """
import dyncore

@dyncore.hookimpl
def register_systems(registry):
    registry.add("good_sys", "good_impl:GoodSystem", summary="a system that works")
"""

GOOD_IMPL = """
import dyncore

class GoodSystem(dyncore.System):
    '''Tiny linear decay, x' = -x.'''
    name = "good_sys"
    dim = 1
    def vector_field(self, t, x):
        return -x
    def default_x0(self):
        import torch
        return torch.ones(1, dtype=torch.float64)
    def default_times(self):
        import torch
        return torch.linspace(0, 1, 5, dtype=torch.float64)
"""


def _plugins(result) -> dict[str, dict]:
    return {p["name"]: p for p in json.loads(result.stdout)}


def test_a_plugin_with_a_missing_module_is_reported_once_and_contained(fake_site):
    fake_site.add("broken-dist", {"broken": "no_such_module_xyz"})
    fake_site.add("good-dist", {"good": "good_plugin"}, {"good_plugin": GOOD, "good_impl": GOOD_IMPL})

    listed = run_dyncore("list", "--json", env=fake_site.env)
    assert listed.returncode == 0, listed.stderr
    names = {row["name"] for row in json.loads(listed.stdout)}
    assert "good_sys" in names
    stderr_lines = [line for line in listed.stderr.splitlines() if line.strip()]
    assert len(stderr_lines) == 1, listed.stderr
    assert "'broken'" in stderr_lines[0] and "no_such_module_xyz" in stderr_lines[0]

    plugins = run_dyncore("plugins", "--json", env=fake_site.env)
    status = _plugins(plugins)
    assert status["broken"]["state"] == "BROKEN"
    assert status["broken"]["distribution"] == "broken-dist"
    assert status["good"]["state"] == "OK" and status["good"]["hooks"] == ["register_systems"]

    table = run_dyncore("plugins", env=fake_site.env)
    assert "BROKEN" in table.stdout

    tb = run_dyncore("plugins", "--traceback", "broken", env=fake_site.env)
    assert tb.returncode == 0 and "ModuleNotFoundError" in tb.stdout and "Traceback" in tb.stdout

    strict = run_dyncore("list", env={**fake_site.env, "DYNCORE_STRICT_PLUGINS": "1"})
    assert strict.returncode != 0
    assert "no_such_module_xyz" in strict.stderr and "Traceback" not in strict.stderr


def test_disabled_plugins_are_skipped(fake_site):
    fake_site.add("broken-dist", {"broken": "no_such_module_xyz"})
    result = run_dyncore("plugins", "--json", env={**fake_site.env, "DYNCORE_DISABLE_PLUGINS": "broken"})
    assert result.returncode == 0 and result.stderr == ""
    assert _plugins(result)["broken"]["state"] == "DISABLED"


def test_a_hook_that_raises_breaks_only_that_plugin(fake_site):
    fake_site.add(
        "raiser-dist",
        {"raiser": "raiser_plugin"},
        {
            "raiser_plugin": """
            import dyncore

            @dyncore.hookimpl
            def register_systems(registry):
                registry.add("early_sys", "good_impl:GoodSystem", summary="registered before the failure")
                raise RuntimeError("boom in hook")
            """,
            "good_impl": GOOD_IMPL,
        },
    )
    result = run_dyncore("list", "systems", "--json", env=fake_site.env)
    assert result.returncode == 0
    assert "boom in hook" in result.stderr and "'raiser'" in result.stderr
    status = _plugins(run_dyncore("plugins", "--json", env=fake_site.env))["raiser"]
    assert status["state"] == "BROKEN" and "register_systems" in status["problems"][0]


def test_wrong_base_type_fails_only_when_used(fake_site):
    fake_site.add(
        "wrong-dist",
        {"wrong": "wrong_plugin"},
        {
            "wrong_plugin": """
            import dyncore

            class NotASystem:
                '''Looks like a system, is not one.'''

            @dyncore.hookimpl
            def register_systems(registry):
                registry.add("impostor", NotASystem)
                registry.add("lazy_impostor", "wrong_plugin:NotASystem", summary="wrong type, found on use")
            """
        },
    )
    env = fake_site.env
    status = _plugins(run_dyncore("plugins", "--json", env=env))["wrong"]
    assert status["state"] == "BROKEN" and "not a subclass of dyncore.system.System" in status["problems"][0]
    for name in ("impostor", "lazy_impostor"):
        used = _use(name, env)
        assert used.returncode == 3, used.stderr
        assert "'wrong'" in used.stdout and "not a subclass" in used.stdout


def test_a_taken_name_keeps_the_first_owner(fake_site):
    fake_site.add("good-dist", {"a_first": "good_plugin"}, {"good_plugin": GOOD, "good_impl": GOOD_IMPL})
    fake_site.add(
        "dup-dist",
        {"b_second": "dup_plugin"},
        {
            "dup_plugin": """
            import dyncore

            @dyncore.hookimpl
            def register_systems(registry):
                registry.add("good_sys", "good_impl:GoodSystem", summary="an impostor")
            """
        },
    )
    rows = json.loads(run_dyncore("list", "systems", "--json", env=fake_site.env).stdout)
    owner = [r for r in rows if r["name"] == "good_sys"]
    assert len(owner) == 1 and owner[0]["plugin"] == "a_first"
    status = _plugins(run_dyncore("plugins", "--json", env=fake_site.env))["b_second"]
    assert status["state"] == "BROKEN" and "already registered by plugin 'a_first'" in status["problems"][0]


def test_a_misspelled_hook_is_reported_with_a_suggestion(fake_site):
    fake_site.add(
        "typo-dist",
        {"typo": "typo_plugin"},
        {
            "typo_plugin": """
            import dyncore

            @dyncore.hookimpl
            def register_system(registry):
                registry.add("never_seen", "good_impl:GoodSystem")
            """
        },
    )
    result = run_dyncore("plugins", "--json", env=fake_site.env)
    status = _plugins(result)["typo"]
    assert status["state"] == "BROKEN"
    assert "'register_system'" in status["problems"][0] and "did you mean 'register_systems'" in status["problems"][0]


def test_a_hook_with_a_wrong_signature_is_reported(fake_site):
    fake_site.add(
        "sig-dist",
        {"sig": "sig_plugin"},
        {
            "sig_plugin": """
            import dyncore

            @dyncore.hookimpl
            def register_systems(reg, extra):
                pass
            """
        },
    )
    status = _plugins(run_dyncore("plugins", "--json", env=fake_site.env))["sig"]
    assert status["state"] == "BROKEN" and "invalid hook" in status["problems"][0]


def test_a_lazy_target_that_does_not_import_fails_only_when_used(fake_site):
    fake_site.add(
        "lazy-dist",
        {"lazy": "lazy_plugin"},
        {
            "lazy_plugin": """
            import dyncore

            @dyncore.hookimpl
            def register_systems(registry):
                registry.add("ghost", "ghost_module_xyz:Ghost", summary="imports nothing")
            """
        },
    )
    listed = run_dyncore("list", "systems", env=fake_site.env)
    assert listed.returncode == 0 and "ghost" in listed.stdout and listed.stderr == ""
    used = _use("ghost", fake_site.env)
    assert used.returncode == 3, used.stderr
    assert "'lazy'" in used.stdout and "ghost_module_xyz" in used.stdout


def test_a_lazy_target_that_fails_is_recorded_once_seen_and_by_check_and_strict(fake_site):
    fake_site.add("lazy-dist", {"lazy": "lazy_plugin"}, {"lazy_plugin": LAZY_GHOST})
    after_use = subprocess.run(
        [sys.executable, "-c", STATUS_AFTER_USE, "ghost", "lazy"], capture_output=True, text=True,
        env={**os.environ, **fake_site.env},
    )
    assert after_use.stdout.split("\n", 1)[0] == "BROKEN" and "ghost_module_xyz" in after_use.stdout, after_use.stderr

    assert _plugins(run_dyncore("plugins", "--json", env=fake_site.env))["lazy"]["state"] == "OK"  # nothing tried it
    checked = run_dyncore("plugins", "--check", env=fake_site.env)
    assert checked.returncode == 1 and "BROKEN" in checked.stdout and "ghost_module_xyz" in checked.stdout
    assert checked.stderr.strip().splitlines()[-1].startswith("dyncore: error: 1 plugin(s) broken: lazy")

    strict = run_dyncore("list", env={**fake_site.env, "DYNCORE_STRICT_PLUGINS": "1"})
    assert strict.returncode != 0 and "ghost_module_xyz" in strict.stderr and "Traceback" not in strict.stderr
    good = run_dyncore("plugins", "--check", "--json", env={"DYNCORE_STRICT_PLUGINS": "0"})
    assert good.returncode == 0 and {p["state"] for p in json.loads(good.stdout)} == {"OK"}


LAZY_GHOST = """
import dyncore

@dyncore.hookimpl
def register_systems(registry):
    registry.add("ghost", "ghost_module_xyz:Ghost", summary="imports nothing")
"""

STATUS_AFTER_USE = """
import sys, dyncore
from dyncore.plugins import statuses
try:
    dyncore.systems.create(sys.argv[1])
except dyncore.PluginError:
    pass
status = {s.name: s for s in statuses()}[sys.argv[2]]
print(status.state)
print(status.problems)
"""


def test_plugin_output_at_import_never_reaches_stdout(fake_site):
    fake_site.add(
        "loud-dist",
        {"loud": "loud_plugin"},
        {"loud_plugin": "import os\nprint('hello ' * 200000)\nos.write(1, b'raw bytes from C\\n')\n"},
    )
    listed = run_dyncore("list", "--json", env=fake_site.env)
    assert listed.returncode == 0 and json.loads(listed.stdout)  # valid JSON: the 1.2 MB went elsewhere
    warning = [line for line in listed.stderr.splitlines() if line.startswith("dyncore: warning: plugin 'loud'")]
    assert len(warning) == 1 and "printed 1200001 characters to stdout" in warning[0]
    assert "raw bytes from C" in listed.stderr
    status = _plugins(run_dyncore("plugins", "--json", env=fake_site.env))["loud"]
    assert status["state"] == "OK" and "printed 1200001 characters" in status["notes"][0]


def test_a_plugin_raising_a_base_exception_subclass_is_one_line(fake_site):
    fake_site.add(
        "base-dist",
        {"based": "base_plugin"},
        {"base_plugin": "class Abort(BaseException):\n    pass\n\nraise Abort('not an Exception')\n"},
    )
    listed = run_dyncore("list", "--json", env=fake_site.env)
    assert listed.returncode == 0 and json.loads(listed.stdout)
    assert listed.stderr.strip().splitlines() == [
        "dyncore: plugin 'based' (base-dist) is broken: cannot be imported (Abort: not an Exception); "
        "see `dyncore plugins --traceback based`"
    ]
    assert _plugins(run_dyncore("plugins", "--json", env=fake_site.env))["based"]["state"] == "BROKEN"


def test_a_slow_plugin_import_says_which_plugin_is_awaited(fake_site):
    fake_site.add("slow-dist", {"slowpoke": "slow_plugin"}, {"slow_plugin": "import time\ntime.sleep(1.0)\n"})
    quick_notice = "import dyncore.plugins as p; p.SLOW_IMPORT_SECONDS = 0.2; from dyncore.cli import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", quick_notice, "list", "systems"], capture_output=True, text=True,
        env={**os.environ, **fake_site.env}, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == [
        "dyncore: still importing plugin 'slowpoke' (slow-dist) after 0.2 s; DYNCORE_DISABLE_PLUGINS=slowpoke skips it"
    ]


def test_a_misspelled_disabled_plugin_gets_a_suggestion(fake_site):
    fake_site.add("broken-dist", {"broken": "no_such_module_xyz"})
    result = run_dyncore("list", "systems", env={**fake_site.env, "DYNCORE_DISABLE_PLUGINS": "brokn"})
    assert result.returncode == 0
    assert (
        "dyncore: warning: DYNCORE_DISABLE_PLUGINS names 'brokn', which is not an installed plugin; did you mean 'broken'?"
        in result.stderr.splitlines()
    )


def test_plugins_can_add_commands_and_a_failing_one_does_not_break_the_cli(fake_site):
    fake_site.add(
        "cmd-dist",
        {"cmd": "cmd_plugin"},
        {
            "cmd_plugin": """
            import click
            import dyncore

            @dyncore.hookimpl
            def register_commands(cli):
                @cli.command()
                def hello():
                    '''Say hello from a plugin.'''
                    click.echo("hello from plugin")
            """
        },
    )
    fake_site.add(
        "badcmd-dist",
        {"badcmd": "badcmd_plugin"},
        {
            "badcmd_plugin": """
            import dyncore

            @dyncore.hookimpl
            def register_commands(cli):
                raise ValueError("no commands today")
            """
        },
    )
    result = run_dyncore("hello", env=fake_site.env)
    assert result.returncode == 0 and "hello from plugin" in result.stdout
    assert "no commands today" in result.stderr
    assert run_dyncore("--help", env=fake_site.env).returncode == 0


def test_a_plugin_whose_commands_fail_gets_a_placeholder_that_explains(fake_site):
    """As click-plugins' BrokenCommand: the broken plugin is listed, and running it (or a missing command) says why."""
    fake_site.add(
        "badcmd-dist",
        {"bad_cmd": "badcmd_plugin"},
        {
            "badcmd_plugin": """
            import dyncore

            @dyncore.hookimpl
            def register_commands(cli):
                raise ValueError("no commands today")
            """
        },
    )
    helped = run_dyncore("--help", env=fake_site.env)
    assert helped.returncode == 0 and "bad-cmd" in helped.stdout and "BROKEN plugin 'bad_cmd'" in helped.stdout
    for args in (("bad-cmd",), ("bad-cmd", "--anything", "x"), ("bad-cmd", "--help")):
        result = run_dyncore(*args, env=fake_site.env)
        last = result.stderr.strip().splitlines()[-1]
        assert result.returncode == 1, (args, result.stderr)
        assert last.startswith("dyncore: error: plugin 'bad_cmd' (badcmd-dist) could not add its commands: raised in "
                               "register_commands (ValueError: no commands today)"), last
        assert "DYNCORE_DISABLE_PLUGINS=bad_cmd" in last
    missing = run_dyncore("hello", env=fake_site.env)
    last = missing.stderr.strip().splitlines()[-1]
    assert missing.returncode == 2 and "No such command 'hello'" in last and "'bad_cmd'" in last and "dyncore bad-cmd" in last
    assert run_dyncore("list", "--json", env={**fake_site.env, "DYNCORE_DISABLE_PLUGINS": "bad_cmd"}).returncode == 0


def test_a_plugin_that_exits_at_import_does_not_end_the_cli(fake_site):
    fake_site.add("exit-dist", {"exiter": "exiter_plugin"}, {"exiter_plugin": "import sys\nsys.exit(3)\n"})
    result = run_dyncore("list", "--json", env=fake_site.env)
    assert result.returncode == 0 and json.loads(result.stdout)
    assert "'exiter'" in result.stderr and "SystemExit" in result.stderr


BUGGY = """
import dyncore
import torch

class Base(dyncore.System):
    dim = 2
    def default_x0(self):
        return torch.ones(2, dtype=torch.float64)
    def default_times(self):
        return torch.linspace(0, 1, 5, dtype=torch.float64)

class DropsBatch(Base):
    '''Sums over the batch: right for one state, wrong for a batch.'''
    name = "drops_batch"
    def vector_field(self, t, x):
        return -x.reshape(-1, 2).sum(0)

class Raises(Base):
    '''Divides by zero in its field.'''
    name = "raises"
    def vector_field(self, t, x):
        return x * (1 // 0)

@dyncore.hookimpl
def register_systems(registry):
    registry.add("drops_batch", DropsBatch)
    registry.add("raises", Raises)
"""


def test_an_error_inside_a_plugins_component_names_the_plugin_not_dyncore(fake_site, tmp_path):
    """A bug in a third party's vector field is that plugin's, and a shape bug is found before the solver runs."""
    fake_site.add("buggy-dist", {"buggy": "buggy_plugin"}, {"buggy_plugin": BUGGY})
    shape = run_dyncore("simulate", "drops_batch", "--batch", "4", "-o", str(tmp_path / "a.npz"), env=fake_site.env)
    assert shape.returncode == 1, shape.stderr
    assert "system 'drops_batch' (plugin 'buggy', distribution buggy-dist): vector_field returned shape (2,) for " \
           "states of shape (4, 2)" in shape.stderr
    assert "solver" not in shape.stderr and shape.stderr.count("\n") == 1
    raised = run_dyncore("simulate", "raises", "-o", str(tmp_path / "b.npz"), env=fake_site.env)
    assert raised.returncode == 1, raised.stderr
    assert "system 'raises' from plugin 'buggy' (distribution buggy-dist) raised ZeroDivisionError" in raised.stderr
    assert "buggy_plugin.py:" in raised.stderr and "not in dyncore" in raised.stderr
    assert "internal error" not in raised.stderr and raised.stderr.count("\n") == 1
    assert not (tmp_path / "a.npz").exists() and not (tmp_path / "b.npz").exists()
