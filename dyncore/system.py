"""The System interface: a dynamical system ``x' = f(t, x)`` with defaults that reproduce a reference experiment."""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from dyncore.params import check_like_defaults, merge_params

if TYPE_CHECKING:
    import numpy as np
    import torch

    from dyncore.trajectory import Trajectory

#: Size of the Gaussian perturbations of the default state that :meth:`System.random_x0` draws by default.
RANDOM_X0_SCALE = 0.1


class System(ABC):
    """A dynamical system given by a vector field.

    Subclasses set the class facts below and implement :meth:`vector_field`, :meth:`default_x0`
    and :meth:`default_times`. Parameters are keyword arguments checked against
    ``default_params`` (names, and types: a numeric default takes only finite numbers, a boolean
    one only booleans) and stored, merged with the defaults, in ``self.params``.

    Every capability the core or a solver may use is declared here, with a default: override a
    class fact (or make it a property, when it depends on the parameters), or override a method.
    Optional fast paths (``numpy_vector_field``, ``jacobian``) are ``None`` until a subclass
    defines them. A semilinear split is declared by subclassing :class:`SemilinearSystem`.
    """

    name: ClassVar[str] = ""
    #: Parameter names and default values; anything else passed to ``__init__`` is refused.
    default_params: ClassVar[dict[str, Any]] = {}
    #: True when explicit solvers need tiny steps (use an implicit solver such as radau or bdf).
    stiff: ClassVar[bool] = False
    #: The largest step a fixed-step solver (``rk4``, ``etdrk4``, ...) takes here when given no
    #: ``step_size``, whatever the output grid; ``None``: the spacing of :meth:`default_times`.
    max_step: ClassVar[float | None] = None
    #: The solver :func:`dyncore.simulate` generates data with when none is named; ``None``: the core's
    #: default (:data:`dyncore.simulation.FALLBACK_SOLVER`, ``dop853``). May be a property (van der Pol's depends on ``mu``).
    default_solver: ClassVar[str | None] = None
    #: Time integrated and dropped before the output grid when ``simulate`` is given no ``transient``
    #: (and the settling time of held-out starts in :func:`dyncore.evaluate` for a system without a
    #: published time scale).
    default_transient: ClassVar[float] = 0.0
    #: Optional fast path ``numpy_vector_field(t, x)``: the field on float64 numpy arrays ``(..., dim)``,
    #: equal to :meth:`vector_field` (the SciPy solvers call it instead of torch); ``None``: none.
    numpy_vector_field: Callable[[float, np.ndarray], np.ndarray] | None = None
    #: Optional analytic Jacobian ``jacobian(t, x)`` -> ``(..., dim, dim)`` for implicit solvers;
    #: ``None``: they use autograd.
    jacobian: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    #: The methods that evaluate the field (a progress display wraps them to see the time reached).
    field_evaluations: ClassVar[tuple[str, ...]] = ("vector_field", "numpy_vector_field")

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

    def random_x0(self, batch: int, seed: int) -> torch.Tensor:
        """``batch`` seeded random initial states ``(batch, dim)``, float64 (``simulate(batch=...)`` draws them).

        By default the default state plus seeded Gaussian perturbations of size
        :data:`RANDOM_X0_SCALE`; override to draw from the system's own basin or attractor.
        """
        import numpy as np
        import torch

        rng = np.random.default_rng(seed)
        return self.default_x0().to(torch.float64) + torch.from_numpy(RANDOM_X0_SCALE * rng.standard_normal((batch, self.dim)))

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
        """True for a :class:`SemilinearSystem` (exponential integrators such as ``etdrk4`` can step it).

        A system that defines ``linear_operator`` and ``nonlinear`` without subclassing
        :class:`SemilinearSystem` still counts, for one release, with a DeprecationWarning.
        """
        if isinstance(self, SemilinearSystem):
            return True
        # the deprecated way: the split found by name (the one probe left, until the next release)
        undeclared = callable(getattr(self, "linear_operator", None)) and callable(getattr(self, "nonlinear", None))
        if undeclared:
            warnings.warn(
                f"system {type(self).__name__} defines linear_operator() and nonlinear() without subclassing "
                "dyncore.SemilinearSystem; subclass it (the split is found by name only until the next release)",
                DeprecationWarning, stacklevel=2,
            )
        return undeclared

    def simulate(self, x0: Any = None, t: Any = None, *, solver: Any = None, **options: Any) -> Trajectory:
        """Integrate from ``x0`` (``(dim,)`` or ``(batch, dim)``) over ``t``; see :func:`dyncore.simulate`."""
        from dyncore.simulation import simulate

        return simulate(self, x0, t, solver=solver, **options)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


class SemilinearSystem(System):
    """A system ``x' = f(t, x)`` that also declares its semilinear split ``v' = L v + N(t, v)``, ``L`` diagonal.

    ``v = to_spectral(x)`` are the coordinates in which ``L`` is diagonal (the identity by default).
    Exponential integrators (``etdrk4``) integrate the stiff linear part exactly; the Lyapunov
    estimates of :func:`dyncore.evaluate` step such a system with ETDRK4 instead of RK4.
    """

    #: Optional fast path ``numpy_nonlinear(t, v)``: :meth:`nonlinear` on numpy arrays; ``None``: none.
    numpy_nonlinear: Callable[[float, np.ndarray], np.ndarray] | None = None
    field_evaluations: ClassVar[tuple[str, ...]] = (*System.field_evaluations, "nonlinear", "numpy_nonlinear")

    @abstractmethod
    def linear_operator(self) -> torch.Tensor:
        """The diagonal of ``L`` in the coordinates ``v``, real or complex, shape ``(m,)``."""

    @abstractmethod
    def nonlinear(self, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``N(t, v)`` for ``v`` of shape ``(..., m)``; differentiable, dtype and device of ``v``."""

    def to_spectral(self, x: torch.Tensor) -> torch.Tensor:
        """States ``(..., dim)`` to the coordinates ``v`` ``(..., m)`` where ``L`` is diagonal (identity by default)."""
        return x

    def from_spectral(self, v: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`to_spectral`."""
        return v
