"""Sampling grids for stiff data: an implicit solver's own steps, which are short exactly where the motion is fast.

A uniform grid either misses the fast phases of a stiff system (a Van der Pol relaxation
oscillation at mu = 1000 jumps in about 1e-3 time units once every 800) or needs millions of points
per period. :func:`step_grid` returns the times of the accepted steps of an adaptive solver
(``radau`` by default) from each start, merged; :func:`stiff_data` integrates a batch of seeded
random starts onto that grid with the same solver: training data that resolve every jump and cover
the region the starts come from.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.integrate
import torch

import dyncore
from dyncore.errors import ConfigError
from dyncore.system import System
from dyncore.trajectory import Trajectory
from dyncore_solvers.scipy_backend import ScipySolver, numpy_field, numpy_jacobian

#: Grid points closer than this fraction of the span are merged (starts whose steps nearly coincide).
MIN_GAP = 1e-9


def step_grid(system: System, x0: Any, t_end: float, solver: str = "radau", rtol: float = 1e-6, atol: float = 1e-8) -> np.ndarray:
    """The merged step times of ``solver`` integrating ``system`` from each start of ``x0`` over ``[0, t_end]``.

    Args:
        system: the system. x0: starts ``(dim,)`` or ``(batch, dim)``, each integrated on its own.
        t_end: end of the grid (> 0). solver: a SciPy-backed dyncore solver (``radau``, ``bdf``, ...).
        rtol, atol: its tolerances (they set the step density).
    Returns:
        Strictly increasing times from 0 to ``t_end``.
    """
    spec = dyncore.solvers.create(solver)
    if not isinstance(spec, ScipySolver):
        raise ConfigError(f"step_grid needs an adaptive SciPy solver such as 'radau' or 'bdf', got {solver!r}")
    if not t_end > 0:
        raise ConfigError(f"step_grid: t_end must be positive, got {t_end!r}")
    starts = np.atleast_2d(np.asarray(x0, dtype=np.float64))
    shape, device = (system.dim,), torch.device("cpu")
    times = [np.array([0.0, float(t_end)])]
    for start in starts:
        kwargs = {"jac": numpy_jacobian(system, shape, device)} if spec.uses_jacobian else {}
        stepper = getattr(scipy.integrate, spec.method)(numpy_field(system, shape, device), 0.0, start, float(t_end),
                                                         rtol=rtol, atol=atol, **kwargs)
        steps = []
        while stepper.status == "running":
            stepper.step()
            steps.append(stepper.t)
        times.append(np.asarray(steps))
    grid = np.unique(np.concatenate(times))
    keep = np.concatenate([[True], np.diff(grid) > MIN_GAP * float(t_end)])
    grid = grid[keep]
    grid[-1] = float(t_end)
    return grid


def stiff_data(system: str | System, batch: int = 8, seed: int = 0, t_end: float | None = None, periods: float = 1.5,
               solver: str = "radau", rtol: float = 1e-10, atol: float = 1e-10, **params: Any) -> Trajectory:
    """``batch`` seeded random starts integrated by ``solver`` on its own merged step grid (see :func:`step_grid`).

    Args:
        system: a system or its name; ``params`` set its parameters (``mu=1000``).
        batch, seed: the starts, ``system.random_x0(batch, seed)``.
        t_end: length of each trajectory; default ``periods`` times the published period of the
            system's limit cycle.
        solver, rtol, atol: the integration onto the grid (tight: the slow phases of a stiff system
            are small differences of states).
    Returns:
        A batched trajectory ``(n, batch, dim)`` on a non-uniform grid.
    """
    system = dyncore.systems.resolve(system, **params)
    if t_end is None:
        period = system.reference().get("period")
        if not period:
            raise ConfigError(f"stiff_data: system {system.name!r} publishes no period at these parameters; give t_end")
        t_end = periods * float(period)
    x0 = system.random_x0(batch, seed)
    grid = step_grid(system, x0, t_end, solver=solver)
    return system.simulate(x0, grid, solver=solver, rtol=rtol, atol=atol, seed=seed)
