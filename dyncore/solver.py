"""The Solver interface: integrate ``x' = f(t, x)`` and return the states at the requested times."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from dyncore.errors import ConfigError
from dyncore.params import merge_params

if TYPE_CHECKING:
    import torch


class Solver(ABC):
    """An ODE integrator with declared capabilities.

    Options are keyword arguments checked against ``default_options`` (an unknown option is a
    :class:`~dyncore.errors.ConfigError`, never a warning) and stored in ``self.options``.
    """

    name: ClassVar[str] = ""
    #: Global order of accuracy; verified numerically by ``dyncore.testing``.
    order: ClassVar[int] = 1
    #: True if the step size is chosen from error estimates (``rtol``/``atol``).
    adaptive: ClassVar[bool] = False
    #: True if gradients flow through :meth:`solve` to ``x0`` and to parameters of ``f``.
    differentiable: ClassVar[bool] = False
    #: True if suited to stiff systems (implicit or exponential).
    stiff: ClassVar[bool] = False
    default_options: ClassVar[dict[str, Any]] = {}

    def __init__(self, **options: Any) -> None:
        self.options = merge_params(f"solver {self.name!r}", "option", self.default_options, options)

    def check_options(self, positive: Iterable[str] = (), counts: Iterable[str] = ()) -> None:
        """Refuse option values no integration can use, before any work: bad input, not a late failure.

        Args:
            positive: options that must be finite numbers > 0 (``None`` allowed where the default is None),
                e.g. ``rtol``, ``atol``, ``step_size``.
            counts: options that must be integers >= 1, e.g. ``max_steps``.
        """
        for key in positive:
            value = self.options[key]
            if value is None and self.default_options.get(key) is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not value > 0:
                raise ConfigError(f"solver {self.name!r}: option {key} must be a positive number, got {value!r}")
        for key in counts:
            value = self.options[key]
            if isinstance(value, float) and value.is_integer():
                value = self.options[key] = int(value)  # 1e6 from the command line means 1000000
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"solver {self.name!r}: option {key} must be an integer >= 1, got {value!r}")

    @abstractmethod
    def solve(self, f: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Integrate from ``x0`` at ``t[0]`` and return the states at every ``t``.

        Args:
            f: the vector field ``f(t, x)`` (a :class:`~dyncore.System` or any callable; solvers that
                need more, such as a semilinear split, say so and check).
            x0: initial states, shape ``(*batch, dim)``.
            t: output times, shape ``(n,)``, strictly increasing.
        Returns:
            States of shape ``(n, *batch, dim)``, dtype and device of ``x0``.
        Raises:
            SolverError: the integration blew up or exhausted its step budget (message says when).
        """

    def supports(self, f: Any) -> str | None:
        """``None`` if this solver can integrate ``f``, else a one-line reason naming an alternative."""
        return None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({args})"


def internal_step(step_size: float | None, f: Any) -> float | None:
    """The largest internal step of a fixed-step solver: ``step_size`` if given, else the system's own step.

    The system's own step is ``f.fixed_step()`` (see :meth:`dyncore.System.fixed_step`); ``None``
    when ``f`` has none (a model's vector field: one step per output interval, as it was trained).
    """
    if step_size is not None:
        return float(step_size)
    from dyncore.system import System

    return f.fixed_step() if isinstance(f, System) else None


def substeps(interval: float, step: float | None) -> int:
    """How many equal steps no larger than ``step`` cover ``interval`` (1 when ``step`` is None).

    Fixed-step solvers take these steps in each output interval, so every output time is a step
    and carries the method's full order (no interpolation between steps).
    """
    if step is None:
        return 1
    return max(1, math.ceil(interval / step - 1e-9))
