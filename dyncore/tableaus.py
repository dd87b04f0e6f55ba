"""Explicit Runge-Kutta methods: Butcher tableaus under honest names, a generic step, and the classic RK4 map.

There are two fourth-order four-stage methods in dyncore, and they are not the same integrator:

- :data:`CLASSIC_RK4` (weights 1/6, 1/3, 1/3, 1/6), stepped by :func:`classic_rk4_step`: the map
  the Lyapunov exponents of a vector field are measured on (:mod:`dyncore.metrics`).
- :data:`RK4_THREE_EIGHTHS` (Kutta's 3/8 rule, weights 1/8, 3/8, 3/8, 1/8): what torchdiffeq calls
  ``rk4``, so the registered solver ``rk4`` and a NODE's ``solver="rk4"`` (fused training step) are
  this one. :data:`TABLEAUS` keeps the registered solver names as keys for that reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

#: A map of states ``(batch, *state) -> (batch, *state)``, one step forward.
Step = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Tableau:
    """An explicit Runge-Kutta method: stage times ``c``, stage weights ``a`` (lower triangle), weights ``b``."""

    c: tuple[float, ...]
    a: tuple[tuple[float, ...], ...]  # a[i] has i entries: the weights of k_0 .. k_{i-1} in stage i
    b: tuple[float, ...]

    @property
    def stages(self) -> int:
        return len(self.b)


EULER = Tableau(c=(0.0,), a=((),), b=(1.0,))
MIDPOINT = Tableau(c=(0.0, 0.5), a=((), (0.5,)), b=(0.0, 1.0))
HEUN2 = Tableau(c=(0.0, 1.0), a=((), (1.0,)), b=(0.5, 0.5))
HEUN3 = Tableau(c=(0.0, 1 / 3, 2 / 3), a=((), (1 / 3,), (0.0, 2 / 3)), b=(0.25, 0.0, 0.75))
#: Kutta's 3/8 rule: torchdiffeq's (and so dyncore's registered) ``rk4``.
RK4_THREE_EIGHTHS = Tableau(
    c=(0.0, 1 / 3, 2 / 3, 1.0), a=((), (1 / 3,), (-1 / 3, 1.0), (1.0, -1.0, 1.0)), b=(0.125, 0.375, 0.375, 0.125)
)
#: The classic Runge-Kutta method (1/6, 1/3, 1/3, 1/6).
CLASSIC_RK4 = Tableau(c=(0.0, 0.5, 0.5, 1.0), a=((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)), b=(1 / 6, 1 / 3, 1 / 3, 1 / 6))

#: The fixed-step methods by the name of the registered solver that runs the same method (``rk4``: the 3/8 rule).
TABLEAUS: dict[str, Tableau] = {
    "euler": EULER,
    "midpoint": MIDPOINT,
    "heun2": HEUN2,
    "heun3": HEUN3,
    "rk4": RK4_THREE_EIGHTHS,
}


def stage_input(y: torch.Tensor, h: torch.Tensor, weights: tuple[float, ...], ks: list[torch.Tensor]) -> torch.Tensor:
    """``y + h * sum_j weights[j] * ks[j]`` with the zero weights skipped."""
    acc = None
    for w, k in zip(weights, ks):
        if w == 0.0:
            continue
        term = k * w if w != 1.0 else k
        acc = term if acc is None else acc + term
    return y if acc is None else y + h * acc


def rk_step(
    f: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    t: torch.Tensor,
    y: torch.Tensor,
    h: torch.Tensor,
    tableau: Tableau,
) -> torch.Tensor:
    """One explicit Runge-Kutta step of ``y' = f(t, y)``, differentiable through autograd.

    Args:
        f: vector field, batched over leading dimensions.
        t: start times, broadcastable to ``y[..., :1]`` (a scalar or ``(batch, 1)``).
        y: states, shape ``(batch, dim)``.
        h: step sizes, broadcastable to ``y[..., :1]`` (per sample for irregular data).
        tableau: the method.
    Returns:
        The states one step later, shape of ``y``.
    """
    ks: list[torch.Tensor] = []
    for i in range(tableau.stages):
        ks.append(f(t + tableau.c[i] * h, stage_input(y, h, tableau.a[i], ks)))
    return stage_input(y, h, tableau.b, ks)


def classic_rk4_step(f: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], dt: float) -> Step:
    """The map ``x -> x(t + dt)`` of the autonomous field ``f(t, x)`` by one step of the classic RK4 (:data:`CLASSIC_RK4`)."""

    def step(x: torch.Tensor) -> torch.Tensor:
        t = torch.zeros((), dtype=x.dtype, device=x.device)
        k1 = f(t, x)
        k2 = f(t, x + 0.5 * dt * k1)
        k3 = f(t, x + 0.5 * dt * k2)
        k4 = f(t, x + dt * k3)
        return x + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)

    return step
