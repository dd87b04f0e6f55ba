"""Small exact models for the metric and evaluation tests: known dynamics behind the Model interface."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from dyncore.model import Model, VectorFieldModel


class LorenzField(VectorFieldModel):
    """A NODE-like model whose vector field is Lorenz with a chosen rho; rollout is RK4 on the output grid."""

    name: ClassVar[str] = "lorenz_field"
    default_hparams: ClassVar[dict[str, Any]] = {"rho": 28.0, "substeps": 4}

    @property
    def context_length(self) -> int:
        return 1

    def prepare(self, trajectory=None, dim=None):
        self.dim = 3

    def examples(self, trajectory, lookahead=1):
        return {"x": torch.as_tensor(trajectory.x)}

    def loss(self, batch):
        return batch["x"].sum() * 0.0

    def vector_field(self, t, x):
        u, v, w = x.unbind(-1)
        return torch.stack([10.0 * (v - u), u * (self.hparams["rho"] - w) - v, u * v - 8.0 / 3.0 * w], dim=-1)

    def rollout(self, context, t):
        x, out = context[-1], [context[-1]]
        for dt in torch.diff(t):
            h = dt / self.hparams["substeps"]
            for _ in range(self.hparams["substeps"]):
                k1 = self.vector_field(t, x)
                k2 = self.vector_field(t, x + h / 2 * k1)
                k3 = self.vector_field(t, x + h / 2 * k2)
                k4 = self.vector_field(t, x + h * k3)
                x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            out.append(x)
        return torch.stack(out)


class HenonWindow(Model):
    """An RNN-like model with a window of 2: x(n+1) = 1 - 1.4 x(n)^2 + 0.3 x(n-1), the Hénon map in delay form."""

    name: ClassVar[str] = "henon_window"

    def __init__(self, **hparams):
        super().__init__(**hparams)
        self.a = torch.nn.Parameter(torch.tensor(1.4))

    @property
    def context_length(self) -> int:
        return 2

    def prepare(self, trajectory=None, dim=None):
        self.dim = 1

    def examples(self, trajectory, lookahead=1):
        return {"x": torch.as_tensor(trajectory.x)}

    def loss(self, batch):
        return batch["x"].sum() * 0.0

    def rollout(self, context, t):
        out = list(context)
        while len(out) < len(t):
            out.append(1.0 - self.a * out[-1] ** 2 + 0.3 * out[-2])
        return torch.stack(out)
