"""Who is at fault: name the plugin and component behind an error, and check a system's field before using it.

An exception raised inside a third party's component (a vector field returning garbage, a model's
``rollout`` raising ``TypeError``) is that plugin's bug, not dyncore's: :func:`plugin_fault` finds
the component and plugin from the traceback so that the CLI can say so in one line.
:func:`check_vector_field_shape` evaluates a system's field once before an integration, so a shape
bug is reported as such instead of as a failing solver.
"""

from __future__ import annotations

import os
import traceback
from typing import TYPE_CHECKING, Any

from dyncore.errors import PluginError

if TYPE_CHECKING:
    import torch

    from dyncore.registry import Spec

#: Distribution of the built-in plugins: an error in them is dyncore's own bug.
OWN_DISTRIBUTION = "dyncore"


def spec_of(obj: Any) -> Spec | None:
    """The registry spec whose class ``obj`` is an instance of (the most derived one), or None.

    Only specs already loaded are looked at, so this never imports a plugin.
    """
    from dyncore.plugins import host

    cls = obj if isinstance(obj, type) else type(obj)
    best = None
    for registry in host.registries.values():
        for spec in registry._specs.values():
            loaded = spec._cls
            if loaded is not None and isinstance(loaded, type) and issubclass(cls, loaded):
                if best is None or issubclass(loaded, best._cls):
                    best = spec
    return best


def describe(obj: Any) -> str:
    """``"system 'rossler' (plugin 'rossler', distribution dyncore-rossler)"``, or the class name if not registered."""
    spec = spec_of(obj)
    if spec is None:
        cls = obj if isinstance(obj, type) else type(obj)
        kind = getattr(cls, "name", "") or cls.__name__
        return f"{kind!r} ({cls.__module__}.{cls.__qualname__})"
    origin = f"plugin {spec.plugin!r}" + (f", distribution {spec.distribution}" if spec.distribution else "")
    return f"{spec.kind} {spec.name!r} ({origin})"


def plugin_fault(exc: BaseException) -> str | None:
    """A one-line message naming the third-party component that raised ``exc``, or None if it is not one.

    Looks, from the innermost frame out, for a method of a registered component (``self`` bound to
    an instance of a loaded spec's class) from a distribution other than dyncore's own.
    """
    frames = list(traceback.walk_tb(exc.__traceback__))
    for frame, lineno in reversed(frames):
        owner = frame.f_locals.get("self")
        if owner is None:
            continue
        spec = spec_of(owner)
        if spec is None or spec.distribution == OWN_DISTRIBUTION:
            continue
        where = f"{os.path.basename(frame.f_code.co_filename)}:{lineno} in {frame.f_code.co_name}"
        origin = f"plugin {spec.plugin!r}" + (f" (distribution {spec.distribution})" if spec.distribution else "")
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return (
            f"{spec.kind} {spec.name!r} from {origin} raised {type(exc).__name__}{': ' + text if text else ''} "
            f"({where}); this is a bug in that plugin, not in dyncore: report it to its authors "
            "(rerun with --debug for the traceback)"
        )
    return None


def check_vector_field_shape(system: Any, x0: torch.Tensor, t0: float = 0.0) -> None:
    """Evaluate ``system.vector_field`` once at ``x0`` and raise :class:`PluginError` unless it keeps the shape.

    Args:
        system: a System.
        x0: the (possibly batched) initial states the integration starts from, ``(dim,)`` or ``(batch, dim)``.
        t0: the time of the evaluation.
    Raises:
        PluginError: the field returned something other than a tensor of ``x0``'s shape, naming the component.
    """
    import torch

    with torch.no_grad():
        out = system.vector_field(torch.tensor(float(t0), dtype=x0.dtype, device=x0.device), x0)
    if not isinstance(out, torch.Tensor):
        raise PluginError(
            f"{describe(system)}: vector_field returned {type(out).__name__}, not a tensor; it must return dx/dt as a "
            "torch tensor of the shape of x (a bug in the system: run dyncore.testing's conformance checks on it)"
        )
    if tuple(out.shape) != tuple(x0.shape):
        raise PluginError(
            f"{describe(system)}: vector_field returned shape {tuple(out.shape)} for states of shape {tuple(x0.shape)}; "
            "it must return the shape of x, batched over leading dimensions (a bug in the system: "
            "check_vector_field_is_batched in dyncore.testing shows it)"
        )


__all__ = ["check_vector_field_shape", "describe", "plugin_fault", "spec_of"]
