"""Full-batch gradient descent: every example in every step, as in the reference experiments."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from dyncore.model import Model
from dyncore.trainer import TrainState
from dyncore_training.loop import GradientTrainer
from dyncore_training.step_capture import StepRunner, check_options


class FullBatch(GradientTrainer):
    """Full-batch Adam: one step per epoch on all examples (deterministic; the reference recipe).

    Chaotic systems are sensitive to the weights as well as to the state, so the noise of
    minibatches hurts more than it helps on the small data sets dyncore learns from.

    Options: those of every gradient trainer, plus capture ("auto": on CUDA the whole step is
    replayed from a CUDA graph for models that declare ``capturable``; True; False) and compile
    (False; True or a backend name: ``torch.compile`` the model's loss). See
    :mod:`dyncore_training.step_capture`.
    """

    name = "full_batch"
    default_options: ClassVar[dict[str, Any]] = {**GradientTrainer.default_options, "capture": "auto", "compile": False}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        check_options(self.name, self.options["capture"], self.options["compile"], self.options["device"])
        self.step_mode = "eager"  # after fit: how the step ran ("eager", "graph", "compiled", "compiled+graph")

    def run_epoch(self, model: Model, examples: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer, state: TrainState) -> torch.Tensor:
        runner = state.extra.get("step_runner")
        if runner is None or runner.optimizer is not optimizer:
            runner = state.extra["step_runner"] = StepRunner(model, examples, optimizer, self.options["capture"], self.options["compile"])
        loss = runner()
        self.step_mode = runner.mode
        return loss
