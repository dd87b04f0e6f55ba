"""Regularisers of the chaotic-systems trainers: Jacobian matching from the data's own derivatives, input noise.

Jacobian matching (:class:`JacobianPairs`) never uses the true system: the derivatives come from
finite differences of the training data (``numpy.gradient``, second order, any time grid), and
the Jacobian information from pairs of nearby states on *different passes* of the trajectory,
where the data say how the derivative changes across the orbit (the direction one trajectory's
one-step loss sees least). For a pair ``(x_i, x_j)`` with ``d = x_j - x_i`` the model's Jacobian
at the midpoint must map ``d`` to the change of the estimated derivative,
``J((x_i + x_j) / 2) d ~ dx/dt(x_j) - dx/dt(x_i)`` (second-order accurate in ``|d|``), in states
standardised by the data's per-component spread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree

from dyncore.errors import ConfigError
from dyncore.model import Model
from dyncore.trajectory import Trajectory

#: Pairs closer in time than this many steps (same trajectory) are the same pass, not a neighbouring one.
SAME_PASS_STEPS = 25


@dataclass
class JacobianPairs:
    """Midpoints, unit directions and target directional derivatives of neighbour pairs, standardised.

    ``mid`` (p, dim) and ``direction`` (p, dim) in standardised states, ``target`` (p, dim) the
    change of the standardised derivative per unit standardised distance; ``mean``/``scale`` map
    standardised to physical states.
    """

    mid: torch.Tensor
    direction: torch.Tensor
    target: torch.Tensor
    mean: torch.Tensor
    scale: torch.Tensor

    @classmethod
    def from_data(cls, trajectory: Trajectory, neighbours: int, dtype: torch.dtype, device: torch.device) -> JacobianPairs:
        """``neighbours`` nearest states of every state on other passes (at least :data:`SAME_PASS_STEPS` steps away)."""
        x = trajectory.x if trajectory.x.ndim == 3 else trajectory.x[:, None, :]
        n, batch, dim = x.shape
        dxdt = np.gradient(x, trajectory.t, axis=0, edge_order=2)
        mean, scale = x.reshape(-1, dim).mean(axis=0), x.reshape(-1, dim).std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        z, dz = ((x - mean) / scale).transpose(1, 0, 2).reshape(-1, dim), (dxdt / scale).transpose(1, 0, 2).reshape(-1, dim)
        member, step = np.repeat(np.arange(batch), n), np.tile(np.arange(n), batch)
        k = min(len(z) - 1, neighbours + 2 * SAME_PASS_STEPS + 1)
        _, index = cKDTree(z).query(z, k=k + 1)
        i, j = [], []
        for a in range(len(z)):
            others = [b for b in index[a, 1:] if member[b] != member[a] or abs(step[b] - step[a]) >= SAME_PASS_STEPS]
            i += [a] * len(others[:neighbours])
            j += others[:neighbours]
        if not i:
            raise ConfigError("jacobian matching found no neighbouring passes in the data (a trajectory too short to come back "
                              f"near itself {SAME_PASS_STEPS} steps later); set jacobian=0 or train on longer data")
        i, j = np.asarray(i), np.asarray(j)
        d = z[j] - z[i]
        dist = np.linalg.norm(d, axis=1, keepdims=True)
        keep = dist[:, 0] > 0
        as_t = lambda a: torch.as_tensor(a[keep] if a.shape[0] == len(i) else a, dtype=dtype, device=device)  # noqa: E731
        return cls(as_t((z[i] + z[j]) / 2), as_t(d / dist), as_t((dz[j] - dz[i]) / dist),
                   torch.as_tensor(mean, dtype=dtype, device=device), torch.as_tensor(scale, dtype=dtype, device=device))

    def loss(self, model: Model) -> torch.Tensor:
        """Mean squared error of the model's directional derivatives, relative to the targets' mean square."""
        def field(z: torch.Tensor) -> torch.Tensor:
            return model.vector_field(0.0, z * self.scale + self.mean) / self.scale

        _, jvp = torch.func.jvp(field, (self.mid,), (self.direction,))
        return (jvp - self.target).pow(2).mean() / self.target.pow(2).mean()


def check_jacobian_model(model: Model) -> None:
    """Jacobian matching needs a model with a differentiable vector field (a Neural ODE, a hybrid)."""
    if not callable(getattr(model, "vector_field", None)):
        raise ConfigError(f"jacobian matching needs a model with a vector field (node, hybrid); {model.name!r} has none: set jacobian=0")


def with_input_noise(batch: dict[str, torch.Tensor], sigma: float, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """``batch`` with Gaussian noise of std ``sigma`` (model units) on its start states ``x0``, drawn from ``generator``."""
    x0 = batch["x0"]
    noise = torch.randn(x0.shape, generator=generator, dtype=torch.float64).to(dtype=x0.dtype, device=x0.device)
    return {**batch, "x0": x0 + sigma * noise}
