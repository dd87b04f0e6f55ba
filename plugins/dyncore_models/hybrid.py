"""The knowledge-based Neural ODE: a known, possibly wrong, model's field and an MLP, combined by a learned coupling."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dyncore.errors import ConfigError, UnknownNameError
from dyncore.params import parse_assignments
from dyncore.trajectory import Trajectory
from dyncore_models.node import NeuralODE

COUPLINGS = ("mixing", "additive")


class HybridODE(NeuralODE):
    """Knowledge-based Neural ODE (KNODE: Jiahao, Hsieh and Forgoston, Chaos 31, 111101, 2021).

    The learned field combines the field of a known System ``f_k`` (any registered one, at
    parameters that may be wrong) with a learned ``g``, the NODE's MLP plus (``linear``) a linear
    map of the state, so that errors in a known model's linear terms are exactly representable:

    - ``coupling="mixing"`` (default): ``f(x) = A f_k(x) + B g(x)``, A and B learned dim x dim
      matrices starting at the identity: the paper's learned linear coupling of the two fields;
    - ``coupling="additive"``: ``f(x) = f_k(x) + g(x)``, a learned residual.

    ``g`` starts at zero, so training starts from the known model. Everything
    else (normalisation, solvers, rollout, ``vector_field``) is the ``node`` model's.

    Hyperparameters: those of ``node``, plus
        known (required): the name of the registered System used as the known model.
        known_params ({}): its parameters, a dict or ``"rho=25.2,beta=2.667"``.
        coupling (``mixing``): ``mixing`` or ``additive``.
        linear (True): add the learned linear map to ``g``.
    """

    name = "hybrid"
    default_hparams = {
        **NeuralODE.default_hparams, "known": None, "known_params": {}, "coupling": "mixing", "linear": True,
    }

    def __init__(self, **hparams: Any) -> None:
        super().__init__(**hparams)
        hp = self.hparams
        if not isinstance(hp["known"], str) or not hp["known"]:
            raise ConfigError("model 'hybrid' needs the known model: a system name, e.g. --hparam known=lorenz")
        params = known_params(self.name, hp["known_params"])
        if not isinstance(hp["linear"], bool):
            raise ConfigError(f"model 'hybrid': linear must be true or false, got {hp['linear']!r}")
        if hp["coupling"] not in COUPLINGS:
            raise ConfigError(f"model 'hybrid': coupling must be one of {', '.join(COUPLINGS)}, got {hp['coupling']!r}")
        self.known = _known_system(hp["known"], params, self.name)

    def prepare(self, trajectory: Trajectory | None = None, dim: int | None = None) -> None:
        """Build the MLP and the coupling for the known system's dimension, which the data must have."""
        given = trajectory.dim if trajectory is not None else dim
        if given is not None and given != self.known.dim:
            raise ConfigError(
                f"model 'hybrid': the known system {self.hparams['known']!r} has dimension {self.known.dim}, the data "
                f"{given}; choose a known system of the data's dimension"
            )
        super().prepare(trajectory, dim)
        last = self.net.layers[-1]
        with torch.no_grad():
            last.weight.zero_()
            last.bias.zero_()
        if self.hparams["linear"]:
            self.skip = nn.Linear(self.dim, self.dim, dtype=self._build_dtype)
            with torch.no_grad():
                self.skip.weight.zero_()
                self.skip.bias.zero_()
        if self.hparams["coupling"] == "mixing":
            eye = torch.eye(self.dim, dtype=self._build_dtype)
            self.known_gain = nn.Parameter(eye.clone())
            self.net_gain = nn.Parameter(eye.clone())

    @property
    def plain_mlp_field(self) -> bool:
        """False: the known field is part of the field, so fused and numpy MLP steps do not apply."""
        return False

    def _field(self, t: torch.Tensor | float, z: torch.Tensor) -> torch.Tensor:
        """``dz/dt`` in normalised states: the known field mapped into them, coupled with the MLP's."""
        learned = super()._field(t, z)
        if self.hparams["linear"]:
            learned = learned + self.skip(z) * self.time_scale
        time = torch.as_tensor(t, dtype=z.dtype, device=z.device)
        known = self.known(time, self.norm.decode(z)) / self.norm.scale
        if self.hparams["coupling"] == "additive":
            return known + learned
        return known @ self.known_gain.T + learned @ self.net_gain.T


def known_params(model: str, params: Any) -> dict[str, Any]:
    """The ``known_params`` hyperparameter as a dict: given as one, or as ``"rho=25.2,beta=2.667"``.

    The hyperparameter itself is kept as given in the config, so the same command resumes.
    """
    if isinstance(params, str):
        params = parse_assignments([item for item in params.split(",") if item.strip()], "known_params")
    if not isinstance(params, dict):
        raise ConfigError(f"model {model!r}: known_params must be a dict or 'k=v,k=v', got {params!r}")
    return params


def _known_system(name: str, params: dict[str, Any], model: str = "hybrid") -> Any:
    """The registered System ``name`` at ``params``; a clear error when it is not installed."""
    import dyncore

    try:
        return dyncore.systems.create(name, **params)
    except UnknownNameError as exc:
        if exc.kind == "system":
            raise ConfigError(
                f"model {model!r}: the known system {name!r} is not installed ({exc}); fix the name or install the "
                "plugin that provides it"
            ) from None
        raise ConfigError(f"model {model!r}: known_params for {name!r}: {exc}") from None
