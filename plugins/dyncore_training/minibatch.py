"""Minibatch gradient descent with seeded shuffling, for data sets too large for one batch."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from dyncore.errors import ConfigError
from dyncore.model import Model
from dyncore.trainer import TrainState
from dyncore_training.loop import GradientTrainer


class Minibatch(GradientTrainer):
    """Minibatch Adam: shuffled (seeded) batches of ``batch_size`` examples, one step each.

    Options: those of ``full_batch`` plus batch_size (128) and shuffle (True). The permutation
    comes from a generator seeded by ``seed`` and saved in checkpoints, so runs and resumed runs
    see the same batches.
    """

    name = "minibatch"
    default_options: ClassVar[dict[str, Any]] = {**GradientTrainer.default_options, "batch_size": 128, "shuffle": True}

    def __init__(self, **options: Any) -> None:
        if "lbfgs_epochs" in options:
            raise ConfigError("trainer 'minibatch': L-BFGS needs the full batch (its line search compares one fixed objective, "
                              "minibatches change it every step); use trainer 'multistep' with lbfgs_epochs")
        super().__init__(**options)
        size = self.options["batch_size"]
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError(f"trainer 'minibatch': batch_size must be an integer >= 1, got {size!r}")

    def run_epoch(self, model: Model, examples: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer, state: TrainState) -> torch.Tensor:
        n = next(iter(examples.values())).shape[0]
        if self.options["shuffle"]:
            order = torch.randperm(n, generator=state.generator)
        else:
            order = torch.arange(n)
        device = next(iter(examples.values())).device
        chunks = order.split(self.options["batch_size"])
        losses = []
        for chunk in chunks:
            index = chunk.to(device)
            batch = {k: v[index] for k, v in examples.items()}
            optimizer.zero_grad(set_to_none=True)
            loss = model.loss(batch)
            loss.backward()
            optimizer.step()
            # weighted so that the plain mean of the entries is the example-weighted mean loss
            losses.append(loss.detach() * (len(chunk) * len(chunks) / n))
        return torch.stack(losses)
