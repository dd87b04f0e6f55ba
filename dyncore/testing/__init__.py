"""The conformance kit: small checks, one behaviour each, that every plugin component must pass.

Plugin authors run it in their own CI::

    from dyncore.testing import parametrize_with_checks

    @parametrize_with_checks([MySystem(), "solvers:rk4"])
    def test_conformance(component, check):
        check(component)

A component is an instance, a class (built with its defaults), or ``"registry:name"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from dyncore.registry import KINDS, derives_from

Check = Callable[[Any], None]

#: registry key -> check-module; each module lists its checks in CHECKS, in the order to run them.
_CHECK_MODULES = {
    "systems": "dyncore.testing.systems",
    "solvers": "dyncore.testing.solvers",
    "models": "dyncore.testing.models",
    "trainers": "dyncore.testing.trainers",
    "chaos_tests": "dyncore.testing.chaos",
}


def kind_of(component: Any) -> str:
    """The registry key (``"systems"``, ...) whose base class ``component`` derives from."""
    cls = component if isinstance(component, type) else type(component)
    for key, (_, base) in KINDS.items():
        if derives_from(cls, base):
            return key
    raise TypeError(f"{component!r} is not a dyncore System, Model, Solver, Trainer or ChaosTest")


def resolve(component: Any) -> Any:
    """An instance from an instance, a class, or ``"registry:name"`` (e.g. ``"systems:lorenz"``)."""
    if isinstance(component, str):
        import dyncore

        key, _, name = component.partition(":")
        return getattr(dyncore, key.replace("-", "_")).create(name)
    if isinstance(component, type):
        return component()
    return component


def checks_for(component: Any) -> list[Check]:
    """The checks that apply to ``component``: those of its kind, less those needing a capability its class does not declare.

    A check module lists its checks in ``CHECKS`` and, in ``REQUIRES``, the class a check needs
    (e.g. ``SemilinearSystem``, ``VectorFieldModel``); capabilities are read from the class, never
    guessed from option or method names.
    """
    return _applicable(_class_of(component))


def _class_of(component: Any) -> type:
    """The component's class; ``"registry:name"`` is looked up (imported) but not built."""
    if isinstance(component, str):
        import dyncore

        key, _, name = component.partition(":")
        return getattr(dyncore, key.replace("-", "_")).get(name)
    return component if isinstance(component, type) else type(component)


def _applicable(cls: type) -> list[Check]:
    import importlib

    module = importlib.import_module(_CHECK_MODULES[kind_of(cls)])
    requires = module.REQUIRES
    return [check for check in module.CHECKS if issubclass(cls, requires.get(check, object))]


def iter_checks(component: Any) -> Iterator[tuple[Any, Check]]:
    instance = resolve(component)
    for check in checks_for(instance):
        yield instance, check


def all_checks(component: Any) -> list[str]:
    """Run every applicable check on ``component``; raise ``AssertionError`` on the first failure.

    Returns:
        The names of the checks that passed.
    """
    passed = []
    for instance, check in iter_checks(component):
        check(instance)
        passed.append(check.__name__)
    return passed


def _label(component: Any) -> str:
    if isinstance(component, str):
        return component.replace(":", "-")
    cls = component if isinstance(component, type) else type(component)
    return getattr(cls, "name", "") or cls.__name__


def parametrize_with_checks(components: Iterable[Any]):
    """A ``pytest.mark.parametrize`` over (component, check) with ids like ``lorenz-check_vector_field_shape``.

    Components given as ``"registry:name"`` strings are built when the test runs, so a broken
    plugin fails only its own tests.
    """
    import pytest

    params = []
    for component in components:
        try:
            checks = checks_for(component) if not isinstance(component, str) else [_on_resolved(c) for c in checks_for(component)]
        except Exception as exc:  # a component that cannot even be inspected fails one test, loudly
            params.append(pytest.param(component, _failing(exc), id=f"{_label(component)}-load"))
            continue
        for check in checks:
            params.append(pytest.param(component, check, id=f"{_label(component)}-{check.__name__}"))
    return pytest.mark.parametrize("component, check", params)


def _on_resolved(check: Check) -> Check:
    def run(component: Any) -> None:
        check(resolve(component))

    run.__name__ = check.__name__
    run.__doc__ = check.__doc__
    return run


def _failing(exc: Exception) -> Check:
    def check_loads(component: Any) -> None:
        raise AssertionError(f"cannot build {component!r}: {type(exc).__name__}: {exc}")

    return check_loads


__all__ = ["all_checks", "checks_for", "iter_checks", "kind_of", "parametrize_with_checks", "resolve"]
