"""The ``dyncore`` command line: a click group whose commands are imported only when used.

Each command lives in its own module and is a thin layer over a public Python function. Errors
that dyncore raises on purpose print one line and exit non-zero; anything else prints one line
asking for ``--debug`` (or ``DYNCORE_DEBUG=1``), which shows the traceback.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

import dyncore
from dyncore.params import env_flag
from dyncore.threads import env_threads, parse_threads, set_threads

#: command name -> "module:attribute"; plugins add theirs through the register_commands hook.
COMMANDS = {
    "list": "dyncore.cli.list_cmd:list_command",
    "plugins": "dyncore.cli.plugins_cmd:plugins_command",
    "simulate": "dyncore.cli.simulate_cmd:simulate_command",
    "chaos-test": "dyncore.cli.chaos_test_cmd:chaos_test_command",
    "plot": "dyncore.cli.plot_cmd:plot_command",
    "evaluate": "dyncore.cli.evaluate_cmd:evaluate_command",
    "train": "dyncore.cli.train_cmd:train_command",
    "predict": "dyncore.cli.predict_cmd:predict_command",
    "sweep": "dyncore.cli.sweep_cmd:sweep_command",
    "compare": "dyncore.cli.compare_cmd:compare_command",
    "persistence": "dyncore.cli.persistence_cmd:persistence_command",
}


#: On/off environment variables, checked before any command runs.
FLAG_VARIABLES = ("DYNCORE_DEBUG", "DYNCORE_STRICT_PLUGINS")


def debug_enabled(ctx: click.Context | None = None) -> bool:
    """``--debug`` or ``DYNCORE_DEBUG=1``: show tracebacks instead of one-line errors."""
    try:
        if env_flag("DYNCORE_DEBUG"):
            return True
    except dyncore.ConfigError:  # reported by DyncoreGroup.main before any command runs
        pass
    root = ctx.find_root() if ctx else None
    return bool(root and root.params.get("debug"))


class ThreadsType(click.ParamType):
    """``--threads``: a positive count or ``auto``."""

    name = "N|auto"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | str:
        try:
            return parse_threads(value, "--threads")
        except dyncore.ConfigError as exc:
            self.fail(str(exc).removeprefix("--threads "), param, ctx)


THREADS_HELP = ("Torch's intra-op threads: N, or auto (default: one unless an op is large; "
                "also DYNCORE_THREADS; an OMP_NUM_THREADS you set is kept).")


def _set_threads(ctx: click.Context, param: click.Parameter, value: int | str | None) -> None:
    """``--threads`` after a command: the same as before it."""
    if value is not None:
        set_threads(value)


def threads_option() -> click.Option:
    """The ``--threads`` option every command accepts (it sets :func:`dyncore.set_threads`)."""
    return click.Option(["--threads"], type=ThreadsType(), expose_value=False, callback=_set_threads, help=THREADS_HELP)


class _EchoHandler(logging.Handler):
    """``dyncore: message`` on the current stderr (click's test runner swaps it) for ``--verbose``."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"dyncore: {record.getMessage()}", err=True)


_VERBOSE = _EchoHandler(logging.INFO)
VERBOSE_HELP = "Print what dyncore chose on its own (torch threads, CUDA graph capture) on stderr."


def set_verbose(on: bool) -> None:
    """``--verbose``: the ``dyncore`` logger's INFO messages on stderr (``False`` takes them away again)."""
    logger = logging.getLogger("dyncore")
    if on and _VERBOSE not in logger.handlers:
        logger.addHandler(_VERBOSE)
        logger.setLevel(logging.INFO)
    elif not on and _VERBOSE in logger.handlers:
        logger.removeHandler(_VERBOSE)
        logger.setLevel(logging.NOTSET)


def _set_verbose(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        set_verbose(True)


def verbose_option() -> click.Option:
    """The ``--verbose`` option every command accepts after its name (as before it)."""
    return click.Option(["--verbose"], is_flag=True, expose_value=False, callback=_set_verbose, help=VERBOSE_HELP)


def fail(message: str, code: int = 1) -> None:
    """Print ``dyncore: error: message`` on stderr and exit with ``code``."""
    click.echo(f"dyncore: error: {message}", err=True)
    sys.exit(code)


class DyncoreGroup(click.Group):
    """Root group: lazy built-in commands, plugin commands, and one-line errors."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugin_commands()
        return sorted(set(COMMANDS) | set(self.commands))

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        """Click's lookup; an unknown name also names the plugins whose commands are missing because they broke or are disabled."""
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            from dyncore.plugins import host

            broken = [s.name for s in host.statuses.values() if s.commands_error]
            disabled = [s.name for s in host.statuses.values() if s.disabled]
            if "No such command" in exc.message and disabled and not broken:
                names = ", ".join(repr(n) for n in disabled)
                raise click.UsageError(f"{exc.message.rstrip('.')}; DYNCORE_DISABLE_PLUGINS disables plugin {names}, which "
                                       "may provide it", ctx) from None
            if not broken or "No such command" not in exc.message:
                raise
            names = ", ".join(repr(n) for n in broken)
            raise click.UsageError(f"{exc.message.rstrip('.')}; plugin {names} could not add its commands, so it may "
                                   f"be missing: run `dyncore {_placeholder_name(broken[0])}` for why", ctx) from None

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS and name not in self.commands:
            module, _, attr = COMMANDS[name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)
        if name not in self.commands:
            self._add_plugin_commands()
        command = self.commands.get(name)
        if command is not None and not isinstance(command, click.Group):
            names = {p.name for p in command.params}
            if "threads" not in names:
                command.params.append(threads_option())
            if "verbose" not in names:
                command.params.append(verbose_option())
        return command

    def _add_plugin_commands(self) -> None:
        from dyncore.plugins import host

        try:
            host.extend_cli(self)
        except dyncore.PluginError as exc:  # strict mode
            fail(str(exc))
        for status in host.statuses.values():
            name = _placeholder_name(status.name)
            if status.commands_error and name not in self.commands and name not in COMMANDS:
                self.add_command(BrokenCommand(status), name)

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """Click's main, but usage errors too are one line: ``dyncore: error: ... (see `... --help`)``."""
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        for check in (*(lambda name=name: env_flag(name) for name in FLAG_VARIABLES), env_threads):
            try:
                check()
            except dyncore.ConfigError as exc:
                fail(str(exc), exc.exit_code)
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
        # dyncore's own deprecations (an old solver name, an undeclared capability) reach CLI users too
        warnings.filterwarnings("default", category=DeprecationWarning, module=r"dyncore(\.|_|$)")
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
        finally:
            set_threads(None)  # --threads and --verbose hold for this command only (in-process callers run several)
            set_verbose(False)


def _placeholder_name(plugin: str) -> str:
    """The command name a broken plugin's placeholder takes: its entry-point name, dashed (``my_plugin`` -> ``my-plugin``)."""
    return plugin.replace("_", "-")


class BrokenCommand(click.Command):
    """Stands in for the commands of a plugin whose ``register_commands`` failed (as click-plugins' BrokenCommand).

    Named after the plugin (we cannot know the names it would have added); ``--help`` lists it as
    BROKEN, and running it, with any arguments, prints the plugin's error and the fix (exit 1).
    """

    def __init__(self, status: Any) -> None:
        distribution = status.distribution or status.name
        self.message = (
            f"plugin {status.name!r} ({distribution}) could not add its commands: {status.commands_error}; fix or "
            f"reinstall {distribution}, or skip it with DYNCORE_DISABLE_PLUGINS={status.name} "
            f"(details: `dyncore plugins --traceback {status.name}`)"
        )
        super().__init__(
            _placeholder_name(status.name), callback=self._fail, add_help_option=False,
            context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
            short_help=f"BROKEN plugin {status.name!r}: its commands are missing (run it to see why)",
            help=self.message,
        )

    def _fail(self) -> None:
        raise dyncore.PluginError(self.message)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Accept any arguments (even ``--help``): whatever the user typed, the answer is the plugin's error."""
        ctx.args = list(args)
        return []


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
                      line: str | None = None) -> None:
    """Print Python warnings raised under a command as ``dyncore: warning: ...`` (one line, no source line)."""
    click.echo(f"dyncore: warning: {message}", err=True)


@click.group(cls=DyncoreGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(dyncore.__version__, prog_name="dyncore")
@click.option("--debug", is_flag=True, help="Show Python tracebacks on errors (or set DYNCORE_DEBUG=1).")
@click.option("--threads", type=ThreadsType(), help=THREADS_HELP)
@click.option("-v", "--verbose", is_flag=True, help=VERBOSE_HELP)
def cli(debug: bool, threads: int | str | None, verbose: bool) -> None:
    """Learn dynamical systems from data with RNNs and Neural ODEs, and test what was learned."""
    set_threads(threads)
    set_verbose(verbose)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="dyncore")
