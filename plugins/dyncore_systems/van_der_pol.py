"""The Van der Pol oscillator: a limit cycle that turns into stiff relaxation oscillations as mu grows."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch

from dyncore.errors import ConfigError
from dyncore.system import System

#: Periods of the limit cycle from the literature, by mu.
KNOWN_PERIODS = {1.0: 6.6633, 10.0: 19.078, 100.0: 162.84, 1000.0: 1614.4}
#: From this mu on the system is flagged stiff and integrated with ``radau`` by default.
STIFF_MU = 100.0


def period_estimate(mu: float) -> float:
    """Approximate limit-cycle period: ``2 pi (1 + mu^2/16)`` for small mu, ``(3 - 2 ln 2) mu + 7.01 mu^(-1/3)`` for large."""
    small = 2 * math.pi * (1 + mu**2 / 16)
    if mu <= 0:
        return 2 * math.pi
    return min(small, (3 - 2 * math.log(2)) * mu + 7.01 * mu ** (-1 / 3))


class VanDerPol(System):
    """Van der Pol oscillator ``x'' - mu (1 - x^2) x' + x = 0`` as a first-order system.

    Equations (state ``(x, v)``)::

        x' = v
        v' = mu (1 - x^2) v - x

    Defaults ``mu = 1``, ``x0 = (2, 0)``; the default grid covers three periods of the limit cycle
    for the chosen mu (1000 points). For ``mu >= 100`` the system is flagged :attr:`stiff` and its
    default solver is ``radau`` (explicit solvers need steps of order 1/mu there). Reference periods:
    6.6633 (mu 1), 19.078 (10), 162.84 (100), 1614.4 (1000).

    Parameters:
        mu: nonlinear damping, a finite number >= 0.
    """

    name = "van_der_pol"
    default_params: ClassVar[dict[str, Any]] = {"mu": 1.0}
    dim = 2

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        mu = self.params["mu"]
        if isinstance(mu, bool) or not isinstance(mu, (int, float)) or not math.isfinite(mu) or mu < 0:
            raise ConfigError(f"van_der_pol parameter mu must be a finite number >= 0, got {mu!r}")

    @property
    def stiff(self) -> bool:  # type: ignore[override]
        """True for ``mu >= 100``: use an implicit solver."""
        return self.params["mu"] >= STIFF_MU

    @property
    def default_solver(self) -> str:
        return "radau" if self.stiff else "dop853"

    def vector_field(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The field for states of shape ``(..., 2)``; same shape, dtype and device."""
        mu = self.params["mu"]
        u, v = x.unbind(-1)
        return torch.stack([v, mu * (1 - u * u) * v - u], dim=-1)

    def numpy_vector_field(self, t: float, x: np.ndarray) -> np.ndarray:
        """The same field on numpy arrays ``(..., 2)``: the fast path of the SciPy backend."""
        mu = float(self.params["mu"])
        if x.ndim == 1:  # one state: scalars and a small array are several times faster than stack
            u, v = x.tolist()
            return np.array([v, mu * (1 - u * u) * v - u])
        u, v = x[..., 0], x[..., 1]
        return np.stack([v, mu * (1 - u * u) * v - u], axis=-1)

    def jacobian(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Analytic Jacobian ``[[0, 1], [-2 mu x v - 1, mu (1 - x^2)]]``, shape ``(..., 2, 2)``."""
        mu = self.params["mu"]
        u, v = x.unbind(-1)
        top = torch.stack([torch.zeros_like(u), torch.ones_like(u)], dim=-1)
        bottom = torch.stack([-2 * mu * u * v - 1, mu * (1 - u * u)], dim=-1)
        return torch.stack([top, bottom], dim=-2)

    def default_x0(self) -> torch.Tensor:
        return torch.tensor([2.0, 0.0], dtype=torch.float64)

    def default_times(self) -> torch.Tensor:
        return torch.linspace(0.0, 3 * period_estimate(self.params["mu"]), 1000, dtype=torch.float64)

    def random_x0(self, batch: int, seed: int) -> torch.Tensor:
        """``batch`` seeded initial states uniform in ``[-3, 3]^2``, shape ``(batch, 2)``."""
        return torch.from_numpy(np.random.default_rng(seed).uniform(-3.0, 3.0, size=(batch, 2)))

    def reference(self) -> dict[str, Any]:
        """The limit-cycle ``period`` when mu is one of the tabulated values."""
        period = KNOWN_PERIODS.get(float(self.params["mu"]))
        return {"period": period} if period else {}
