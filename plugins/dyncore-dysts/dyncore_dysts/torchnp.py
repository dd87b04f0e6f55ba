"""A stand-in for numpy inside dysts' right-hand sides, so that they compute in torch (batched, differentiable).

dysts writes each system's ``_rhs(x, y, z, t, *params)`` with ``np.sin``, ``np.exp``, ...; the same
code run with ``np`` bound to this namespace takes torch tensors. A right-hand side that needs a
function missing here fails when the system is built and is reported as unsupported.
"""

from __future__ import annotations

import math
from typing import Any

import torch

pi, e = math.pi, math.e


def _t(x: Any) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(x, dtype=torch.float64)


def _unary(fn):
    return lambda x: fn(_t(x))


sin, cos, tan, exp, log, sqrt = (_unary(f) for f in (torch.sin, torch.cos, torch.tan, torch.exp, torch.log, torch.sqrt))
sinh, cosh, tanh, arctan, abs, sign = (_unary(f) for f in (torch.sinh, torch.cosh, torch.tanh, torch.arctan, torch.abs, torch.sign))  # noqa: A001
floor = _unary(torch.floor)


def arctan2(y: Any, x: Any) -> torch.Tensor:
    return torch.atan2(_t(y), _t(x))


def heaviside(x: Any, value: Any) -> torch.Tensor:
    """numpy's heaviside, differentiable (zero derivative): ``torch.heaviside`` has no autograd formula."""
    x = _t(x)
    value = torch.as_tensor(value, dtype=x.dtype, device=x.device)
    return torch.where(x > 0, torch.ones_like(x), torch.where(x == 0, value, torch.zeros_like(x)))


def mod(x: Any, y: Any) -> torch.Tensor:
    return torch.remainder(_t(x), y)


def power(x: Any, y: Any) -> torch.Tensor:
    return _t(x) ** y


def maximum(x: Any, y: Any) -> torch.Tensor:
    x, y = torch.broadcast_tensors(_t(x), _t(y))
    return torch.maximum(x, y)


def minimum(x: Any, y: Any) -> torch.Tensor:
    x, y = torch.broadcast_tensors(_t(x), _t(y))
    return torch.minimum(x, y)
