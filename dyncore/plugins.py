"""Plugin discovery: entry points in the ``dyncore`` group, each loaded and called in isolation.

A plugin that fails to import, raises in a hook, implements a hook that does not exist, registers
the wrong kind of class or a name that is taken is recorded as a :class:`PluginStatus`, reported
once on stderr, and breaks only its own components; so is a lazy target that fails to import, once
something tries it (:meth:`PluginHost.check_targets` tries them all). ``DYNCORE_STRICT_PLUGINS=1``
re-raises instead, and checks every lazy target up front; ``DYNCORE_DISABLE_PLUGINS=a,b`` skips
plugins by entry-point name.

A plugin's code runs isolated: what it prints never reaches dyncore's stdout (which may be JSON;
Python prints are counted into a note, C-level writes go to stderr); any exception it raises is recorded, ``SystemExit`` and other ``BaseException``
subclasses included, except ``KeyboardInterrupt``, which stops the command as Ctrl-C always does;
and an import that takes more than :data:`SLOW_IMPORT_SECONDS` gets a line on stderr naming the
plugin being waited for.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import os
import sys
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from dyncore import hookspecs
from dyncore.errors import PluginError
from dyncore.params import env_flag
from dyncore.registry import KINDS, Registrar, Registry

ENTRY_POINT_GROUP = "dyncore"
hookimpl = pluggy.HookimplMarker("dyncore")
HOOK_NAMES = tuple(n for n in vars(hookspecs) if n.startswith("register_"))
#: Seconds a plugin's import (or hook) may run before stderr says which plugin is being waited for.
SLOW_IMPORT_SECONDS = 10.0
#: Characters of a plugin's stray output kept in its status.
KEPT_OUTPUT = 200


@dataclass
class PluginStatus:
    """What happened when one plugin was loaded: OK, or BROKEN with the reasons."""

    name: str
    distribution: str = ""
    version: str = ""
    module: str = ""
    hooks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    traceback: str = ""
    disabled: bool = False
    #: Things worth knowing that do not break the plugin, e.g. output it printed while loading.
    notes: list[str] = field(default_factory=list)
    #: Why its ``register_commands`` failed (its commands are missing); the CLI shows a placeholder.
    commands_error: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def state(self) -> str:
        return "DISABLED" if self.disabled else ("OK" if self.ok else "BROKEN")

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "state": self.state,
            "hooks": self.hooks,
            "problems": self.problems,
            "notes": self.notes,
        }


def strict() -> bool:
    """``DYNCORE_STRICT_PLUGINS=1``: every plugin problem is an error (see :func:`dyncore.params.env_flag`)."""
    return env_flag("DYNCORE_STRICT_PLUGINS")


def disabled_names() -> set[str]:
    """The entry-point names in ``DYNCORE_DISABLE_PLUGINS`` (comma-separated)."""
    return {n.strip() for n in os.environ.get("DYNCORE_DISABLE_PLUGINS", "").split(",") if n.strip()}


class _Capture(io.TextIOBase):
    """A stdout stand-in that counts what a plugin prints and keeps its beginning."""

    def __init__(self) -> None:
        self.count = 0
        self.head = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.count += len(text)
        if len(self.head) < KEPT_OUTPUT:
            self.head += text[: KEPT_OUTPUT - len(self.head)]
        return len(text)


@contextlib.contextmanager
def _isolated(status: PluginStatus, doing: str) -> Iterator[None]:
    """Run plugin code with its output kept off stdout and a notice if it takes long.

    ``doing`` says what runs, with ``{who}`` where the plugin is named: ``"importing {who}"``.

    Python-level prints are captured and summarised in ``status.notes``; writes to file
    descriptor 1 from C code go to stderr. After :data:`SLOW_IMPORT_SECONDS` a line on stderr
    names the plugin, so a hanging import is never silent.
    """
    err = sys.stderr
    who = f"plugin {status.name!r} ({status.distribution or 'unknown distribution'})"

    def notice() -> None:
        err.write(f"dyncore: still {doing.format(who=who)} after {SLOW_IMPORT_SECONDS:g} s; "
                  f"DYNCORE_DISABLE_PLUGINS={status.name} skips it\n")
        err.flush()

    timer = threading.Timer(SLOW_IMPORT_SECONDS, notice)
    timer.daemon = True
    capture = _Capture()
    with contextlib.ExitStack() as stack:
        stack.enter_context(_fd1_to_stderr())
        stack.enter_context(contextlib.redirect_stdout(capture))
        timer.start()
        stack.callback(timer.cancel)
        stack.callback(_note_output, status, capture, doing)  # also when the plugin then fails
        yield


def _note_output(status: PluginStatus, capture: _Capture, doing: str) -> None:
    """Add a note to ``status`` if the plugin printed anything while ``doing``."""
    if capture.count:
        first = capture.head.strip().splitlines()[0][:40] if capture.head.strip() else ""
        status.notes.append(
            f"printed {capture.count} characters to stdout ({doing.format(who='it')}; kept off dyncore's output)"
            + (f", starting {first!r}" if first else "")
        )


@contextlib.contextmanager
def _fd1_to_stderr() -> Iterator[None]:
    """Point file descriptor 1 at stderr for the duration (does nothing if either cannot be used)."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(2, 1)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


class PluginHost:
    """Owns the registries and the plugin statuses of one process; loads plugins once, lazily."""

    def __init__(self) -> None:
        self.registries: dict[str, Registry] = {key: Registry(key, self.load) for key in KINDS}
        self.statuses: dict[str, PluginStatus] = {}
        self._modules: dict[str, Any] = {}
        self._loaded = False
        self._cli_extended: set[int] = set()

    # -- loading -------------------------------------------------------------------------
    def load(self) -> None:
        """Import every entry point and run its ``register_*`` hooks (once per process)."""
        if self._loaded:
            return
        self._loaded = True
        skip = disabled_names()
        pm = pluggy.PluginManager("dyncore")
        pm.add_hookspecs(hookspecs)
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in self.statuses:
                continue  # the same distribution seen twice on sys.path
            dist = getattr(ep, "dist", None)
            status = PluginStatus(
                name=ep.name,
                distribution=dist.name if dist else "",
                version=dist.version if dist else "",
                module=ep.value,
            )
            self.statuses[ep.name] = status
            if ep.name in skip:
                status.disabled = True
                continue
            try:
                with _isolated(status, "importing {who}"):
                    module = ep.load()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # SystemExit or a custom BaseException at import must not end the CLI
                self._fail(status, f"cannot be imported ({type(exc).__name__}: {exc})", exc)
                continue
            unknown = [
                n for n, fn in vars(module).items()
                if callable(fn) and hasattr(fn, "dyncore_impl") and n not in HOOK_NAMES
            ]
            for n in unknown:
                close = difflib.get_close_matches(n, HOOK_NAMES, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                self._fail(status, f"implements {n!r}, which is not a dyncore hook{hint}")
            try:
                pm.register(module, name=ep.name)  # checks hook signatures; unknown names stay uncalled
            except Exception as exc:
                self._fail(status, f"has an invalid hook ({type(exc).__name__}: {exc})", exc)
                continue
            self._modules[ep.name] = module
            status.hooks = sorted(n for n in HOOK_NAMES if hasattr(getattr(module, n, None), "dyncore_impl"))
        for key, registry in self.registries.items():
            self._call_register_hook(pm, key, registry)
        self._report()
        self._report_unknown_disabled(skip)
        if strict():  # every problem is an error, including lazy targets that no command has tried yet
            self.check_targets()
            for status in self.statuses.values():
                if status.problems:
                    raise PluginError(status.problems[0])

    def check_targets(self) -> None:
        """Import every lazy target now; each failure is recorded in its plugin's status (BROKEN)."""
        self.load()
        for registry in self.registries.values():
            for spec in registry.specs():
                if spec.error is None and spec.plugin in self.statuses:
                    with contextlib.suppress(PluginError):
                        spec.load()

    def _record_late(self, status: PluginStatus, problem: str, exc: BaseException | None) -> None:
        """A component of ``status``'s plugin failed when it was first loaded: the plugin is BROKEN from now on."""
        if problem not in status.problems:
            status.problems.append(problem)
            if exc is not None:
                status.traceback += "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))

    def _report_unknown_disabled(self, skip: set[str]) -> None:
        for name in sorted(skip - set(self.statuses)):
            close = difflib.get_close_matches(name, list(self.statuses), n=3, cutoff=0.5)
            tail = ("did you mean " + " or ".join(repr(c) for c in close) + "?") if close else (
                "installed: " + (", ".join(sorted(self.statuses)) or "none"))
            sys.stderr.write(f"dyncore: warning: DYNCORE_DISABLE_PLUGINS names {name!r}, which is not an installed plugin; {tail}\n")

    def _call_register_hook(self, pm: pluggy.PluginManager, key: str, registry: Registry) -> None:
        hook = getattr(pm.hook, f"register_{key}")
        for impl in hook.get_hookimpls():  # in registration order: entry points sorted by name
            status = self.statuses[impl.plugin_name]
            registrar = Registrar(registry, status.name, status.distribution, status.problems,
                                  on_error=lambda problem, exc, status=status: self._record_late(status, problem, exc))
            before = len(status.problems)
            try:
                with _isolated(status, f"running register_{key} of {{who}}"):
                    impl.function(registry=registrar)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                self._fail(status, f"raised in register_{key} ({type(exc).__name__}: {exc})", exc)
            if strict() and len(status.problems) > before:
                raise PluginError(f"plugin {status.name!r}: {status.problems[-1]}")

    def _fail(self, status: PluginStatus, problem: str, exc: BaseException | None = None) -> None:
        status.problems.append(problem)
        if exc is not None:
            status.traceback += "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        if strict():
            message = f"plugin {status.name!r} {problem}"
            if exc is not None:
                raise PluginError(message) from exc
            raise PluginError(message)
        # Components this plugin registered before failing stay; the ones it never got to are absent.

    def _report(self) -> None:
        for status in self.statuses.values():
            if status.problems:
                sys.stderr.write(
                    f"dyncore: plugin {status.name!r} ({status.distribution or 'unknown distribution'}) "
                    f"is broken: {status.problems[0]}; see `dyncore plugins --traceback {status.name}`\n"
                )
            elif status.notes:
                sys.stderr.write(f"dyncore: warning: plugin {status.name!r} {status.notes[0]}; see `dyncore plugins`\n")

    # -- CLI -----------------------------------------------------------------------------
    def extend_cli(self, cli: Any) -> None:
        """Let plugins add commands to ``cli``; a plugin that fails here is recorded, not fatal."""
        self.load()
        if id(cli) in self._cli_extended:
            return
        self._cli_extended.add(id(cli))
        for name, module in self._modules.items():
            fn = getattr(module, "register_commands", None)
            if fn is None or not hasattr(fn, "dyncore_impl"):
                continue
            status = self.statuses[name]
            try:
                with _isolated(status, "adding the commands of {who}"):
                    fn(cli=cli)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                self._fail(status, f"raised in register_commands ({type(exc).__name__}: {exc})", exc)
                status.commands_error = status.problems[-1]
                sys.stderr.write(f"dyncore: plugin {name!r} could not add its commands: {status.problems[-1]}\n")


host = PluginHost()


def statuses() -> list[PluginStatus]:
    """Every plugin's :class:`PluginStatus`, sorted by name (loads plugins if needed)."""
    host.load()
    return [host.statuses[n] for n in sorted(host.statuses)]
