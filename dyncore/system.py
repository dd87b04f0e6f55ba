"""The System interface: a dynamical system ``x' = f(t, x)`` with defaults that reproduce a reference experiment."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from dyncore.params import check_like_defaults, merge_params

if TYPE_CHECKING:
    import torch

    from dyncore.trajectory import Trajectory


class System(ABC):
    """A dynamical system given by a vector field.

    Subclasses set the class facts below and implement :meth:`vector_field`, :meth:`default_x0`
    and :meth:`default_times`. Parameters are keyword arguments checked against
    ``default_params`` (names, and types: a numeric default takes only finite numbers, a boolean
    one only booleans) and stored, merged with the defaults, in ``self.params``.
    """

    name: ClassVar[str] = ""
    #: Parameter names and default values; anything else passed to ``__init__`` is refused.
    default_params: ClassVar[dict[str, Any]] = {}
    #: True when explicit solvers need tiny steps (use an implicit solver such as radau or bdf).
    stiff: ClassVar[bool] = False
    #: The largest step a fixed-step solver (``rk4``, ``etdrk4``, ...) takes here when given no
    #: ``step_size``, whatever the output grid; ``None``: the spacing of :meth:`default_times`.
    max_step: ClassVar[float | None] = None

    def __init__(self, **params: Any) -> None:
        self.params = merge_params(f"system {self.name!r}", "parameter", self.default_params, params)
        check_like_defaults(f"system {self.name!r}", "parameter", self.default_params, params)

    @property
    @abstractmethod
    def dim(self) -> int:
        """State dimension."""

    @abstractmethod
    def vector_field(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The time derivative ``dx/dt``.

        Args:
            t: scalar time tensor.
            x: states, shape ``(..., dim)``; any leading batch dimensions, any float dtype/device.
        Returns:
            ``dx/dt`` with the shape, dtype and device of ``x``; differentiable with autograd.
        """

    def __call__(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.vector_field(t, x)

    @abstractmethod
    def default_x0(self) -> torch.Tensor:
        """The reference initial state, shape ``(dim,)``, float64."""

    @abstractmethod
    def default_times(self) -> torch.Tensor:
        """The reference output times, shape ``(n,)``, float64, strictly increasing."""

    def reference(self) -> dict[str, Any]:
        """Known invariants at these parameters (e.g. ``lyapunov_exponents``); empty if none are known."""
        return {}

    def fixed_step(self) -> float:
        """The system's own step: ``max_step``, else the median spacing of :meth:`default_times`.

        Fixed-step solvers given no ``step_size`` take internal steps no larger than this and land on
        every output time, so a coarse output grid samples an accurate, stable integration.
        """
        if self.max_step is not None:
            return float(self.max_step)
        times = self.default_times()
        return float(times.diff().median())

    @property
    def has_semilinear_split(self) -> bool:
        """True if the system exposes ``linear_operator()`` and ``nonlinear(t, x)`` for exponential integrators."""
        return callable(getattr(self, "linear_operator", None)) and callable(getattr(self, "nonlinear", None))

    def simulate(self, x0: Any = None, t: Any = None, *, solver: Any = None, **options: Any) -> Trajectory:
        """Integrate from ``x0`` (``(dim,)`` or ``(batch, dim)``) over ``t``; see :func:`dyncore.simulate`."""
        from dyncore.simulation import simulate

        return simulate(self, x0, t, solver=solver, **options)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"
