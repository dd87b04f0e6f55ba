"""The ``dyncore`` command line: a click group whose commands are imported only when used.

Each command lives in its own module and is a thin layer over a public Python function. Errors
that dyncore raises on purpose print one line and exit non-zero; anything else prints one line
asking for ``--debug`` (or ``DYNCORE_DEBUG=1``), which shows the traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

import dyncore

#: command name -> "module:attribute"; plugins add theirs through the register_commands hook.
COMMANDS = {
    "list": "dyncore.cli.list_cmd:list_command",
    "plugins": "dyncore.cli.plugins_cmd:plugins_command",
    "simulate": "dyncore.cli.simulate_cmd:simulate_command",
    "chaos-test": "dyncore.cli.chaos_test_cmd:chaos_test_command",
    "demo": "dyncore.cli.demo_cmd:demo_command",
    "plot": "dyncore.cli.plot_cmd:plot_command",
    "evaluate": "dyncore.cli.evaluate_cmd:evaluate_command",
    "train": "dyncore.cli.train_cmd:train_command",
    "predict": "dyncore.cli.predict_cmd:predict_command",
    "compare": "dyncore.cli.compare_cmd:compare_command",
}


def debug_enabled(ctx: click.Context | None = None) -> bool:
    if os.environ.get("DYNCORE_DEBUG", "") not in ("", "0", "false", "no"):
        return True
    root = ctx.find_root() if ctx else None
    return bool(root and root.params.get("debug"))


def fail(message: str, code: int = 1) -> None:
    """Print ``dyncore: error: message`` on stderr and exit with ``code``."""
    click.echo(f"dyncore: error: {message}", err=True)
    sys.exit(code)


class DyncoreGroup(click.Group):
    """Root group: lazy built-in commands, plugin commands, and one-line errors."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugin_commands()
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS and name not in self.commands:
            module, _, attr = COMMANDS[name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)
        if name not in self.commands:
            self._add_plugin_commands()
        return self.commands.get(name)

    def _add_plugin_commands(self) -> None:
        from dyncore.plugins import host

        try:
            host.extend_cli(self)
        except dyncore.PluginError as exc:  # strict mode
            fail(str(exc))

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """Click's main, but usage errors too are one line: ``dyncore: error: ... (see `... --help`)``."""
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "dyncore"
            fail(f"{exc.format_message()} (see `{where} --help`)", exc.exit_code)
        except click.ClickException as exc:
            fail(exc.format_message(), exc.exit_code)
        except click.Abort:
            fail("aborted", 130)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        import warnings

        warnings.showwarning = _one_line_warning
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            if debug_enabled(ctx):
                raise
            fail("interrupted", 130)
        except dyncore.DyncoreError as exc:
            if debug_enabled(ctx):
                raise
            fail(str(exc), exc.exit_code)
        except Exception as exc:
            if debug_enabled(ctx):
                raise
            from dyncore.faults import plugin_fault

            fail(plugin_fault(exc) or f"internal error ({type(exc).__name__}: {exc}); rerun with --debug for the traceback and report it")


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
                      line: str | None = None) -> None:
    """Print Python warnings raised under a command as ``dyncore: warning: ...`` (one line, no source line)."""
    click.echo(f"dyncore: warning: {message}", err=True)


@click.group(cls=DyncoreGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(dyncore.__version__, prog_name="dyncore")
@click.option("--debug", is_flag=True, help="Show Python tracebacks on errors (or set DYNCORE_DEBUG=1).")
def cli(debug: bool) -> None:
    """Learn dynamical systems from data with RNNs and Neural ODEs, and test what was learned."""


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="dyncore")
