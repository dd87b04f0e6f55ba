"""The windowed RNN: learns the trajectory, a window of past states in, the next state out."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dyncore.errors import ConfigError, DataError
from dyncore.model import Model
from dyncore.trajectory import Trajectory
from dyncore_models.common import as_tensor, check_data, choice, dtype_of, lookahead_value, positive_int, states_3d
from dyncore_models.normalization import Normalizer

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
#: Relative tolerance when comparing time steps (data grid, rollout grid) with the training step.
STEP_RTOL = 1e-6


class WindowRNN(Model):
    """Windowed RNN: a window of past states in, the next state out; runs only on its training step.

    Hyperparameters:
        window (3): states per input window (also the rollout context).
        hidden (128), layers (2), cell (``rnn``; also ``lstm``, ``gru``), nonlinearity (``relu`` or
            ``tanh``, for the plain ``rnn`` cell): with the defaults this is the reference's
            nn.RNN + Linear network, 50,435 parameters for a 3-dimensional system.
        normalize (True): learn in normalised states (fitted on the training data, saved with the weights).
        dtype (``float32``).

    The network has no notion of time: it learns the map from a window to the next sample, so it
    needs uniformly sampled data, and :meth:`rollout` refuses a grid whose step differs from the
    training step (stored in the ``dt`` buffer).
    """

    name = "rnn"
    default_hparams = {
        "window": 3,
        "hidden": 128,
        "layers": 2,
        "cell": "rnn",
        "nonlinearity": "relu",
        "normalize": True,
        "dtype": "float32",
    }

    def __init__(self, **hparams: Any) -> None:
        super().__init__(**hparams)
        hp = self.hparams
        for key in ("window", "hidden", "layers"):
            positive_int(self.name, key, hp[key])
        choice(self.name, "cell", hp["cell"], tuple(CELLS))
        choice(self.name, "nonlinearity", hp["nonlinearity"], ("relu", "tanh"))
        self._build_dtype = dtype_of(self.name, hp["dtype"])

    @property
    def sampling_step(self) -> float | None:
        """The training data's step (the ``dt`` buffer), the only step this model runs on; ``None`` before training."""
        if self.dim is None or float(self.dt) <= 0:
            return None
        return float(self.dt)

    @property
    def _dtype(self) -> torch.dtype:
        """The dtype computations run in: the weights' (``.double()`` on a built model changes it)."""
        return self.norm.mean.dtype if self.dim is not None else self._build_dtype

    @property
    def context_length(self) -> int:
        return int(self.hparams["window"])

    def prepare(self, trajectory: Trajectory | None = None, dim: int | None = None) -> None:
        """Build the network for ``dim`` (or the data's); fit normalisation and time step on ``trajectory``."""
        if trajectory is not None:
            check_data(self.name, trajectory, None, 1, "one state")
            dim = trajectory.dim
        if dim is None:
            raise ConfigError("model 'rnn': prepare() needs a trajectory or a dimension")
        hp = self.hparams
        self.dim = positive_int(self.name, "dim", dim)
        extra = {"nonlinearity": hp["nonlinearity"]} if hp["cell"] == "rnn" else {}
        self.cell = CELLS[hp["cell"]](self.dim, hp["hidden"], hp["layers"], batch_first=True, dtype=self._build_dtype, **extra)
        self.head = nn.Linear(hp["hidden"], self.dim, dtype=self._build_dtype)
        self.norm = Normalizer(self.dim, self._build_dtype)
        self.register_buffer("dt", torch.tensor(0.0, dtype=torch.float64))  # 0: not trained on data yet
        if trajectory is not None:
            if hp["normalize"]:
                self.norm.fit(states_3d(trajectory))
            if trajectory.n > 1:
                self.dt.fill_(float(np.median(np.diff(trajectory.t))))

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """Next normalised state ``(m, dim)`` from normalised windows ``(m, window, dim)``."""
        self.nfe += 1
        out, _ = self.cell(windows)
        return self.head(out[:, -1])

    # -- training --------------------------------------------------------------------------
    def examples(self, trajectory: Trajectory, lookahead: int = 1) -> dict[str, torch.Tensor]:
        """Cut the data into (window -> next ``lookahead`` states) pairs.

        Returns:
            ``window`` (m, window, dim) and ``target`` (m, lookahead, dim), normalised;
            m = (n - window - lookahead + 1) * members.
        Raises:
            DataError: non-uniform time steps, a step other than the model's, too few points.
        """
        k = lookahead_value(lookahead)
        self._require_built()
        w = self.context_length
        check_data(self.name, trajectory, self.dim, w + k, f"a window of {w} and lookahead {k}")
        self._check_step(np.diff(trajectory.t), "the data")
        z = states_3d(trajectory)
        z = (z - self.norm.mean.double().cpu().numpy()) / self.norm.scale.double().cpu().numpy()
        n, batch, dim = z.shape
        m = n - w - k + 1
        windows = np.stack([z[i : i + m] for i in range(w)], axis=1)  # (m, w, batch, dim)
        target = np.stack([z[w + j : w + j + m] for j in range(k)], axis=1)  # (m, k, batch, dim)
        device = self.device
        return {
            "window": as_tensor(windows.transpose(0, 2, 1, 3).reshape(m * batch, w, dim), self._dtype, device),
            "target": as_tensor(target.transpose(0, 2, 1, 3).reshape(m * batch, k, dim), self._dtype, device),
        }

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean squared error of ``lookahead`` autoregressive predictions, in normalised units."""
        window, target = batch["window"], batch["target"]
        k = target.shape[1]
        if k == 1:
            return F.mse_loss(self(window), target[:, 0])
        preds = []
        for j in range(k):
            pred = self(window)
            preds.append(pred)
            if j < k - 1:
                window = torch.cat([window[:, 1:], pred[:, None]], dim=1)
        return F.mse_loss(torch.stack(preds, dim=1), target)

    # -- prediction ------------------------------------------------------------------------
    def rollout(self, context: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Autoregressive free run: each prediction joins the window that makes the next one.

        Args:
            context: the first ``window`` states, ``(window, [batch,] dim)``, at ``t[:window]``.
            t: output times ``(n,)``, uniformly spaced by the training step.
        Returns:
            ``(n, [batch,] dim)`` in the dtype of ``context``; the first ``window`` rows are ``context``.
        Raises:
            DataError: ``t`` is not uniform or its step differs from the training step.
        """
        self._require_built()
        w = self.context_length
        context = context if isinstance(context, torch.Tensor) else torch.as_tensor(np.asarray(context, dtype=np.float64))
        context = context.to(self.device)
        batched = context.dim() == 3
        if context.dim() not in (2, 3) or context.shape[0] != w or context.shape[-1] != self.dim:
            raise ConfigError(f"model 'rnn' needs a context of {w} states, shape ({w}, [batch,] {self.dim}); got {tuple(context.shape)}")
        t = np.asarray(t.detach().cpu() if isinstance(t, torch.Tensor) else t, dtype=np.float64).reshape(-1)
        if len(t) < w:
            raise ConfigError(f"rollout needs at least {w} output times (the context), got {len(t)}")
        if float(self.dt) <= 0:
            raise ConfigError("model 'rnn' has no training step yet: train it before rolling it out")
        self._check_step(np.diff(t), "the rollout grid")
        ctx = context if batched else context[:, None]
        window = self.norm.encode(ctx.to(self._dtype)).transpose(0, 1)  # (batch, w, dim)
        preds = []
        for _ in range(len(t) - w):
            nxt = self(window)
            preds.append(nxt)
            window = torch.cat([window[:, 1:], nxt[:, None]], dim=1)
        if preds:
            x = self.norm.decode(torch.stack(preds)).to(context.dtype)  # (n - w, batch, dim)
            out = torch.cat([ctx, x], dim=0)
        else:
            out = ctx
        return out if batched else out[:, 0]

    def _require_built(self) -> None:
        if self.dim is None:
            raise ConfigError("model 'rnn' is not built yet: train it or call prepare() first")

    def _check_step(self, steps: np.ndarray, what: str) -> None:
        if len(steps) == 0:
            return
        h = float(np.median(steps))
        if np.max(np.abs(steps - h)) > STEP_RTOL * abs(h):
            raise DataError(
                f"{what} are not uniformly sampled (steps from {steps.min():g} to {steps.max():g}); the rnn model "
                "needs a uniform grid: resample, or use the node model"
            )
        dt = float(self.dt)
        if dt > 0 and abs(h - dt) > STEP_RTOL * dt:
            raise DataError(
                f"{what} step by dt = {h:g} but the rnn model was trained with dt = {dt:g} and runs only on that step; use dt = {dt:g}"
            )
