"""The Model interface: a learnable torch module that cuts data its school's way and rolls itself out."""

from __future__ import annotations

import warnings
from abc import abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from dyncore.defaults import DEFAULT_TRAINER
from dyncore.params import merge_params
from dyncore.trajectory import Trajectory


class Model(nn.Module):
    """A model of a dynamical system learned from trajectories.

    Hyperparameters are keyword arguments checked against ``default_hparams`` and stored as given
    in ``self.hparams``; :meth:`config` and :meth:`from_config` rebuild the model. Layers whose size
    depends on the data are built by :meth:`prepare`, which also fits the data normalisation
    (stored as buffers, so it is saved with the weights).

    What the core reads from a model is declared here: :attr:`nfe`, :attr:`sampling_step`,
    ``default_trainer``; a model with a learned vector field subclasses :class:`VectorFieldModel`.
    """

    name: ClassVar[str] = ""
    default_hparams: ClassVar[dict[str, Any]] = {}
    #: The trainer :func:`dyncore.train` uses when none is named: gradient epochs (``full_batch``), or
    #: ``closed_form`` for a model fitted in one call by its own ``fit_closed_form(examples)``.
    default_trainer: ClassVar[str] = DEFAULT_TRAINER
    #: Evaluations of the network so far (forward passes, or field evaluations of a NODE); trainers
    #: record the increase per epoch in the history's ``nfe`` column. Models that count increment it.
    nfe: int
    #: Optional ``fit_closed_form(examples) -> loss``: fits the model in one call (ridge or sparse
    #: regression), for the ``closed_form`` trainer; ``None``: the model trains by gradient epochs.
    fit_closed_form: Callable[[dict[str, torch.Tensor]], float] | None = None

    def __init__(self, **hparams: Any) -> None:
        super().__init__()
        self.hparams = merge_params(f"model {self.name!r}", "hyperparameter", self.default_hparams, hparams)
        self.dim: int | None = None
        self.nfe = 0

    @property
    def sampling_step(self) -> float | None:
        """The one time step this model runs on (a step map such as the RNN: its training data's), else ``None``.

        ``None`` (the default) for a model that runs on any grid, as a Neural ODE does;
        :func:`dyncore.evaluate` uses it to sample held-out data on the model's own step.
        """
        step = dict(self.named_buffers(recurse=False)).get("dt")  # deprecated: the buffer read before this was declared
        if step is None:
            return None
        warnings.warn(
            f"model {type(self).__name__} has a 'dt' buffer but does not override Model.sampling_step; override it "
            "(the buffer is read by name only until the next release)", DeprecationWarning, stacklevel=2,
        )
        return float(step) if float(step) > 0 else None

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


class VectorFieldModel(Model):
    """A model that learns a vector field ``dx/dt = f(t, x)`` (a Neural ODE, a hybrid physics + network model).

    The core reads the field directly: learned Lyapunov exponents come from its autograd Jacobian,
    and ``dyncore plot --kind vector-field`` draws it. A model without a field is measured through
    its :meth:`rollout` step map instead.
    """

    @abstractmethod
    def vector_field(self, t: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
        """The learned ``dx/dt`` in physical units.

        Args:
            t: time (scalar). x: states ``(..., dim)``, any float dtype.
        Returns:
            ``dx/dt`` with the shape and dtype of ``x``, differentiable with autograd.
        """


def learned_vector_field(model: Model) -> Callable[[Any, torch.Tensor], torch.Tensor] | None:
    """The model's learned field when it declares one (a :class:`VectorFieldModel`), else ``None``.

    A model that defines ``vector_field`` without subclassing :class:`VectorFieldModel` still counts,
    for one release, with a DeprecationWarning.
    """
    if isinstance(model, VectorFieldModel):
        return model.vector_field
    field = getattr(model, "vector_field", None)  # deprecated: found by name until the next release
    if not callable(field):
        return None
    warnings.warn(
        f"model {type(model).__name__} defines vector_field() without subclassing dyncore.VectorFieldModel; "
        "subclass it (the field is found by name only until the next release)", DeprecationWarning, stacklevel=2,
    )
    return field
