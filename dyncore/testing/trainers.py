"""Conformance checks for trainers: one behaviour each, on :class:`LinearStepModel`, a tiny known problem.

A trainer must accept the options ``epochs`` and ``seed``; the checks set ``epochs`` small (and
``progress`` off where the trainer has it).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from dyncore.errors import ConfigError, TrainingDiverged
from dyncore.model import Model
from dyncore.trainer import Callback, History, Trainer
from dyncore.trajectory import Trajectory

EPOCHS = 12


class LinearStepModel(Model):
    """``x_{k+1} = x_k + A x_k``: a 2x2 matrix learned from consecutive states (a model in four numbers).

    ``nan_after`` > 0 makes the loss NaN from that call on (for the NaN-guard check).
    """

    name: ClassVar[str] = "linear_step_test_model"
    default_hparams: ClassVar[dict[str, Any]] = {"nan_after": 0}

    def __init__(self, **hparams: Any) -> None:
        super().__init__(**hparams)
        self.calls = 0
        self.lookaheads: list[int] = []

    @property
    def context_length(self) -> int:
        return 1

    def prepare(self, trajectory: Trajectory | None = None, dim: int | None = None) -> None:
        self.dim = trajectory.dim if trajectory is not None else dim
        self.step = nn.Linear(self.dim, self.dim, bias=False, dtype=torch.float64)

    def examples(self, trajectory: Trajectory, lookahead: int = 1) -> dict[str, torch.Tensor]:
        self.lookaheads.append(lookahead)
        x = torch.as_tensor(trajectory.x, device=self.device)
        return {"x0": x[:-lookahead], "target": torch.stack([x[j + 1 : len(x) - lookahead + j + 1] for j in range(lookahead)], 1)}

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        self.calls += 1
        x, preds = batch["x0"], []
        for _ in range(batch["target"].shape[1]):
            x = x + self.step(x)
            preds.append(x)
        loss = ((torch.stack(preds, 1) - batch["target"]) ** 2).mean()
        if self.hparams["nan_after"] and self.calls >= self.hparams["nan_after"]:
            loss = loss * float("nan")
        return loss

    def rollout(self, context: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = [context[0]]
        for _ in range(len(t) - 1):
            out.append(out[-1] + self.step(out[-1].to(torch.float64)).to(context.dtype))
        return torch.stack(out)


def rotation_data(n: int = 60) -> Trajectory:
    """A slowly decaying rotation sampled every 0.1: exactly linear steps."""
    t = np.arange(n) * 0.1
    return Trajectory(t, np.exp(-0.05 * t)[:, None] * np.stack([np.cos(t), np.sin(t)], axis=-1))


def _with(trainer: Trainer, **options: Any) -> Trainer:
    known = {k: v for k, v in options.items() if k in trainer.default_options}
    if "progress" in trainer.default_options:
        known.setdefault("progress", False)
    return type(trainer)(**{**trainer.options, **known})


def _model(seed: int = 0, **hparams: Any) -> LinearStepModel:
    model = LinearStepModel(**hparams)
    torch.manual_seed(seed)
    model.prepare(rotation_data())
    return model


def check_unknown_option_is_config_error(trainer: Trainer) -> None:
    """An unknown option is a one-line ConfigError naming it."""
    try:
        type(trainer)(**trainer.options, no_such_option=1)
    except ConfigError as exc:
        assert "no_such_option" in str(exc) and "\n" not in str(exc), repr(str(exc))
    else:
        raise AssertionError(f"{trainer.name} accepted an unknown option")


def check_fit_returns_history(trainer: Trainer) -> None:
    """``fit`` returns one History row per epoch: finite losses, positive lr, growing wall time."""
    history = _with(trainer, epochs=EPOCHS).fit(_model(), rotation_data())
    assert isinstance(history, History) and len(history) == EPOCHS, len(history)
    assert history.epoch == list(range(1, EPOCHS + 1)), history.epoch
    assert all(math.isfinite(v) for v in history.loss) and all(v > 0 for v in history.lr)
    assert all(b >= a for a, b in zip(history.wall_time, history.wall_time[1:])), "wall time goes backwards"
    assert len(history.nfe) == EPOCHS


def check_loss_decreases(trainer: Trainer) -> None:
    """Training lowers the loss on a problem an exact solution exists for."""
    history = _with(trainer, epochs=EPOCHS).fit(_model(), rotation_data())
    assert history.loss[-1] < history.loss[0], history.loss


def check_same_seed_same_history(trainer: Trainer) -> None:
    """Two runs with the same seed give the same loss history, bit for bit (on CPU)."""
    a = _with(trainer, epochs=EPOCHS, seed=5).fit(_model(), rotation_data())
    b = _with(trainer, epochs=EPOCHS, seed=5).fit(_model(), rotation_data())
    assert a.loss == b.loss, f"{a.loss} != {b.loss}"


def check_lookahead_reaches_examples(trainer: Trainer) -> None:
    """The ``lookahead`` option is what the model is asked to cut its examples with."""
    if "lookahead" not in trainer.default_options:
        return
    model = _model()
    _with(trainer, epochs=2, lookahead=3).fit(model, rotation_data())
    assert model.lookaheads == [3], model.lookaheads


def check_callbacks_called_and_can_stop(trainer: Trainer) -> None:
    """Callbacks see begin, every epoch and end; returning True from ``on_epoch_end`` stops training."""
    calls: list[str] = []

    class Recorder(Callback):
        def on_train_begin(self, trainer, model, state):
            calls.append("begin")

        def on_epoch_end(self, trainer, model, state):
            calls.append("epoch")
            return calls.count("epoch") == 3

        def on_train_end(self, trainer, model, state):
            calls.append("end")

    history = _with(trainer, epochs=EPOCHS).fit(_model(), rotation_data(), callbacks=[Recorder()])
    assert calls == ["begin", "epoch", "epoch", "epoch", "end"], calls
    assert len(history) == 3, len(history)


def check_nan_guard(trainer: Trainer) -> None:
    """A NaN loss raises a one-line TrainingDiverged naming the epoch; the model keeps finite weights."""
    model = _model(nan_after=4)
    try:
        _with(trainer, epochs=EPOCHS).fit(model, rotation_data())
    except TrainingDiverged as exc:
        assert "epoch" in str(exc) and "\n" not in str(exc), repr(str(exc))
    else:
        raise AssertionError(f"{trainer.name} trained through a NaN loss")
    assert all(torch.isfinite(p).all() for p in model.parameters()), "the model was left with non-finite weights"


CHECKS = [
    check_unknown_option_is_config_error,
    check_fit_returns_history,
    check_loss_decreases,
    check_same_seed_same_history,
    check_lookahead_reaches_examples,
    check_callbacks_called_and_can_stop,
    check_nan_guard,
]
#: Checks that need a declared capability (none here: every check applies to every component of this kind).
REQUIRES: dict = {}
