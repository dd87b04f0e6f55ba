"""Butcher tableaus of the explicit fixed-step Runge-Kutta methods a NODE can train with, fused.

The names match the registered torchdiffeq solvers (``rk4`` is torchdiffeq's 3/8-rule variant), so
``solver="rk4"`` means the same integrator whether a NODE trains with the fused step below or a
rollout goes through ``dyncore.solvers``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Tableau:
    """An explicit Runge-Kutta method: stage times ``c``, stage weights ``a`` (lower triangle), weights ``b``."""

    c: tuple[float, ...]
    a: tuple[tuple[float, ...], ...]  # a[i] has i entries: the weights of k_0 .. k_{i-1} in stage i
    b: tuple[float, ...]

    @property
    def stages(self) -> int:
        return len(self.b)


TABLEAUS: dict[str, Tableau] = {
    "euler": Tableau(c=(0.0,), a=((),), b=(1.0,)),
    "midpoint": Tableau(c=(0.0, 0.5), a=((), (0.5,)), b=(0.0, 1.0)),
    "heun2": Tableau(c=(0.0, 1.0), a=((), (1.0,)), b=(0.5, 0.5)),
    "heun3": Tableau(c=(0.0, 1 / 3, 2 / 3), a=((), (1 / 3,), (0.0, 2 / 3)), b=(0.25, 0.0, 0.75)),
    "rk4": Tableau(c=(0.0, 1 / 3, 2 / 3, 1.0), a=((), (1 / 3,), (-1 / 3, 1.0), (1.0, -1.0, 1.0)), b=(0.125, 0.375, 0.375, 0.125)),
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
    Returns:
        The states one step later, shape of ``y``.
    """
    ks: list[torch.Tensor] = []
    for i in range(tableau.stages):
        ks.append(f(t + tableau.c[i] * h, stage_input(y, h, tableau.a[i], ks)))
    return stage_input(y, h, tableau.b, ks)
