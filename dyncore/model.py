"""The Model interface: a learnable torch module that cuts data its school's way and rolls itself out."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import torch
from torch import nn

from dyncore.params import merge_params
from dyncore.trajectory import Trajectory


class Model(nn.Module):
    """A model of a dynamical system learned from trajectories.

    Hyperparameters are keyword arguments checked against ``default_hparams`` and stored as given
    in ``self.hparams``; :meth:`config` and :meth:`from_config` rebuild the model. Layers whose size
    depends on the data are built by :meth:`prepare`, which also fits the data normalisation
    (stored as buffers, so it is saved with the weights).
    """

    name: ClassVar[str] = ""
    default_hparams: ClassVar[dict[str, Any]] = {}
    #: The trainer :func:`dyncore.train` uses when none is named: gradient epochs (``full_batch``), or
    #: ``closed_form`` for a model fitted in one call by its own ``fit_closed_form(examples)``.
    default_trainer: ClassVar[str] = "full_batch"

    def __init__(self, **hparams: Any) -> None:
        super().__init__()
        self.hparams = merge_params(f"model {self.name!r}", "hyperparameter", self.default_hparams, hparams)
        self.dim: int | None = None

    @property
    @abstractmethod
    def context_length(self) -> int:
        """How many consecutive states :meth:`rollout` needs to start (1 for a NODE, the window for an RNN)."""

    @abstractmethod
    def prepare(self, trajectory: Trajectory | None = None, dim: int | None = None) -> None:
        """Build the layers for ``dim`` (taken from ``trajectory`` if given) and fit the normalisation."""

    @abstractmethod
    def examples(self, trajectory: Trajectory, lookahead: int = 1) -> dict[str, torch.Tensor]:
        """Cut ``trajectory`` into training examples the way this model's school does.

        Returns:
            A dict of tensors whose first dimension indexes examples (so a trainer can minibatch
            it by indexing every value), on the model's device.
        Raises:
            DataError: too few points for the context and ``lookahead``, or a wrong dimension.
        """

    @abstractmethod
    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Scalar training loss on a batch from :meth:`examples`."""

    @abstractmethod
    def rollout(self, context: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Free prediction from observed states.

        Args:
            context: the first ``context_length`` states, shape ``(context_length, [batch,] dim)``,
                observed at ``t[:context_length]``.
            t: output times, shape ``(n,)`` with ``n >= context_length``.
        Returns:
            States at every ``t``, shape ``(n, [batch,] dim)``; the first rows equal ``context``.
        """

    def quick_rollout(self, context: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """A cheap :meth:`rollout` for training snapshots (e.g. fixed steps on ``t`` instead of an adaptive solve).

        Same arguments and result as :meth:`rollout`, which it calls unless a model has a cheaper way.
        """
        return self.rollout(context, t)

    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild this model (before loading its ``state_dict``)."""
        return {"model": self.name, "hparams": dict(self.hparams), "dim": self.dim}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Model:
        """Rebuild an (untrained) model from :meth:`config`, layers included."""
        model = cls(**config.get("hparams", {}))
        if config.get("dim") is not None:
            model.prepare(dim=int(config["dim"]))
        return model

    @property
    def device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        for tensor in self.buffers():
            return tensor.device
        return torch.device("cpu")
