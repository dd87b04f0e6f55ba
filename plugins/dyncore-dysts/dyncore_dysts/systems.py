"""dysts' systems as dyncore Systems, built on first use: ``dyncore_dysts.systems.Lorenz`` is ``dysts.Lorenz``.

Each class runs dysts' own right-hand side (``_rhs``) with ``np`` bound to :mod:`dyncore_dysts.torchnp`,
so the field is dysts' code, computed in torch (batched, differentiable). The published parameters,
initial condition, time scale (``dt``, ``period``) and largest Lyapunov exponent come from dysts'
metadata; :meth:`DystsSystem.reference` exposes the exponent at the published parameters, so
``dyncore evaluate`` uses it as lambda_1 true.
"""

from __future__ import annotations

import json
import types
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

import dyncore
from dyncore_dysts import torchnp

#: Output samples per published period, and periods, of :meth:`DystsSystem.default_times` (dysts' own benchmark samples 100 per period).
POINTS_PER_PERIOD, PERIODS = 100, 20


def _import_flows() -> Any:
    with warnings.catch_warnings():  # "Numba not installed": dysts then runs plain Python, which is what we translate
        warnings.simplefilter("ignore")
        import dysts.flows

    return dysts.flows


def torch_rhs(func: Any) -> Any:
    """dysts' ``_rhs`` (numba's ``py_func`` if jitted) with ``np`` rebound to the torch stand-in."""
    func = getattr(func, "py_func", func)
    scope = {**func.__globals__, "np": torchnp}
    return types.FunctionType(func.__code__, scope, func.__name__, func.__defaults__, func.__closure__)


class DystsSystem(dyncore.System):
    """A dysts system (the subclasses are made by :func:`make`); parameters are dysts' names and published values."""

    dysts_name: ClassVar[str] = ""
    metadata: ClassVar[dict[str, Any]] = {}
    _rhs: ClassVar[Any] = None

    @property
    def dim(self) -> int:
        return len(self.metadata["initial_conditions"])

    def vector_field(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        params = [torch.as_tensor(v, dtype=x.dtype, device=x.device) if isinstance(v, list) else v
                  for _, v in sorted(self.params.items())]
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        out = type(self)._rhs(*x.unbind(-1), t, *params)
        parts = [o.to(dtype=x.dtype, device=x.device) if isinstance(o, torch.Tensor)
                 else torch.as_tensor(o, dtype=x.dtype, device=x.device) for o in out]
        return torch.stack(torch.broadcast_tensors(*parts, x[..., 0]), dim=-1)[..., : self.dim]

    def default_x0(self) -> torch.Tensor:
        return torch.as_tensor(self.metadata["initial_conditions"], dtype=torch.float64)

    def default_times(self) -> torch.Tensor:
        step = float(self.metadata["period"]) / POINTS_PER_PERIOD
        return torch.arange(POINTS_PER_PERIOD * PERIODS, dtype=torch.float64) * step

    def reference(self) -> dict[str, Any]:
        """dysts' published invariants, at the published parameters only (empty elsewhere)."""
        if self.params != self.default_params:
            return {}
        m = self.metadata
        ref: dict[str, Any] = {"period": m["period"], "dysts_dt": m["dt"], "source": "dysts (Gilpin 2021), maximum_lyapunov_estimated"}
        if m.get("maximum_lyapunov_estimated") is not None:
            ref["largest_lyapunov_exponent"] = float(m["maximum_lyapunov_estimated"])
        for key in ("lyapunov_spectrum_estimated", "kaplan_yorke_dimension", "correlation_dimension"):
            if m.get(key) is not None:
                ref[key] = m[key]
        return ref


def _metadata(flows: Any) -> dict[str, dict[str, Any]]:
    path = Path(flows.__file__).with_name("data") / "chaotic_attractors.json"
    return json.loads(path.read_text())


def make(name: str) -> type[DystsSystem]:
    """The dyncore System class of dysts' ``name`` (raises AttributeError for a name dysts lacks)."""
    flows = _import_flows()
    meta = _metadata(flows).get(name)
    cls = getattr(flows, name, None)
    if meta is None or cls is None:
        raise AttributeError(f"dysts has no continuous system {name!r}")
    description = (meta.get("description") or name).strip()
    return type(name, (DystsSystem,), {
        "__doc__": f"dysts {name}: {description}",
        "__module__": __name__,
        "name": f"dysts.{name}",
        "dysts_name": name,
        "metadata": meta,
        "default_params": {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in meta["parameters"].items()},
        "_rhs": staticmethod(torch_rhs(cls._rhs)),
    })


def __getattr__(name: str) -> type[DystsSystem]:
    if name.startswith("_"):
        raise AttributeError(name)
    cls = make(name)
    globals()[name] = cls
    return cls
