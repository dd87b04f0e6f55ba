"""Helpers both built-in models share: hyperparameter checks, dtypes, and cutting trajectories."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dyncore.errors import ConfigError, DataError
from dyncore.trajectory import Trajectory

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def dtype_of(model_name: str, name: Any) -> torch.dtype:
    """The torch dtype for the ``dtype`` hyperparameter (``"float32"`` or ``"float64"``)."""
    if name not in DTYPES:
        raise ConfigError(f"model {model_name!r}: dtype must be 'float32' or 'float64', got {name!r}")
    return DTYPES[name]


def positive_int(model_name: str, key: str, value: Any) -> int:
    """``value`` as an int >= 1, else a :class:`ConfigError` naming the hyperparameter."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"model {model_name!r}: {key} must be an integer >= 1, got {value!r}")
    return int(value)


def choice(model_name: str, key: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"model {model_name!r}: {key} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def states_3d(trajectory: Trajectory) -> np.ndarray:
    """States as ``(n, batch, dim)`` whether or not the trajectory is batched."""
    return trajectory.x if trajectory.batched else trajectory.x[:, None, :]


def check_data(model_name: str, trajectory: Trajectory, dim: int | None, needed: int, why: str) -> None:
    """Refuse data of the wrong dimension or with fewer than ``needed`` points, with the fix."""
    if not isinstance(trajectory, Trajectory):
        raise DataError(f"model {model_name!r} needs a dyncore Trajectory, got {type(trajectory).__name__}")
    if dim is not None and trajectory.dim != dim:
        raise DataError(
            f"the data have dimension {trajectory.dim} but model {model_name!r} was built for dimension {dim}; "
            "train a new model on these data"
        )
    if trajectory.n < needed:
        raise DataError(f"model {model_name!r} needs at least {needed} time points ({why}); the data have {trajectory.n}")


def lookahead_value(lookahead: Any) -> int:
    if isinstance(lookahead, bool) or not isinstance(lookahead, (int, np.integer)) or lookahead < 1:
        raise ConfigError(f"lookahead must be an integer >= 1, got {lookahead!r}")
    return int(lookahead)


def as_tensor(a: Any, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A tensor of ``dtype`` on ``device`` from a tensor, array or sequence."""
    if isinstance(a, torch.Tensor):
        return a.to(device=device, dtype=dtype)
    return torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=dtype, device=device)


def rollout_inputs(model_name: str, dim: int, device: torch.device, context: Any, t: Any,
                   time_dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """A one-state model's rollout arguments, checked: ``context`` as ``(1, [batch,] dim)`` on ``device``, ``t`` as 1-D."""
    context = context if isinstance(context, torch.Tensor) else torch.as_tensor(np.asarray(context, dtype=np.float64))
    context = context.to(device)
    if context.dim() == 1:
        context = context[None]
    if context.shape[0] < 1 or context.shape[-1] != dim:
        raise ConfigError(f"model {model_name!r} needs a context of shape (1, [batch,] {dim}), got {tuple(context.shape)}")
    times = as_tensor(t, time_dtype, device).reshape(-1)
    if len(times) < 1:
        raise ConfigError("rollout needs at least one output time")
    return context, times
