"""Lorenz-63, the classic chaotic attractor."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from dyncore.system import System

#: Lyapunov exponents and dimensions at the classic parameters (10, 28, 8/3), from the literature.
CLASSIC_REFERENCE = {
    "lyapunov_exponents": [0.906, 0.0, -14.572],
    "lyapunov_time": 1.0 / 0.906,
    "kaplan_yorke_dimension": 2.06,
    "correlation_dimension": 2.05,
}


class Lorenz(System):
    """Lorenz-63: a chaotic convection model with a butterfly-shaped strange attractor.

    Equations::

        x' = sigma (y - x)
        y' = x (rho - z) - y
        z' = x y - beta z

    Defaults ``sigma = 10``, ``rho = 28``, ``beta = 8/3`` (exactly), ``x0 = (-8, 7, 27)`` and
    ``t = linspace(0, 10, 1000)`` (about 9 Lyapunov times) reproduce the reference experiment.
    At those parameters :meth:`reference` gives the Lyapunov exponents (0.906, 0, -14.572).
    """

    name = "lorenz"
    default_params: ClassVar[dict[str, Any]] = {"sigma": 10.0, "rho": 28.0, "beta": 8.0 / 3.0}
    default_solver: ClassVar[str] = "dop853"
    dim = 3

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._constants = (float(self.params["sigma"]), float(self.params["rho"]), float(self.params["beta"]))

    def vector_field(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The Lorenz field for states of shape ``(..., 3)``; same shape, dtype and device."""
        p = self.params
        u, v, w = x.unbind(-1)
        return torch.stack([p["sigma"] * (v - u), u * (p["rho"] - w) - v, u * v - p["beta"] * w], dim=-1)

    def numpy_vector_field(self, t: float, x: np.ndarray) -> np.ndarray:
        """The same field on numpy arrays ``(..., 3)``: the fast path of the SciPy backend."""
        sigma, rho, beta = self._constants
        if x.ndim == 1:  # one state: scalars and a small array are several times faster than stack
            u, v, w = x.tolist()
            return np.array([sigma * (v - u), u * (rho - w) - v, u * v - beta * w])
        u, v, w = x[..., 0], x[..., 1], x[..., 2]
        return np.stack([sigma * (v - u), u * (rho - w) - v, u * v - beta * w], axis=-1)

    def jacobian(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Analytic Jacobian, shape ``(..., 3, 3)``."""
        p = self.params
        u, v, w = x.unbind(-1)
        zero, one = torch.zeros_like(u), torch.ones_like(u)
        rows = [
            torch.stack([-p["sigma"] * one, p["sigma"] * one, zero], dim=-1),
            torch.stack([p["rho"] - w, -one, -u], dim=-1),
            torch.stack([v, u, -p["beta"] * one], dim=-1),
        ]
        return torch.stack(rows, dim=-2)

    def default_x0(self) -> torch.Tensor:
        return torch.tensor([-8.0, 7.0, 27.0], dtype=torch.float64)

    def default_times(self) -> torch.Tensor:
        return torch.linspace(0.0, 10.0, 1000, dtype=torch.float64)

    def random_x0(self, batch: int, seed: int) -> torch.Tensor:
        """``batch`` seeded initial states in the attractor's box ``[-20, 20]^2 x [0, 50]``, shape ``(batch, 3)``."""
        rng = np.random.default_rng(seed)
        low, high = np.array([-20.0, -20.0, 0.0]), np.array([20.0, 20.0, 50.0])
        return torch.from_numpy(rng.uniform(low, high, size=(batch, 3)))

    def reference(self) -> dict[str, Any]:
        """Known invariants at the classic parameters; empty at any other parameters."""
        return dict(CLASSIC_REFERENCE) if self.params == self.default_params else {}
