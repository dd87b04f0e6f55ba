"""torchdiffeq's methods as dyncore solvers: differentiable, on CPU or GPU.

Each class fixes one torchdiffeq ``method``. Adaptive methods take ``rtol``, ``atol`` and a step
budget ``max_steps``, and ``step_size`` to switch error control off and take constant steps
(outputs between steps come from the method's dense output; meant for convergence studies).
Fixed-step methods take ``step_size`` too: each output interval is cut into the fewest equal steps
no larger than it, so every output is a step and carries the method's order (torchdiffeq's own
grid would fill the outputs between steps by linear interpolation, second order). ``None``: at
most the system's own step (:meth:`dyncore.System.fixed_step`) whatever the output grid, and one
step per output interval for a field that has none (a model's, the way a Neural ODE is trained).
``dopri8``'s dense output is only fourth order (torchdiffeq fits the same quartic as for dopri5),
so it steps onto every output time instead of interpolating (:mod:`dyncore_solvers.dopri8`): 8th
order at the outputs, at the cost of at least one step per output interval.
The option ``adjoint=True`` backpropagates with the adjoint method (memory constant in the number
of steps; gradients reach ``x0`` and, when ``f`` is a ``torch.nn.Module``, its parameters), as
diffrax takes the adjoint as a separate argument; the old names ``dopri5_adjoint``, ... are
deprecated aliases of ``dopri5`` etc. with ``adjoint=True`` (for one release).
``tsit5`` is not a torchdiffeq method: :mod:`dyncore_solvers.tsit5` builds it on torchdiffeq's
internal Runge-Kutta classes and adds it to torchdiffeq's method table when a solver is made.

Speed: every step costs several Python-level torch calls (~10-30 us each), so on a tiny state such
as Lorenz (3 numbers) torchdiffeq is tens of times slower than SciPy with a numpy field. Use these
for training and gradients; use the SciPy backend (``dop853``, ``radau``) to generate data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch

from dyncore.errors import ConfigError, SolverError
from dyncore.solver import Solver, internal_step, substeps


class _Tracked:
    """Wraps ``f`` to remember the last time it was called at (for error messages)."""

    def __init__(self, f: Callable) -> None:
        self.f = f
        self.last_t = float("nan")

    def __call__(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        self.last_t = float(t.detach())
        return self.f(t, x)


def _grid_through_outputs(step: float) -> Callable[[Any, torch.Tensor, torch.Tensor], torch.Tensor]:
    """A torchdiffeq ``grid_constructor``: each interval of ``t`` in the fewest equal steps no larger than ``step``.

    ``t`` may decrease: the adjoint's backward pass calls it with the reversed times.
    """

    def grid(func: Any, y0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        intervals = torch.diff(t)
        counts = torch.tensor([substeps(abs(dt), step) for dt in intervals.tolist()], device=t.device)
        if bool((counts == 1).all()):
            return t
        first = torch.cumsum(counts, 0) - counts  # index of each interval's first step
        index = torch.arange(int(counts.sum()), device=t.device) - torch.repeat_interleave(first, counts)
        inner = torch.repeat_interleave(t[:-1], counts) + index * torch.repeat_interleave(intervals / counts, counts)
        return torch.cat([inner, t[-1:]])  # index 0 of each interval is exactly its output time

    return grid


class TorchdiffeqSolver(Solver):
    """Base class: integrate with ``torchdiffeq.odeint`` (or ``odeint_adjoint`` with ``adjoint=True``) and one fixed method."""

    method: ClassVar[str] = ""
    #: Step onto every output time instead of interpolating (for a dense output below the method's order).
    step_onto_outputs: ClassVar[bool] = False
    differentiable = True

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if self.adaptive:
            self.check_options(positive=["rtol", "atol", "step_size"], counts=["max_steps"])
        else:
            self.check_options(positive=["step_size"])
        if not isinstance(self.options["adjoint"], bool):
            raise ConfigError(f"solver {self.name!r}: option adjoint must be true or false, got {self.options['adjoint']!r}")

    @property
    def adjoint(self) -> bool:
        """True when gradients come from the adjoint method (the ``adjoint`` option)."""
        return self.options["adjoint"]

    def solve(self, f: Callable, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Integrate ``f`` from ``x0`` over ``t``; see :meth:`dyncore.Solver.solve`. Returns ``(len(t), *x0.shape)``."""
        import torchdiffeq

        t = torch.as_tensor(t, device=x0.device)
        t = t.to(torch.promote_types(t.dtype, x0.dtype)) if t.is_floating_point() else t.to(x0.dtype)
        options = self._torchdiffeq_options(f, t)
        kwargs: dict[str, Any] = {"method": self.method, "options": options}
        if self.adaptive:
            kwargs.update(rtol=self.options["rtol"], atol=self.options["atol"])
        tracked = _Tracked(f)
        try:
            if self.adjoint:
                params = tuple(f.parameters()) if isinstance(f, torch.nn.Module) else ()
                return torchdiffeq.odeint_adjoint(tracked, x0, t, adjoint_params=params, **kwargs)
            return torchdiffeq.odeint(tracked, x0, t, **kwargs)
        except AssertionError as exc:
            raise self._translate(exc, f, tracked.last_t, t) from exc

    def _torchdiffeq_options(self, f: Any, t: torch.Tensor) -> dict[str, Any]:
        step = self.options["step_size"]
        if self.adaptive:
            options: dict[str, Any] = {"max_num_steps": self.options["max_steps"]}
            if step is not None:  # steps clamped to [step, step] are always accepted
                options.update(first_step=step, min_step=step, max_step=step)
            if self.step_onto_outputs:
                options["step_t"] = t.detach()
            return options
        largest = internal_step(step, f)
        return {} if largest is None else {"grid_constructor": _grid_through_outputs(largest)}

    def _translate(self, exc: AssertionError, f: Any, when: float, t: torch.Tensor) -> SolverError:
        text = str(exc)
        span = f"[{float(t[0]):g}, {float(t[-1]):g}]"
        if "max_num_steps" in text:
            if getattr(f, "stiff", False):
                hint = "the system is stiff: use an implicit solver such as 'radau' or 'bdf'"
            else:
                hint = "raise max_steps, loosen rtol/atol, or use an implicit solver ('radau', 'bdf') if the system is stiff"
            return SolverError(
                f"solver {self.name!r} exceeded its budget of {self.options['max_steps']} steps at t = {when:g} "
                f"of {span}; {hint}"
            )
        if "underflow" in text or "non-finite" in text:
            return SolverError(
                f"solver {self.name!r}: the solution blew up (NaN/Inf or step-size underflow) near t = {when:g} "
                f"of {span}; check the parameters and x0, or try an implicit solver ('radau', 'bdf')"
            )
        return SolverError(f"solver {self.name!r} failed near t = {when:g} of {span}: {text}")


class _Adaptive(TorchdiffeqSolver):
    adaptive = True
    default_options: ClassVar[dict[str, Any]] = {"rtol": 1e-7, "atol": 1e-9, "max_steps": 100_000, "step_size": None,
                                                 "adjoint": False}


class _Fixed(TorchdiffeqSolver):
    adaptive = False
    default_options: ClassVar[dict[str, Any]] = {"step_size": None, "adjoint": False}


class Dopri5(_Adaptive):
    """Dormand-Prince 5(4), adaptive, order 5 (torchdiffeq)."""

    name, method, order = "dopri5", "dopri5", 5


class Tsit5(_Adaptive):
    """Tsitouras 5(4), adaptive, order 5: dopri5's order and cost per step, a smaller error constant.

    Built on torchdiffeq's internals (see :mod:`dyncore_solvers.tsit5`); making one adds the method
    to torchdiffeq's table, or raises SolverError if this torchdiffeq's internals differ.
    """

    name, method, order = "tsit5", "dyncore_tsit5", 5

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        from dyncore_solvers.tsit5 import register_method

        register_method(self.method)


class Dopri8(_Adaptive):
    """Dormand-Prince 8(5,3), adaptive, order 8 (torchdiffeq); steps onto every output time.

    torchdiffeq's dense output for dopri8 is fourth order, 1000x less accurate than the steps at
    rtol = 1e-12; landing on the outputs keeps the 8th order there (at least one step per output).
    Built on torchdiffeq's internals to work around its ``step_t`` bookkeeping (see
    :mod:`dyncore_solvers.dopri8`).
    """

    name, method, order, step_onto_outputs = "dopri8", "dyncore_dopri8", 8, True

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        from dyncore_solvers.dopri8 import register_method

        register_method(self.method)


class Bosh3(_Adaptive):
    """Bogacki-Shampine 3(2), adaptive, order 3 (torchdiffeq)."""

    name, method, order = "bosh3", "bosh3", 3


class RK4(_Fixed):
    """Fixed-step fourth-order Runge-Kutta, the 3/8-rule variant (torchdiffeq's ``rk4``)."""

    name, method, order = "rk4", "rk4", 4


class Midpoint(_Fixed):
    """Fixed-step explicit midpoint method, order 2 (torchdiffeq)."""

    name, method, order = "midpoint", "midpoint", 2


class Euler(_Fixed):
    """Fixed-step forward Euler, order 1 (torchdiffeq)."""

    name, method, order = "euler", "euler", 1


#: The classes that the deprecated ``*_adjoint`` names stood for; ``Dopri5Adjoint`` etc. still import (deprecated).
_ADJOINT_BASES = {"Dopri5Adjoint": Dopri5, "Tsit5Adjoint": Tsit5, "Dopri8Adjoint": Dopri8, "Bosh3Adjoint": Bosh3,
                  "RK4Adjoint": RK4, "MidpointAdjoint": Midpoint, "EulerAdjoint": Euler}


def __getattr__(name: str) -> Any:
    """``Dopri5Adjoint`` and the like, deprecated: the method's class with ``adjoint=True`` preset."""
    if name not in _ADJOINT_BASES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import warnings

    import dyncore

    base = _ADJOINT_BASES[name]
    warnings.warn(f"{name} is deprecated and goes in the next release; use {base.__name__}(adjoint=True)",
                  DeprecationWarning, stacklevel=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return dyncore.solvers.get(f"{base.name}_adjoint")
