"""One-call training for models with a closed-form fit (ridge regression, sparse regression): no epochs.

Echo state networks (a ridge readout) and SINDy (sequentially thresholded least squares) are fitted
by solving a linear problem once, as their schools do; gradient epochs would only approximate that
solution slowly. The model provides ``fit_closed_form(examples) -> loss`` and names this trainer as
its ``default_trainer``; the run records one History row, so ``dyncore train``, ``Run.save`` and
``evaluate`` treat it like any other run.
"""

from __future__ import annotations

import math
import time
from typing import Any, ClassVar

import torch

from dyncore.errors import ConfigError, TrainingDiverged
from dyncore.model import Model
from dyncore.trainer import Callback, History, Trainer, TrainState
from dyncore.trajectory import Trajectory
from dyncore_training.loop import _check_int, prepare_seeded


class ClosedForm(Trainer):
    """One call of the model's own closed-form fit (ridge, sparse regression): no gradient epochs.

    Options:
        lookahead (1): passed to ``model.examples``.
        seed (0): seeds ``prepare`` (a reservoir's random weights).
        device ("cpu").
        progress (None): accepted for symmetry with the gradient trainers; there is nothing to show.
    """

    name = "closed_form"
    default_options: ClassVar[dict[str, Any]] = {"lookahead": 1, "seed": 0, "device": "cpu", "progress": None}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        _check_int(self.name, "lookahead", self.options["lookahead"], minimum=1)
        _check_int(self.name, "seed", self.options["seed"], minimum=0)

    def fit(self, model: Model, trajectory: Trajectory, callbacks: list[Callback] | tuple = ()) -> History:
        """Prepare ``model`` under ``seed``, cut its examples and solve its fit once; see :meth:`dyncore.Trainer.fit`.

        Raises:
            ConfigError: the model has no ``fit_closed_form`` (train it with ``full_batch``).
            TrainingDiverged: the fit's loss is NaN/Inf; the model keeps its weights from before the fit.
        """
        solve = model.fit_closed_form
        if solve is None:
            raise ConfigError(f"model {model.name!r} has no closed-form fit; train it with a gradient trainer such as full_batch")
        o = self.options
        prepare_seeded(model, trajectory, o["seed"], o["device"])
        examples = model.examples(trajectory, o["lookahead"])
        history = History()
        state = TrainState(trajectory=trajectory, history=history, epochs=1, data_hash=trajectory.content_hash(), examples=examples,
                           callbacks=list(callbacks))
        for cb in callbacks:
            cb.on_train_begin(self, model, state)
        before = {k: v.detach().clone() for k, v in model.state_dict().items()}
        start = time.perf_counter()
        try:
            nfe = model.nfe
            with torch.no_grad():
                loss = float(solve(examples))
            if not math.isfinite(loss):
                model.load_state_dict(before)
                state.status = "diverged"
                history.stopped = "diverged at epoch 1"
                raise TrainingDiverged(f"model {model.name!r}: the closed-form fit gave loss {loss}; the model keeps its untrained weights")
            history.append(1, loss, 0.0, time.perf_counter() - start, model.nfe - nfe)
            state.epoch, state.status = 1, "complete"
            for cb in callbacks:
                cb.on_epoch_end(self, model, state)
        finally:
            for cb in callbacks:
                cb.on_train_end(self, model, state)
        return history
