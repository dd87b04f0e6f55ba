"""Plugin discovery: entry points in the ``dyncore`` group, each loaded and called in isolation.

A plugin that fails to import, raises in a hook, implements a hook that does not exist, registers
the wrong kind of class or a name that is taken is recorded as a :class:`PluginStatus`, reported
once on stderr, and breaks only its own components. ``DYNCORE_STRICT_PLUGINS=1`` re-raises instead;
``DYNCORE_DISABLE_PLUGINS=a,b`` skips plugins by entry-point name.
"""

from __future__ import annotations

import difflib
import os
import sys
import traceback
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
        }


def strict() -> bool:
    """``DYNCORE_STRICT_PLUGINS=1``: every plugin problem is an error (see :func:`dyncore.params.env_flag`)."""
    return env_flag("DYNCORE_STRICT_PLUGINS")


def disabled_names() -> set[str]:
    return {n.strip() for n in os.environ.get("DYNCORE_DISABLE_PLUGINS", "").split(",") if n.strip()}


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
                module = ep.load()
            except (Exception, SystemExit) as exc:  # a plugin that exits at import must not end the CLI
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

    def _call_register_hook(self, pm: pluggy.PluginManager, key: str, registry: Registry) -> None:
        hook = getattr(pm.hook, f"register_{key}")
        for impl in hook.get_hookimpls():  # in registration order: entry points sorted by name
            status = self.statuses[impl.plugin_name]
            registrar = Registrar(registry, status.name, status.distribution, status.problems)
            before = len(status.problems)
            try:
                impl.function(registry=registrar)
            except (Exception, SystemExit) as exc:
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
                fn(cli=cli)
            except (Exception, SystemExit) as exc:
                self._fail(status, f"raised in register_commands ({type(exc).__name__}: {exc})", exc)
                sys.stderr.write(f"dyncore: plugin {name!r} could not add its commands: {status.problems[-1]}\n")


host = PluginHost()


def statuses() -> list[PluginStatus]:
    """Every plugin's :class:`PluginStatus`, sorted by name (loads plugins if needed)."""
    host.load()
    return [host.statuses[n] for n in sorted(host.statuses)]
