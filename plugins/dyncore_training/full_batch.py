"""Full-batch gradient descent: every example in every step, as in the reference experiments."""

from __future__ import annotations

import torch

from dyncore.model import Model
from dyncore.trainer import TrainState
from dyncore_training.loop import GradientTrainer


class FullBatch(GradientTrainer):
    """Full-batch Adam: one step per epoch on all examples (deterministic; the reference recipe).

    Chaotic systems are sensitive to the weights as well as to the state, so the noise of
    minibatches hurts more than it helps on the small data sets dyncore learns from.
    """

    name = "full_batch"

    def run_epoch(self, model: Model, examples: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer, state: TrainState) -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = model.loss(examples)
        loss.backward()
        optimizer.step()
        return loss.detach().reshape(1)
