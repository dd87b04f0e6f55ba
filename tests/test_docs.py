"""Docs stay complete: every hook, every CLI command and every public name is documented."""

from __future__ import annotations

import re

import pytest
from conftest import REPO

import dyncore
from dyncore import hookspecs
from dyncore.cli import cli
from dyncore.plugins import HOOK_NAMES

DOCS = REPO / "docs"


def test_hooks_are_found():
    assert set(HOOK_NAMES) == {n for n in vars(hookspecs) if n.startswith("register_")} and len(HOOK_NAMES) == 7


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_every_hook_is_documented(hook):
    assert f"`{hook}(" in (DOCS / "writing-plugins.md").read_text()
    assert getattr(hookspecs, hook).__doc__, f"hookspec {hook} needs a docstring"


def _commands() -> list[str]:
    import click

    ctx = click.Context(cli)
    return cli.list_commands(ctx)


@pytest.mark.parametrize("command", _commands())
def test_every_command_is_documented(command):
    text = (DOCS / "cli.md").read_text()
    assert re.search(rf"^## dyncore {re.escape(command)}\b", text, re.M), f"docs/cli.md lacks '## dyncore {command}'"


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_help(command):
    import click

    ctx = click.Context(cli)
    assert cli.get_command(ctx, command).get_short_help_str()


@pytest.mark.parametrize("name", dyncore.__all__)
def test_every_public_name_resolves(name):
    assert getattr(dyncore, name) is not None


def test_readme_quick_start_names_the_test_command():
    readme = (REPO / "README.md").read_text()
    assert "python -m pytest" in readme and "dyncore demo" in readme


def _all_checks() -> list[str]:
    import importlib

    from dyncore.testing import _CHECK_MODULES

    return [f"{key}:{check.__name__}" for key, module in _CHECK_MODULES.items() for check in importlib.import_module(module).CHECKS]


@pytest.mark.parametrize("check", _all_checks())
def test_every_conformance_check_is_documented(check):
    assert f"`{check.split(':')[1]}`" in (DOCS / "writing-plugins.md").read_text()


def _metric_names() -> list[str]:
    import inspect

    from dyncore import metrics

    return sorted(
        name for name, value in vars(metrics).items()
        if not name.startswith("_") and (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__.startswith(metrics.__name__ + ".")
    )


@pytest.mark.parametrize("name", _metric_names())
def test_every_metric_is_documented(name):
    # `name(` or `name`: valid_prediction_times( alone does not document valid_prediction_time
    assert re.search(rf"`{name}[`(]", (DOCS / "chaos-and-metrics.md").read_text()), f"docs/chaos-and-metrics.md lacks `{name}`"

def test_plugin_docs_cover_every_abstract_method_and_result_field():
    """docs/writing-plugins.md spells out the Model, System and ChaosTest contracts (and ChaosResult's fields)."""
    import dataclasses

    from dyncore.chaos import ChaosResult, ChaosTest
    from dyncore.model import Model
    from dyncore.system import System

    text = (DOCS / "writing-plugins.md").read_text()
    facts = {Model: "default_hparams", System: "default_params", ChaosTest: "default_options"}
    for cls, fact in facts.items():
        abstract = [n for n, v in vars(cls).items() if getattr(getattr(v, "fget", v), "__isabstractmethod__", False)]
        assert abstract
        for name in [*abstract, fact]:
            assert f"`{name}" in text or f"def {name}(" in text, f"writing-plugins.md does not document {cls.__name__}.{name}"
    for f in dataclasses.fields(ChaosResult):
        assert f"`{f.name}`" in text, f"writing-plugins.md does not document ChaosResult.{f.name}"
    assert "--param" in text and "reference()" in text


def test_check_ids_in_plugin_docs_are_real():
    """Every test id the docs show (``name-check_...``) names a check that exists."""
    checks = {c.split(":")[1] for c in _all_checks()}
    ids = re.findall(r"`(?:[a-z_]+-)+(check_[a-z0-9_]+)`", (DOCS / "writing-plugins.md").read_text())
    assert ids
    for check in ids:
        assert check in checks or check[:-1] in checks, f"writing-plugins.md shows a test id for no check: {check}"


def _cli_sections() -> dict[str, str]:
    """docs/cli.md cut at its ``## dyncore CMD`` headings; the text before the first is ``"dyncore"`` (global options)."""
    sections, current, lines = {}, "dyncore", []
    for line in (DOCS / "cli.md").read_text().splitlines():
        heading = re.match(r"^## (dyncore(?: [\w-]+)+)", line)
        if heading:
            sections[current], current, lines = "\n".join(lines), heading.group(1), []
        lines.append(line)
    sections[current] = "\n".join(lines)
    return sections


def _listed_options() -> list[tuple[str, str]]:
    """(command path, option name) for every long option each command's ``--help`` lists, subcommands included."""
    import click

    found = []

    def walk(command: click.Command, ctx: click.Context) -> None:
        help_option = command.get_help_option(ctx)
        for param in command.get_params(ctx):
            if isinstance(param, click.Option) and param is not help_option and param.get_help_record(ctx) is not None:
                found.extend((ctx.command_path, name) for name in [*param.opts, *param.secondary_opts] if name.startswith("--"))
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), click.Context(command.get_command(ctx, name), info_name=name, parent=ctx))

    walk(cli, click.Context(cli, info_name="dyncore"))
    return found


@pytest.mark.parametrize(("command", "option"), _listed_options())
def test_every_listed_option_is_documented(command, option):
    """As datasette's docs test: each option `--help` lists appears in its command's section of docs/cli.md.

    An option the root group has too (``--threads``) is documented once, with the global options.
    """
    sections = _cli_sections()
    assert command in sections, f"docs/cli.md lacks '## {command}'"
    root = {name for _, name in (o for o in _listed_options() if o[0] == "dyncore")}
    text = sections["dyncore"] if command != "dyncore" and option in root else sections[command]
    assert re.search(rf"{re.escape(option)}(?![-\w])", text), f"docs/cli.md, section '{command}', does not mention {option}"


def test_option_walk_sees_subcommand_options():
    options = _listed_options()
    assert ("dyncore train", "--epochs") in options and ("dyncore", "--debug") in options
    assert not any(name == "--help" for _, name in options)
