"""The ``esn`` model: a ReservoirPy echo state network (reservoir and ridge readout) as a dyncore trajectory model.

ReservoirPy draws the reservoir (``Reservoir``: sparse recurrent weights scaled to the spectral
radius, sparse input weights) and solves the readout (``Ridge``); the same update,

    r[i] = (1 - leak) r[i-1] + leak tanh(W r[i-1] + W_in u[i] + bias),    u[i+1] = [r[i], u[i]] W_out + b_out,

runs in torch so that rollouts are differentiable (dyncore measures a trajectory model's Lyapunov
exponents through ``rollout``) and the weights are tensors in ``weights.pt``: a run is saved
without pickles. States ``u`` are normalised (mean and scale fitted on the training data, buffers).
Like the RNN, the model learns a map on its training step and runs only on that step.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

import dyncore
from dyncore import ConfigError, DataError, Trajectory

#: Relative tolerance when comparing time steps with the training step.
STEP_RTOL = 1e-6
#: Connectivity of the recurrent and input weights (ReservoirPy's defaults).
CONNECTIVITY = 0.1


def _number(name: str, value: Any, *, integer: bool = False, minimum: float = 0.0, strict: bool = True) -> None:
    kind = int if integer else (int, float)
    ok = isinstance(value, kind) and not isinstance(value, bool) and math.isfinite(value) and (value > minimum if strict else value >= minimum)
    if not ok:
        sign = ">" if strict else ">="
        raise ConfigError(f"model 'esn': {name} must be {'an integer' if integer else 'a number'} {sign} {minimum:g}, got {value!r}")


class EchoStateNetwork(dyncore.Model):
    """Echo state network: a fixed random ReservoirPy reservoir, a ridge-regression readout; learns the trajectory.

    Hyperparameters:
        reservoir (200): reservoir units.
        spectral_radius (0.9): of the recurrent weights.
        leak (1.0): leaking rate in (0, 1].
        input_scaling (0.5): of the input weights (the states are normalised).
        ridge (1e-6): the readout's ridge penalty.
        washout (20): states fed to the reservoir before it predicts (the rollout context); the
            Lyapunov measurement re-reads it at every step, so its cost grows with washout * reservoir^2.

    Trained by ``closed_form``: one ridge solve for the one-step readout (see
    :meth:`fit_closed_form`). ``loss`` (the ``lookahead``-step free-run error from teacher-forced
    reservoir states) lets gradient trainers refine the readout too.
    """

    name = "esn"
    default_trainer = "closed_form"
    default_hparams = {"reservoir": 200, "spectral_radius": 0.9, "leak": 1.0, "input_scaling": 0.5, "ridge": 1e-6, "washout": 20}

    def __init__(self, **hparams: Any) -> None:
        super().__init__(**hparams)
        hp = self.hparams
        _number("reservoir", hp["reservoir"], integer=True)
        _number("washout", hp["washout"], integer=True)
        _number("spectral_radius", hp["spectral_radius"])
        _number("input_scaling", hp["input_scaling"])
        _number("ridge", hp["ridge"], strict=False)
        _number("leak", hp["leak"])
        if hp["leak"] > 1:
            raise ConfigError(f"model 'esn': leak must be in (0, 1], got {hp['leak']!r}")
        self.nfe = 0

    @property
    def context_length(self) -> int:
        return int(self.hparams["washout"])

    @property
    def sampling_step(self) -> float | None:
        """The training data's step (the ``dt`` buffer), the only step this model runs on; ``None`` before training."""
        if self.dim is None or float(self.dt) <= 0:
            return None
        return float(self.dt)

    def prepare(self, trajectory: Trajectory | None = None, dim: int | None = None) -> None:
        """Draw the reservoir with ReservoirPy (seeded from torch's generator); fit normalisation and step on ``trajectory``."""
        from reservoirpy.nodes import Reservoir

        if trajectory is not None:
            dim = trajectory.dim
        if dim is None:
            raise ConfigError("model 'esn': prepare() needs a trajectory or a dimension")
        self.dim = int(dim)
        hp = self.hparams
        seed = int(torch.randint(0, 2**31 - 1, (1,)))  # from torch's global generator, which the trainer seeds
        reservoir = Reservoir(units=hp["reservoir"], sr=hp["spectral_radius"], lr=hp["leak"], input_scaling=hp["input_scaling"],
                              rc_connectivity=CONNECTIVITY, input_connectivity=CONNECTIVITY, input_dim=self.dim, seed=seed)
        reservoir.initialize(np.zeros((1, self.dim)))
        dense = lambda a: np.asarray(a.toarray() if hasattr(a, "toarray") else a, dtype=np.float64)  # noqa: E731
        self.register_buffer("W", torch.as_tensor(dense(reservoir.W)))
        self.register_buffer("W_in", torch.as_tensor(dense(reservoir.Win)))
        self.register_buffer("bias", torch.as_tensor(np.broadcast_to(dense(reservoir.bias), (hp["reservoir"],)).copy()))
        self.readout = nn.Parameter(torch.zeros(hp["reservoir"] + self.dim, self.dim, dtype=torch.float64))
        self.readout_bias = nn.Parameter(torch.zeros(self.dim, dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(self.dim, dtype=torch.float64))
        self.register_buffer("scale", torch.ones(self.dim, dtype=torch.float64))
        self.register_buffer("dt", torch.tensor(0.0, dtype=torch.float64))  # 0: not trained on data yet
        if trajectory is not None:
            x = (trajectory.x if trajectory.batched else trajectory.x[:, None]).reshape(-1, self.dim)
            self.mean.copy_(torch.as_tensor(x.mean(0)))
            self.scale.copy_(torch.as_tensor(np.where(x.std(0) > 0, x.std(0), 1.0)))
            if trajectory.n > 1:
                self.dt.fill_(float(np.median(np.diff(trajectory.t))))

    # -- the network -----------------------------------------------------------------------
    def update(self, r: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """ReservoirPy's reservoir update: the state after reading normalised input ``u``; ``(batch, units)``."""
        leak = float(self.hparams["leak"])
        new = torch.tanh(r @ self.W.T + u @ self.W_in.T + self.bias)
        return new if leak == 1.0 else (1 - leak) * r + leak * new

    def readout_of(self, r: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """The next normalised state from the reservoir state and the current input."""
        self.nfe += 1
        return torch.cat([r, u], dim=-1) @ self.readout + self.readout_bias

    def _teacher_forced(self, u: torch.Tensor) -> torch.Tensor:
        """Reservoir states ``(n, batch, units)`` after reading each of the normalised states ``u`` ``(n, batch, dim)``."""
        r = torch.zeros(u.shape[1], self.W.shape[0], dtype=u.dtype, device=u.device)
        states = []
        for i in range(len(u)):
            r = self.update(r, u[i])
            states.append(r)
        return torch.stack(states)

    # -- training --------------------------------------------------------------------------
    def examples(self, trajectory: Trajectory, lookahead: int = 1) -> dict[str, torch.Tensor]:
        """Teacher-forced reservoir states after the washout, with the current and the next ``lookahead`` states.

        Returns:
            ``r`` (m, units), ``u`` (m, dim) and ``target`` (m, lookahead, dim), normalised; members stacked.
        Raises:
            DataError: a wrong dimension, too few points, or a step other than the model's.
        """
        self._require_built()
        k = int(lookahead)
        w = self.context_length
        if trajectory.dim != self.dim:
            raise DataError(f"model 'esn' was built for dimension {self.dim}, the data have dimension {trajectory.dim}")
        if trajectory.n < w + k:
            raise DataError(f"model 'esn' needs at least {w + k} points (washout {w} and lookahead {k}), got {trajectory.n}")
        self._check_step(np.diff(trajectory.t), "the data")
        x = torch.as_tensor(trajectory.x if trajectory.batched else trajectory.x[:, None], dtype=torch.float64, device=self.device)
        u = (x - self.mean) / self.scale
        with torch.no_grad():
            r = self._teacher_forced(u)
        n, batch = u.shape[:2]
        m = n - w - k + 1
        idx = torch.arange(w - 1, w - 1 + m, device=u.device)
        target = torch.stack([u[idx + 1 + j] for j in range(k)], dim=1)  # (m, k, batch, dim)
        return {
            "r": r[idx].transpose(0, 1).reshape(m * batch, -1),
            "u": u[idx].transpose(0, 1).reshape(m * batch, self.dim),
            "target": target.permute(2, 0, 1, 3).reshape(m * batch, k, self.dim),
        }

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean squared error of ``lookahead`` free-run predictions from the teacher-forced states (normalised units)."""
        r, u, target = batch["r"], batch["u"], batch["target"]
        preds = []
        for j in range(target.shape[1]):
            u = self.readout_of(r, u)
            preds.append(u)
            if j < target.shape[1] - 1:
                r = self.update(r, u)
        return ((torch.stack(preds, dim=1) - target) ** 2).mean()

    def fit_closed_form(self, examples: dict[str, torch.Tensor]) -> torch.Tensor:
        """Solve the one-step readout with ReservoirPy's ``Ridge`` in one call; returns the loss."""
        from reservoirpy.nodes import Ridge

        features = torch.cat([examples["r"], examples["u"]], dim=-1).cpu().numpy()
        target = examples["target"][:, 0].cpu().numpy()
        ridge = Ridge(ridge=float(self.hparams["ridge"]))
        ridge.fit(features, target)
        self.readout.copy_(torch.as_tensor(np.asarray(ridge.Wout, dtype=np.float64)))
        self.readout_bias.copy_(torch.as_tensor(np.asarray(ridge.bias, dtype=np.float64).reshape(-1)))
        return self.loss(examples)

    # -- prediction ------------------------------------------------------------------------
    def rollout(self, context: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Read the ``washout`` context states, then run free: each prediction is the next input.

        Args:
            context: ``(washout, [batch,] dim)`` at ``t[:washout]``.
            t: output times ``(n,)``, uniformly spaced by the training step.
        Returns:
            ``(n, [batch,] dim)`` in the context's dtype; the first ``washout`` rows are ``context``.
        """
        self._require_built()
        w = self.context_length
        context = torch.as_tensor(context)
        batched = context.dim() == 3
        if context.dim() not in (2, 3) or context.shape[0] != w or context.shape[-1] != self.dim:
            raise ConfigError(f"model 'esn' needs a context of {w} states, shape ({w}, [batch,] {self.dim}); got {tuple(context.shape)}")
        times = np.asarray(t.detach().cpu() if isinstance(t, torch.Tensor) else t, dtype=np.float64).reshape(-1)
        if len(times) < w:
            raise ConfigError(f"rollout needs at least {w} output times (the context), got {len(times)}")
        if float(self.dt) <= 0:
            raise ConfigError("model 'esn' has no training step yet: train it before rolling it out")
        self._check_step(np.diff(times), "the rollout grid")
        ctx = (context if batched else context[:, None]).to(self.device)
        u_ctx = (ctx.to(torch.float64) - self.mean) / self.scale
        r = self._teacher_forced(u_ctx)[-1]
        u = u_ctx[-1]
        preds = []
        for j in range(len(times) - w):
            u = self.readout_of(r, u)
            preds.append(u)
            if j < len(times) - w - 1:
                r = self.update(r, u)
        out = torch.cat([ctx, (torch.stack(preds) * self.scale + self.mean).to(ctx.dtype)]) if preds else ctx
        return out if batched else out[:, 0]

    def _require_built(self) -> None:
        if self.dim is None:
            raise ConfigError("model 'esn' is not built yet: train it or call prepare() first")

    def _check_step(self, steps: np.ndarray, what: str) -> None:
        if len(steps) == 0:
            return
        h = float(np.median(steps))
        if np.max(np.abs(steps - h)) > STEP_RTOL * abs(h):
            raise DataError(f"{what} are not uniformly sampled (steps from {steps.min():g} to {steps.max():g}); the esn model needs a uniform grid")
        dt = float(self.dt)
        if dt > 0 and abs(h - dt) > STEP_RTOL * dt:
            raise DataError(f"{what} step by dt = {h:g} but the esn model was trained with dt = {dt:g} and runs only on that step; use dt = {dt:g}")
