"""Entry point of the dyncore_solvers plugin: registers its components by lazy target (no torch import)."""

from __future__ import annotations

import dyncore

_TORCHDIFFEQ = {
    "dopri5": ("Dopri5", "Dormand-Prince 5(4), adaptive, differentiable (torchdiffeq)"),
    "tsit5": ("Tsit5", "Tsitouras 5(4), adaptive, differentiable (torchdiffeq internals)"),
    "dopri8": ("Dopri8", "Dormand-Prince 8, adaptive, differentiable (torchdiffeq)"),
    "bosh3": ("Bosh3", "Bogacki-Shampine 3(2), adaptive, differentiable (torchdiffeq)"),
    "rk4": ("RK4", "fixed-step RK4, 3/8 rule, differentiable (torchdiffeq)"),
    "midpoint": ("Midpoint", "fixed-step explicit midpoint, differentiable (torchdiffeq)"),
    "euler": ("Euler", "fixed-step forward Euler, differentiable (torchdiffeq)"),
}

_SCIPY = {
    "rk45": ("RK45", "explicit Runge-Kutta 5(4), adaptive, not differentiable (SciPy)"),
    "dop853": ("DOP853", "explicit Runge-Kutta 8, adaptive, fast data generation (SciPy)"),
    "radau": ("Radau", "implicit Radau IIA order 5, for stiff systems (SciPy)"),
    "bdf": ("BDF", "implicit BDF orders 1-5, for stiff systems (SciPy)"),
    "lsoda": ("LSODA", "LSODA, switches Adams/BDF automatically (SciPy)"),
}


@dyncore.hookimpl
def register_solvers(registry):
    for name, (cls, summary) in _TORCHDIFFEQ.items():
        registry.add(name, f"dyncore_solvers.torchdiffeq_backend:{cls}", summary=summary)
        registry.alias(f"{name}_adjoint", name, options={"adjoint": True})  # deprecated: one release
    for name, (cls, summary) in _SCIPY.items():
        registry.add(name, f"dyncore_solvers.scipy_backend:{cls}", summary=summary)
    registry.add(
        "etdrk4",
        "dyncore_solvers.etdrk4:ETDRK4",
        summary="exponential time-differencing RK4 for semilinear (stiff PDE) systems, differentiable",
    )
