"""SciPy's ``solve_ivp`` methods as dyncore solvers: fast data generation, stiff systems included.

SciPy integrates a flat float64 numpy vector; a batch of states is flattened into one system (its
members share step sizes). The vector field is evaluated through the system's
``numpy_vector_field(t, x)`` when it has one (a few microseconds per call: this is what makes the
backend fast), otherwise through its torch ``vector_field`` on ``x0``'s device. Implicit methods
(``radau``, ``bdf``, ``lsoda``) use the system's analytic ``jacobian(t, x)`` when it provides one,
else an autograd Jacobian. Not differentiable: use a torchdiffeq solver for gradients.

``max_steps`` bounds the work (10^6 steps for the explicit methods, about a minute on Lorenz; 10^5
for the implicit ones): an explicit method on a stiff system runs into it and says so. A single
step that takes more than ``STALL_EVALUATIONS`` field evaluations (steps rejected forever, as with
a NaN field) is a SolverError too: no progress is an error, never a hang.

The explicit methods (``rk45``, ``dop853``) also take ``step_size``: constant steps of that size
with error control off, for convergence studies. SciPy's implicit methods cannot do that (their
Newton iterations are scaled by the tolerances), so they have no such option.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import scipy.integrate
import scipy.sparse
import torch

from dyncore.errors import SolverError
from dyncore.solver import Solver

#: Tolerance that accepts every step: with it an explicit method takes constant steps.
UNCONTROLLED = 1e10


class ScipySolver(Solver):
    """Base class: step one ``scipy.integrate.OdeSolver`` and read the outputs from its dense output."""

    method: ClassVar[str] = ""
    adaptive = True
    differentiable = False
    #: True for the implicit methods, which are given a Jacobian.
    uses_jacobian: ClassVar[bool] = False
    default_options: ClassVar[dict[str, Any]] = {
        "rtol": 1e-9,
        "atol": 1e-9,
        "max_steps": 1_000_000,
        "max_step": None,
        "step_size": None,
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.check_options(positive=[k for k in ("rtol", "atol", "max_step", "step_size") if k in self.options], counts=["max_steps"])

    def solve(self, f: Callable, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Integrate ``f`` from ``x0`` over ``t``; see :meth:`dyncore.Solver.solve`. Returns ``(len(t), *x0.shape)``."""
        shape = tuple(x0.shape)
        times = torch.as_tensor(t).detach().cpu().numpy().astype(np.float64)
        y0 = x0.detach().cpu().numpy().astype(np.float64).reshape(-1)
        out = np.empty((len(times), y0.size))
        out[0] = y0
        if len(times) > 1:
            self._integrate(f, shape, x0.device, times, y0, out)
        return torch.from_numpy(out.reshape(len(times), *shape)).to(dtype=x0.dtype, device=x0.device)

    def _integrate(self, f: Callable, shape: tuple[int, ...], device: torch.device, times: np.ndarray,
                   y0: np.ndarray, out: np.ndarray) -> None:
        opts = self.options
        kwargs: dict[str, Any] = {"rtol": opts["rtol"], "atol": opts["atol"]}
        if opts["max_step"] is not None:
            kwargs["max_step"] = opts["max_step"]
        if opts.get("step_size") is not None:  # every step accepted, none longer than the first
            h = opts["step_size"]
            kwargs.update(rtol=UNCONTROLLED, atol=UNCONTROLLED, first_step=h, max_step=h)
        if self.uses_jacobian:
            kwargs["jac"] = numpy_jacobian(f, shape, device)
        span = f"[{times[0]:g}, {times[-1]:g}]"
        guard = StallGuard(numpy_field(f, shape, device), self.name, span)
        stepper = getattr(scipy.integrate, self.method)(guard, times[0], y0, times[-1], **kwargs)
        k, steps, n = 1, 0, len(times)
        with np.errstate(over="ignore", invalid="ignore"):
            while k < n:
                guard.calls, guard.since = 0, stepper.t
                try:
                    message = stepper.step()
                except ValueError as exc:  # implicit methods: LAPACK refuses a NaN/Inf Jacobian
                    raise SolverError(
                        f"solver {self.name!r} failed at t = {stepper.t:g} of {span} ({exc}); the vector field or its "
                        "Jacobian is NaN/Inf there: check the parameters and x0"
                    ) from None
                steps += 1
                if stepper.status == "failed":
                    raise SolverError(
                        f"solver {self.name!r} failed at t = {stepper.t:g} of {span} ({message}); the solution "
                        "blows up there or the system is stiff: check parameters and x0, or try 'radau' or 'bdf'"
                    )
                if not np.all(np.isfinite(stepper.y)):
                    raise SolverError(
                        f"solver {self.name!r}: the solution became NaN/Inf at t = {stepper.t:g} of {span}; "
                        "check the parameters and x0"
                    )
                j = int(np.searchsorted(times, stepper.t, side="right")) if stepper.status == "running" else n
                if j > k:
                    out[k:j] = stepper.dense_output()(times[k:j]).T
                    k = j
                if steps >= opts["max_steps"] and k < n:
                    raise SolverError(self._budget_message(f, stepper.t, span))

    def _budget_message(self, f: Any, when: float, span: str) -> str:
        if getattr(f, "stiff", False) and not self.stiff:
            hint = "the system is stiff: use an implicit solver such as 'radau' or 'bdf'"
        elif not self.stiff:
            hint = "raise max_steps, loosen rtol/atol, or use 'radau' or 'bdf' if the system is stiff"
        else:
            hint = "raise max_steps or loosen rtol/atol"
        return f"solver {self.name!r} exceeded its budget of {self.options['max_steps']} steps at t = {when:g} of {span}; {hint}"


#: Field evaluations within one step after which a solver is deemed stuck (a healthy step takes < 100).
STALL_EVALUATIONS = 10_000


class StallGuard:
    """The field ``fun(t, y)``, counting its calls within one step: a step that never ends is a SolverError.

    SciPy retries a rejected step with a smaller one inside a single ``step()`` call; a field that
    returns NaN (say, from a NaN parameter given through the Python API) is rejected forever there,
    where no step budget can see it. The solver resets :attr:`calls` and sets :attr:`since` (the
    time reached) before each step.
    """

    def __init__(self, fun: Callable[[float, np.ndarray], np.ndarray], solver: str, span: str) -> None:
        self.fun, self.solver, self.span = fun, solver, span
        self.calls, self.since = 0, float("nan")

    def __call__(self, t: float, y: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.calls > STALL_EVALUATIONS:
            finite = bool(np.all(np.isfinite(self.fun(t, y)))) and bool(np.all(np.isfinite(y)))
            cause = "" if finite else " (the vector field is NaN/Inf there)"
            raise SolverError(
                f"solver {self.solver!r} made no progress at t = {self.since:g} of {self.span}: {STALL_EVALUATIONS} "
                f"evaluations of the vector field without completing a step{cause}; check the parameters and x0, "
                "or try 'radau' or 'bdf' if the system is stiff"
            )
        return self.fun(t, y)


def numpy_field(f: Callable, shape: tuple[int, ...], device: torch.device) -> Callable[[float, np.ndarray], np.ndarray]:
    """``fun(t, y)`` on flat float64 vectors, through ``f.numpy_vector_field`` if present, else torch."""
    fast = getattr(f, "numpy_vector_field", None)
    if fast is not None:
        if len(shape) == 1:  # already flat: no reshaping on the hot path
            return fast
        return lambda t, y: fast(t, y.reshape(shape)).reshape(-1)

    def fun(t: float, y: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(y.reshape(shape)).to(device)
        with torch.no_grad():
            dx = f(torch.tensor(t, dtype=torch.float64, device=device), x)
        return dx.detach().cpu().numpy().astype(np.float64).reshape(-1)

    return fun


def numpy_jacobian(f: Callable, shape: tuple[int, ...], device: torch.device) -> Callable[[float, np.ndarray], Any]:
    """``jac(t, y)`` of the flattened system: dense for one state, sparse block-diagonal for a batch."""
    dim = shape[-1]
    members = math.prod(shape[:-1])
    analytic = getattr(f, "jacobian", None)

    def blocks(t: float, y: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(y.reshape(members, dim)).to(device)
        tt = torch.tensor(t, dtype=torch.float64, device=device)
        if analytic is not None:
            with torch.no_grad():
                J = analytic(tt, x)
        else:
            J = autograd_jacobian(f, tt, x)
        return J.detach().cpu().numpy().astype(np.float64)

    rows = (np.arange(members)[:, None, None] * dim + np.arange(dim)[None, :, None]).repeat(dim, axis=2).ravel()
    cols = (np.arange(members)[:, None, None] * dim + np.arange(dim)[None, None, :]).repeat(dim, axis=1).ravel()

    def jac(t: float, y: np.ndarray) -> Any:
        J = blocks(t, y)
        if members == 1:
            return J[0]
        return scipy.sparse.csc_matrix((J.ravel(), (rows, cols)), shape=(members * dim, members * dim))

    return jac


def autograd_jacobian(f: Callable, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-state Jacobians ``(batch, dim, dim)`` of ``f(t, x)`` for ``x`` of shape ``(batch, dim)``.

    One backward pass per output component: states are independent, so the gradient of the summed
    component ``i`` with respect to ``x`` is row ``i`` of every state's Jacobian.

    Raises:
        SolverError: ``f`` is not differentiable by autograd (a numpy field), naming the two fixes.
    """
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        fx = f(t, x)
        if not fx.requires_grad:
            name = getattr(f, "__qualname__", type(f).__name__)
            raise SolverError(
                f"an implicit solver needs the Jacobian of the vector field, but {name} is not differentiable by autograd "
                "(its output does not depend on the state through torch operations); give it a jacobian(t, x) method or "
                "integrate it with an explicit solver such as 'dopri5'"
            )
        rows = [torch.autograd.grad(fx[:, i].sum(), x, retain_graph=True)[0] for i in range(x.shape[-1])]
    return torch.stack(rows, dim=-2)


#: Options of the implicit methods: looser default tolerances (each step solves a linear system), no step_size.
IMPLICIT_OPTIONS: dict[str, Any] = {"rtol": 1e-6, "atol": 1e-8, "max_steps": 100_000, "max_step": None}


class RK45(ScipySolver):
    """Explicit Runge-Kutta 5(4) of Dormand-Prince (SciPy), adaptive, order 5."""

    name, method, order = "rk45", "RK45", 5


class DOP853(ScipySolver):
    """Explicit Runge-Kutta 8(5,3) of Dormand-Prince (SciPy), adaptive, order 8: the data-generation default."""

    name, method, order = "dop853", "DOP853", 8


class Radau(ScipySolver):
    """Implicit Runge-Kutta Radau IIA (SciPy), adaptive, order 5, for stiff systems."""

    name, method, order, stiff, uses_jacobian = "radau", "Radau", 5, True, True
    default_options: ClassVar[dict[str, Any]] = IMPLICIT_OPTIONS


class BDF(ScipySolver):
    """Implicit variable-order (1-5) backward differentiation formulas (SciPy), for stiff systems."""

    name, method, order, stiff, uses_jacobian = "bdf", "BDF", 5, True, True
    default_options: ClassVar[dict[str, Any]] = IMPLICIT_OPTIONS


class LSODA(ScipySolver):
    """LSODA (SciPy/ODEPACK): switches between Adams (nonstiff) and BDF (stiff, order <= 5) as needed."""

    name, method, order, stiff, uses_jacobian = "lsoda", "LSODA", 5, True, True
    default_options: ClassVar[dict[str, Any]] = IMPLICIT_OPTIONS
