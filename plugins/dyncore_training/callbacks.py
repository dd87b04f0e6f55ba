"""Built-in callbacks: training snapshots, checkpoints, early stopping and a progress bar."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import torch

from dyncore.model import Model
from dyncore.trainer import Callback, Trainer, TrainState


class Snapshots(Callback):
    """Every ``every`` epochs, a free rollout from the data's first states, kept in ``history.snapshots``.

    Uses :meth:`~dyncore.Model.quick_rollout` (for a NODE: fixed steps on the data grid), so 100
    snapshots of a 1000-point trajectory cost far less than one tight-tolerance adaptive solve each.
    """

    def __init__(self, every: int) -> None:
        self.every = every

    def on_train_begin(self, trainer: Trainer, model: Model, state: TrainState) -> None:
        trajectory = state.trajectory
        self.context = torch.as_tensor(trajectory.x[: model.context_length])
        self.t = torch.as_tensor(trajectory.t)

    def on_epoch_end(self, trainer: Trainer, model: Model, state: TrainState) -> bool | None:
        done = state.epoch
        if done % self.every == 0:
            with torch.no_grad():
                x = model.quick_rollout(self.context, self.t)
            state.history.snapshots[done] = x.detach().cpu().float().numpy()
        return None


class Checkpointer(Callback):
    """Writes a resumable checkpoint every ``every`` epochs (0: only at the end) and when training ends.

    Not after a divergence: the last periodic checkpoint, from before the loss blew up, is kept.
    """

    def __init__(self, path: str | Path, every: int) -> None:
        self.path = Path(path)
        self.every = every

    def on_epoch_end(self, trainer: Trainer, model: Model, state: TrainState) -> bool | None:
        if self.every and state.epoch % self.every == 0:
            self.save(trainer, model, state)
        return None

    def on_train_end(self, trainer: Trainer, model: Model, state: TrainState) -> None:
        if state.status != "diverged":
            self.save(trainer, model, state)

    def save(self, trainer: Trainer, model: Model, state: TrainState) -> None:
        trainer.checkpoint(model, state).write(self.path)


class EarlyStopping(Callback):
    """Stops when the loss has not improved by ``min_delta`` (relative) for ``patience`` epochs."""

    def __init__(self, patience: int, min_delta: float = 0.0) -> None:
        self.patience = patience
        self.min_delta = min_delta

    def on_train_begin(self, trainer: Trainer, model: Model, state: TrainState) -> None:
        losses = state.history.loss  # an estimate for a checkpoint written before the state was saved
        self.best = min(losses) if losses else math.inf
        self.wait = 0

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "wait": self.wait}

    def load_state_dict(self, state: TrainState) -> None:
        self.best, self.wait = float(state["best"]), int(state["wait"])

    def on_epoch_end(self, trainer: Trainer, model: Model, state: TrainState) -> bool | None:
        loss = state.history.loss[-1]
        if loss < self.best * (1.0 - self.min_delta):
            self.best, self.wait = loss, 0
            return None
        self.wait += 1
        if self.wait >= self.patience:
            state.history.stopped = (
                f"early stopping after epoch {state.epoch}: no improvement on {self.best:.4g} for {self.patience} epochs"
            )
            return True
        return None


class ProgressBar(Callback):
    """One self-overwriting stderr line: epoch, loss, learning rate, elapsed time (at most 10 updates/s)."""

    def __init__(self, stream: TextIO | None = None, interval: float = 0.1) -> None:
        self.stream = stream or sys.stderr
        self.interval = interval

    def on_train_begin(self, trainer: Trainer, model: Model, state: TrainState) -> None:
        self.last = 0.0
        self.shown = False
        self.width = 0

    def on_epoch_end(self, trainer: Trainer, model: Model, state: TrainState) -> bool | None:
        now = time.perf_counter()
        if now - self.last >= self.interval or state.epoch == state.epochs:
            self.last = now
            self._draw(state)
        return None

    def on_train_end(self, trainer: Trainer, model: Model, state: TrainState) -> None:
        if state.history:
            self._draw(state)
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, state: TrainState) -> None:
        h = state.history
        if not h:
            return
        width = len(str(state.epochs))
        line = f"training: epoch {h.epoch[-1]:>{width}}/{state.epochs}  loss {h.loss[-1]:.4e}  lr {h.lr[-1]:.1e}  {h.wall_time[-1]:.1f} s"
        self.stream.write("\r" + line.ljust(self.width))
        self.width = len(line)
        self.stream.flush()
        self.shown = True
