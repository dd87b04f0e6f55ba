"""The Rössler system as a dyncore System."""

from __future__ import annotations

import torch

import dyncore


class Rossler(dyncore.System):
    """Rössler attractor: x' = -y - z, y' = x + a y, z' = b + z (x - c).

    Parameters ``a``, ``b``, ``c`` (defaults 0.2, 0.2, 5.7: the classic chaotic regime, largest
    Lyapunov exponent about 0.071). Default run: x0 = (1, 1, 0), t in [0, 100] with 2000 points.
    """

    name = "rossler"
    default_params = {"a": 0.2, "b": 0.2, "c": 5.7}

    @property
    def dim(self) -> int:
        return 3

    def vector_field(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        a, b, c = self.params["a"], self.params["b"], self.params["c"]
        x_, y, z = x.unbind(-1)
        return torch.stack((-y - z, x_ + a * y, b + z * (x_ - c)), dim=-1)

    def default_x0(self) -> torch.Tensor:
        return torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)

    def default_times(self) -> torch.Tensor:
        return torch.linspace(0.0, 100.0, 2000, dtype=torch.float64)

    def reference(self) -> dict:
        return {"lyapunov_exponents": [0.0714, 0.0, -5.3943]}
