"""The cubic spiral of the reference Neural-ODE demo: ``x' = W x**3``."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from dyncore.errors import ConfigError
from dyncore.system import System


class Spiral(System):
    """Cubic spiral ``x' = W x**3`` (element-wise cube), a slowly decaying 2-D rotation.

    Equations: ``dx/dt = W (x ** 3)`` with ``W = [[-0.1, -2.0], [2.0, -0.1]]``. The origin is
    non-hyperbolic (its Jacobian is zero), so trajectories decay algebraically, not exponentially:
    from ``x0 = (2, 0)`` they make about 4.4 turns over ``t in [0, 25]``.

    Parameters:
        W: the 2x2 matrix, a nested list (or anything ``numpy.asarray`` turns into shape (2, 2)).
    """

    name = "spiral"
    default_params: ClassVar[dict[str, Any]] = {"W": [[-0.1, -2.0], [2.0, -0.1]]}
    default_solver: ClassVar[str] = "dop853"
    dim = 2

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        W = np.asarray(self.params["W"], dtype=np.float64)
        if W.shape != (2, 2) or not np.all(np.isfinite(W)):
            raise ConfigError(f"spiral parameter W must be a finite 2x2 matrix, e.g. [[-0.1,-2],[2,-0.1]]; got shape {W.shape}")
        self.params["W"] = W.tolist()
        self._W_np = W
        self._W: dict[tuple[torch.dtype, torch.device], torch.Tensor] = {}

    def _matrix(self, x: torch.Tensor) -> torch.Tensor:
        key = (x.dtype, x.device)
        if key not in self._W:
            self._W[key] = torch.as_tensor(self._W_np, dtype=x.dtype, device=x.device)
        return self._W[key]

    def vector_field(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``W x**3`` for states ``x`` of shape ``(..., 2)``; same shape, dtype and device."""
        return (x**3) @ self._matrix(x).T

    def numpy_vector_field(self, t: float, x: np.ndarray) -> np.ndarray:
        """The vector field on numpy arrays ``(..., 2)``: the fast path of the SciPy backend."""
        return (x**3) @ self._W_np.T

    def jacobian(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``d f_i / d x_j = 3 W_ij x_j**2``, shape ``(..., 2, 2)``."""
        return 3.0 * self._matrix(x) * (x**2).unsqueeze(-2)

    def default_x0(self) -> torch.Tensor:
        return torch.tensor([2.0, 0.0], dtype=torch.float64)

    def default_times(self) -> torch.Tensor:
        return torch.linspace(0.0, 25.0, 1000, dtype=torch.float64)

    def random_x0(self, batch: int, seed: int) -> torch.Tensor:
        """``batch`` seeded initial states on the ring ``1.5 <= |x| <= 2.5``, shape ``(batch, 2)``."""
        rng = np.random.default_rng(seed)
        radius = rng.uniform(1.5, 2.5, batch)
        angle = rng.uniform(0.0, 2 * np.pi, batch)
        return torch.from_numpy(np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1))
