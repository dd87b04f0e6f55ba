"""Registries of named components with lazy ``"module:attr"`` targets.

A :class:`Spec` is what a plugin registers: a name, a one-line summary, where it came from, and
either the class itself or a string naming it, imported on first use so that listing components
never imports torch.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, NoReturn, TypeVar

from dyncore.errors import PluginError, UnknownNameError

T = TypeVar("T")

KINDS = {
    # registry name -> (singular noun, "module:Base" the registered classes must derive from)
    "systems": ("system", "dyncore.system:System"),
    "models": ("model", "dyncore.model:Model"),
    "solvers": ("solver", "dyncore.solver:Solver"),
    "trainers": ("trainer", "dyncore.trainer:Trainer"),
    "chaos_tests": ("chaos test", "dyncore.chaos:ChaosTest"),
    "recipes": ("recipe", "dyncore.recipe:Recipe"),
}


def valid_name(name: object) -> bool:
    """True for a lower_snake_case identifier (``van_der_pol``) or a namespaced name ``prefix.Name``.

    A namespaced name keeps another library's own spelling after a lower_snake_case prefix naming that
    library (``dysts.Rossler``), so its users find its names as they know them.
    """
    if not isinstance(name, str):
        return False
    prefix, dot, rest = name.partition(".")
    if dot:
        return prefix.isidentifier() and prefix == prefix.lower() and rest.isidentifier()
    return name.isidentifier() and name == name.lower()


def import_target(target: str) -> Any:
    """Import ``"package.module:attr"`` and return the attribute."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise PluginError(f"target {target!r} is not of the form 'package.module:attr'")
    obj = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def derives_from(cls: Any, base_path: str) -> bool:
    """True if ``cls`` is a class with ``base_path`` ("module:Class") in its MRO.

    Compared by name so that checking a registration never imports the base (and torch with it).
    """
    if not isinstance(cls, type):
        return False
    module, _, qualname = base_path.partition(":")
    return any(c.__module__ == module and c.__qualname__ == qualname for c in cls.__mro__)


@dataclass
class Spec(Generic[T]):
    """One registered component: its name, summary, origin, and class (or lazy target)."""

    name: str
    target: type[T] | str
    summary: str = ""
    plugin: str = ""
    distribution: str = ""
    kind: str = ""
    base: str = ""  # "module:Class" the loaded class must derive from
    error: str | None = None  # set when the registering plugin is known to be broken
    #: Told ``(problem, exception)`` the first time loading fails, so the plugin's status records it.
    on_error: Callable[[str, BaseException | None], None] | None = field(default=None, repr=False, compare=False)
    #: For a deprecated alias: the name it stands for, and the options it presets (see :meth:`Registrar.alias`).
    alias_of: str | None = None
    preset: dict[str, Any] = field(default_factory=dict)
    _cls: type[T] | None = field(default=None, repr=False)
    _alias_cls: type[T] | None = field(default=None, repr=False)

    @property
    def target_path(self) -> str:
        if isinstance(self.target, str):
            return self.target
        return f"{self.target.__module__}:{self.target.__qualname__}"

    def load(self) -> type[T]:
        """Return the class, importing a lazy target; raise :class:`PluginError` naming the plugin."""
        if self.error:
            raise PluginError(self.error)
        if self._cls is None:
            if isinstance(self.target, str):
                try:
                    cls = import_target(self.target)
                except KeyboardInterrupt:
                    raise
                except PluginError as exc:
                    self._fail(str(exc), exc)
                except BaseException as exc:  # a third party's import can fail in any way, SystemExit included
                    self._fail(
                        f"{self.kind} {self.name!r} from plugin {self.plugin!r} cannot be imported "
                        f"({self.target}: {type(exc).__name__}: {exc}); fix or reinstall "
                        f"{self.distribution or self.plugin}",
                        exc,
                    )
            else:
                cls = self.target
            if self.base and not derives_from(cls, self.base):
                self._fail(
                    f"{self.kind} {self.name!r} from plugin {self.plugin!r} is {cls!r}, not a "
                    f"subclass of {self.base.replace(':', '.')}; the plugin must register such a class"
                )
            self._cls = cls
        return self._cls

    def _fail(self, problem: str, exc: BaseException | None = None) -> NoReturn:
        """Remember ``problem`` (later loads fail at once), tell the plugin's status, raise PluginError."""
        self.error = problem
        if self.on_error is not None:
            self.on_error(problem, exc)
        raise PluginError(problem) from exc


class Registry(Generic[T]):
    """Named specs of one kind of component, filled by plugins on first use.

    ``names()``, ``specs()``, ``get(name)`` (the class) and ``create(name, **params)``
    (an instance) are the whole public surface.
    """

    def __init__(self, key: str, loader: Callable[[], None] | None = None) -> None:
        self.key = key
        self.kind, self.base = KINDS[key]
        self._specs: dict[str, Spec[T]] = {}
        self._loader = loader

    def _ensure_loaded(self) -> None:
        if self._loader is not None:
            loader, self._loader = self._loader, None
            loader()

    def names(self) -> list[str]:
        """Sorted names of every registered component."""
        self._ensure_loaded()
        return sorted(self._specs)

    def specs(self) -> list[Spec[T]]:
        """Every spec, sorted by name."""
        self._ensure_loaded()
        return [self._specs[n] for n in sorted(self._specs)]

    def spec(self, name: str) -> Spec[T]:
        """The spec registered as ``name``; :class:`UnknownNameError` with suggestions if none."""
        self._ensure_loaded()
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._specs, f"see `dyncore list {self.key.replace('_', '-')}`") from None

    def get(self, name: str) -> type[T]:
        """The class registered as ``name``, imported on first use.

        A deprecated alias gives, with a DeprecationWarning naming the replacement, the class it stands
        for with the alias's preset options as defaults (so ``get(alias)()`` still behaves as before).
        """
        spec = self.spec(name)
        if spec.alias_of is None:
            return spec.load()
        warnings.warn(self.replacement(name), DeprecationWarning, stacklevel=3)
        if spec._alias_cls is None:
            cls, preset = self.get(spec.alias_of), spec.preset

            def __init__(self: Any, **params: Any) -> None:
                cls.__init__(self, **{**preset, **params})

            spec._alias_cls = type(cls.__name__, (cls,), {"__init__": __init__, "__module__": cls.__module__,
                                                          "__qualname__": cls.__qualname__, "__doc__": cls.__doc__})
        return spec._alias_cls

    def replacement(self, name: str) -> str:
        """For a deprecated alias, one line naming what to use instead."""
        spec = self.spec(name)
        preset = ", ".join(f"{k}={v!r}" for k, v in spec.preset.items())
        instead = f"{spec.alias_of!r} with {preset}" if preset else repr(spec.alias_of)
        return f"{self.kind} name {name!r} is deprecated and goes in the next release; use {instead}"

    def create(self, name: str, **params: Any) -> T:
        """An instance of ``name`` built with ``params`` (a deprecated alias: its target, presets applied)."""
        spec = self.spec(name)
        if spec.alias_of is None:
            return spec.load()(**params)
        warnings.warn(self.replacement(name), DeprecationWarning, stacklevel=2)
        return self.create(spec.alias_of, **{**spec.preset, **params})

    def resolve(self, obj: str | T, **params: Any) -> T:
        """Accept a name (created with ``params``) or an instance (returned as is)."""
        if isinstance(obj, str):
            return self.create(obj, **params)
        if params:
            raise TypeError("parameters can only be given with a name, not with an instance")
        return obj

    def __contains__(self, name: object) -> bool:
        self._ensure_loaded()
        return name in self._specs

    def __iter__(self):
        return iter(self.names())

    def __len__(self) -> int:
        self._ensure_loaded()
        return len(self._specs)

    def __repr__(self) -> str:
        return f"<Registry {self.key}: {', '.join(self._specs) if self._loader is None else 'not loaded'}>"

    def _add(self, spec: Spec[T]) -> str | None:
        """Store ``spec``; return an error message if its name is taken (the first one keeps it)."""
        taken = self._specs.get(spec.name)
        if taken is not None:
            return (
                f"{self.kind} name {spec.name!r} is already registered by plugin {taken.plugin!r}; "
                f"plugin {spec.plugin!r} must choose another name"
            )
        self._specs[spec.name] = spec
        return None


class Registrar:
    """What a ``register_*`` hook receives: adds specs to one registry on behalf of one plugin."""

    def __init__(self, registry: Registry, plugin: str, distribution: str, problems: list[str],
                 on_error: Callable[[str, BaseException | None], None] | None = None) -> None:
        self._registry = registry
        self._plugin = plugin
        self._distribution = distribution
        self._problems = problems
        self._on_error = on_error

    def add(self, name: str, target: type | str, *, summary: str | None = None) -> None:
        """Register ``target`` (a class, or ``"package.module:Class"`` imported on first use) as ``name``.

        Args:
            name: lower_snake_case identifier users type, e.g. ``"lorenz"``, or a library's own name
                behind a lower_snake_case prefix, e.g. ``"dysts.Rossler"`` (see :func:`valid_name`).
            target: the class, or a lazy ``"module:Class"`` string (keeps ``dyncore list`` fast).
            summary: one line shown by ``dyncore list``; defaults to the class docstring's first line.
        """
        kind = self._registry.kind
        error = None
        if not valid_name(name):
            self._problems.append(f"{kind} name {name!r} is not a lower_snake_case identifier (or prefix.Name)")
            return
        if isinstance(target, str):
            if ":" not in target:
                error = f"{kind} {name!r}: target {target!r} is not 'package.module:Class'"
        elif not derives_from(target, self._registry.base):
            error = (
                f"{kind} {name!r} from plugin {self._plugin!r} is {target!r}, not a subclass of "
                f"{self._registry.base.replace(':', '.')}"
            )
        if summary is None and not isinstance(target, str):
            summary = (target.__doc__ or "").strip().splitlines()[0] if target.__doc__ else ""
        spec = Spec(
            name=name,
            target=target,
            summary=summary or "",
            plugin=self._plugin,
            distribution=self._distribution,
            kind=kind,
            base=self._registry.base,
            error=error,
            on_error=self._on_error,
        )
        if error:
            self._problems.append(error)
        taken = self._registry._add(spec)
        if taken:
            self._problems.append(taken)

    def alias(self, name: str, of: str, *, options: dict[str, Any] | None = None) -> None:
        """Keep an old ``name`` working for one release as a deprecated alias of ``of`` with preset ``options``.

        ``create(name, ...)`` warns (DeprecationWarning naming the replacement) and builds ``of`` with
        ``options`` (e.g. ``alias("rk4_adjoint", "rk4", options={"adjoint": True})``). Register ``of`` first.
        """
        target = self._registry._specs.get(of)
        if target is None or target.plugin != self._plugin:
            self._problems.append(f"{self._registry.kind} alias {name!r}: {of!r} is not registered by plugin {self._plugin!r}")
            return
        preset = dict(options or {})
        spec = Spec(
            name=name, target=target.target, summary=f"deprecated alias of {of!r}" + "".join(f" {k}={v!r}" for k, v in preset.items()),
            plugin=self._plugin, distribution=self._distribution, kind=target.kind, base=target.base, error=target.error,
            on_error=self._on_error, alias_of=of, preset=preset,
        )
        taken = self._registry._add(spec)
        if taken:
            self._problems.append(taken)
