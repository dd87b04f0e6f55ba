"""Conformance checks for solvers: one behaviour each, run on an instance.

Most checks integrate :class:`LogisticProblem`, whose exact solution is known and which exposes a
semilinear split, so every kind of solver (Runge-Kutta, implicit, exponential) can be measured on it.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch

from dyncore.errors import ConfigError, SolverError
from dyncore.solver import Solver
from dyncore.system import SemilinearSystem

#: Largest error of a default solve on the coarse grid of :func:`check_matches_exact_solution`.
EXACT_TOLERANCE = 5e-2
#: Allowed distance between measured and declared order for constant steps. Fifth-order pairs with
#: small leading error constants are still pre-asymptotic at the finest step float64 resolves here
#: (dopri5 5.43, tsit5 5.56; tsit5 shows 5.56 in 40-digit arithmetic too, then 5.34, 5.17 at h/2, h/4).
ORDER_TOLERANCE = 0.6
#: Errors outside this band are not used to measure an order (round-off below, pre-asymptotic above).
ERROR_BAND = (1e-13, 1e-2)


class LogisticProblem(SemilinearSystem):
    """``u_i' = a_i u_i - u_i^2``, component-wise, with exact solution and a semilinear split.

    Exact solution: ``u(t) = a u0 e^{a t} / (a - u0 + u0 e^{a t})``. Split: ``L = diag(a)``,
    ``N(v) = -v^2`` (in the state's own coordinates). Counts its field evaluations in ``evaluations``.
    """

    name = "logistic_test_problem"
    rates: ClassVar[tuple[float, ...]] = (1.5, -2.0)
    dim = 2

    def __init__(self) -> None:
        super().__init__()
        self.evaluations = 0

    def vector_field(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        self.evaluations += 1
        return torch.as_tensor(self.rates, dtype=x.dtype, device=x.device) * x - x * x

    def linear_operator(self) -> torch.Tensor:
        return torch.tensor(self.rates, dtype=torch.float64)

    def nonlinear(self, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        self.evaluations += 1
        return -v * v

    def default_x0(self) -> torch.Tensor:
        return torch.tensor([0.5, 1.0], dtype=torch.float64)

    def default_times(self) -> torch.Tensor:
        return torch.linspace(0.0, 2.0, 3, dtype=torch.float64)

    def exact(self, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """The exact states ``(len(t), *x0.shape)``."""
        a = torch.as_tensor(self.rates, dtype=torch.float64)
        growth = torch.exp(a * t.reshape(-1, *([1] * x0.ndim)))
        return a * x0 * growth / (a - x0 + x0 * growth)

    def exact_derivative(self, t: float, x0: torch.Tensor) -> torch.Tensor:
        """``d u_i(t) / d u0_i`` (the Jacobian is diagonal), shape ``x0.shape``."""
        a = torch.as_tensor(self.rates, dtype=torch.float64)
        growth = torch.exp(a * t)
        return a * a * growth / (a - x0 + x0 * growth) ** 2


def _error(solver: Solver, problem: LogisticProblem, t: torch.Tensor | None = None) -> float:
    t = problem.default_times() if t is None else t
    x0 = problem.default_x0()
    return float((solver.solve(problem, x0, t) - problem.exact(t, x0)).abs().max())


def _with(solver: Solver, **options: Any) -> Solver:
    return type(solver)(**{**solver.options, **options})


def measured_order(solver: Solver) -> tuple[float, list[tuple[float, float]]]:
    """The order ``solver`` shows on :class:`LogisticProblem`, and the (work, error) pairs it was fitted on.

    With a ``step_size`` option: constant steps ``h = 2 / 2^k``; the order is the slope of log error
    against log h between the two finest steps whose errors lie inside :data:`ERROR_BAND` and above
    ten times the accumulated round-off (number of steps times machine epsilon). Steps too coarse
    to be stable are skipped. Without one (adaptive only): tolerances from 1e-3 to 1e-11; the order
    is minus the slope of log error against log (number of field evaluations), since for a method of
    order p the error falls like work^-p.
    """
    problem = LogisticProblem()
    points: list[tuple[float, float]] = []
    if "step_size" in solver.default_options:
        usable = []
        for k in range(1, 11):
            h = 2.0 / 2**k
            try:
                error = _error(_with(solver, step_size=h), problem)
            except SolverError:  # unstable at this step size
                error = math.inf
            points.append((h, error))
            if error < 10 * np.finfo(np.float64).eps * 2**k:
                break
            if ERROR_BAND[0] <= error <= ERROR_BAND[1]:
                usable.append((h, error))
        usable = usable[-2:]
        sign = 1.0
    else:
        for tol in np.logspace(-3, -11, 9):
            problem.evaluations = 0
            error = _error(_with(solver, rtol=float(tol), atol=float(tol)), problem)
            points.append((float(problem.evaluations), error))
        usable = [p for p in points if ERROR_BAND[0] <= p[1] <= ERROR_BAND[1]]
        sign = -1.0
    if len(usable) < 2:
        raise AssertionError(f"{solver.name}: too few errors in {ERROR_BAND} to measure an order: {points}")
    slope = np.polyfit(np.log([p[0] for p in usable]), np.log([p[1] for p in usable]), 1)[0]
    return sign * float(slope), points


# -- the checks --------------------------------------------------------------------------------------
def check_declares_capabilities(solver: Solver) -> None:
    """``name``, ``order``, ``adaptive``, ``differentiable``, ``stiff`` are declared with the right types."""
    cls = type(solver)
    assert isinstance(cls.name, str) and cls.name.isidentifier() and cls.name == cls.name.lower(), cls.name
    assert isinstance(cls.order, int) and cls.order >= 1, f"order must be a positive int, got {cls.order!r}"
    for fact in ("adaptive", "differentiable", "stiff"):
        assert isinstance(getattr(cls, fact), bool), f"{fact} must be a bool"
    assert set(solver.options) == set(cls.default_options), "options must be exactly the declared default_options"


def check_unknown_option_is_config_error(solver: Solver) -> None:
    """An unknown option raises ConfigError (never a warning)."""
    try:
        type(solver)(no_such_option=1)
    except ConfigError:
        return
    raise AssertionError(f"{solver.name}: an unknown option was accepted")


def check_solve_shape_dtype_and_start(solver: Solver) -> None:
    """``solve`` returns ``(len(t), *x0.shape)`` in x0's dtype, starting at x0 (float64 and float32)."""
    problem = LogisticProblem()
    t = torch.linspace(0.0, 1.0, 5, dtype=torch.float64)
    for dtype in (torch.float64, torch.float32):
        x0 = torch.tensor([[0.5, 1.0], [0.2, 0.3], [1.0, 0.1]], dtype=dtype)
        x = solver.solve(problem, x0, t)
        assert tuple(x.shape) == (5, 3, 2), f"shape {tuple(x.shape)} != (5, 3, 2)"
        assert x.dtype == dtype, f"dtype {x.dtype} != {dtype}"
        assert torch.equal(x[0], x0), "the first output must be x0"


def check_matches_exact_solution(solver: Solver) -> None:
    """With default options, on a grid of step 0.05, the error against the exact solution is small."""
    error = _error(solver, LogisticProblem(), torch.linspace(0.0, 2.0, 41, dtype=torch.float64))
    assert error < EXACT_TOLERANCE, f"{solver.name}: error {error:.2e} >= {EXACT_TOLERANCE}"


def check_convergence_order(solver: Solver) -> None:
    """The measured order matches the declared ``order``.

    Solvers with a ``step_size`` option: within :data:`ORDER_TOLERANCE` of the declared order.
    Adaptive-only solvers (variable order, implicit): the error falls at least like work^-(order - 1).
    """
    order, points = measured_order(solver)
    if "step_size" in solver.default_options:
        assert abs(order - solver.order) <= ORDER_TOLERANCE, (
            f"{solver.name}: measured order {order:.2f}, declared {solver.order} (h, error: {points})"
        )
    else:
        assert order >= solver.order - 1, f"{solver.name}: measured order {order:.2f} < declared {solver.order} - 1 ({points})"


def check_order_holds_at_outputs_between_steps(solver: Solver) -> None:
    """A fixed-step solver keeps its order at outputs its ``step_size`` does not divide (nothing filled in linearly).

    Outputs every 0.1 on [0, 2], steps ``0.1 / 5.5``, ``0.1 / 11.5``, ``0.1 / 23.5``: within
    :data:`ORDER_TOLERANCE` of the declared order (linear interpolation between steps gives 2).
    """
    if solver.adaptive or "step_size" not in solver.default_options:
        return
    problem = LogisticProblem()
    t = torch.linspace(0.0, 2.0, 21, dtype=torch.float64)
    points = [(h, _error(_with(solver, step_size=h), problem, t)) for h in (0.1 / 5.5, 0.1 / 11.5, 0.1 / 23.5)]
    usable = [p for p in points if ERROR_BAND[0] <= p[1] <= ERROR_BAND[1]]
    if len(usable) < 2:
        raise AssertionError(f"{solver.name}: too few errors in {ERROR_BAND} to measure an order: {points}")
    order = float(np.polyfit(np.log([p[0] for p in usable]), np.log([p[1] for p in usable]), 1)[0])
    assert abs(order - solver.order) <= ORDER_TOLERANCE, (
        f"{solver.name}: order {order:.2f} at outputs between steps, declared {solver.order} (h, error: {points})"
    )


def check_batched_matches_unbatched(solver: Solver) -> None:
    """Integrating a batch gives each member's own solution (to the solver's accuracy)."""
    problem = LogisticProblem()
    t = torch.linspace(0.0, 1.0, 11, dtype=torch.float64)
    x0 = torch.tensor([[0.5, 1.0], [0.2, 0.3]], dtype=torch.float64)
    together = solver.solve(problem, x0, t)
    for i in range(2):
        alone = solver.solve(problem, x0[i], t)
        gap = float((together[:, i] - alone).abs().max())
        assert gap < 1e-5, f"{solver.name}: batch member {i} differs from its own solve by {gap:.2e}"


def check_gradient_matches_exact_derivative(solver: Solver) -> None:
    """A solver declared ``differentiable`` gives d x(T) / d x0 equal to the exact derivative (to 1 %).

    Run accurately: tolerances 1e-9 for adaptive solvers, steps of 2^-10 for fixed-step ones.
    """
    if not solver.differentiable:
        return
    accurate = {"rtol": 1e-9, "atol": 1e-9} if "rtol" in solver.default_options else {"step_size": 2.0**-10}
    problem = LogisticProblem()
    t = torch.linspace(0.0, 1.0, 3, dtype=torch.float64)
    x0 = problem.default_x0().requires_grad_(True)
    _with(solver, **accurate).solve(problem, x0, t)[-1].sum().backward()
    assert x0.grad is not None, f"{solver.name}: no gradient reached x0"
    exact = problem.exact_derivative(1.0, x0.detach())
    for i in range(problem.dim):
        assert math.isclose(float(x0.grad[i]), float(exact[i]), rel_tol=1e-2), (
            f"{solver.name}: d x_{i}(1) / d x0_{i} = {float(x0.grad[i]):.6g}, exact {float(exact[i]):.6g}"
        )


def check_step_budget_is_solver_error(solver: Solver) -> None:
    """A solver with a ``max_steps`` budget raises SolverError naming it when the budget runs out."""
    if "max_steps" not in solver.default_options:
        return
    tight = {"max_steps": 3}
    if "rtol" in solver.default_options:
        tight.update(rtol=1e-10, atol=1e-10)
    try:
        _with(solver, **tight).solve(LogisticProblem(), LogisticProblem().default_x0(), torch.linspace(0.0, 2.0, 3))
    except SolverError as exc:
        assert "budget" in str(exc) and "\n" not in str(exc), f"unhelpful message: {exc}"
        return
    raise AssertionError(f"{solver.name}: 3 steps at rtol 1e-10 did not exhaust the step budget")


def check_supports_answers_none_or_reason(solver: Solver) -> None:
    """``supports`` accepts the test problem (it has every capability) and answers None or a one-line reason otherwise."""
    assert solver.supports(LogisticProblem()) is None, f"{solver.name} refuses a problem with a semilinear split"
    reason = solver.supports(lambda t, x: -x)
    assert reason is None or (isinstance(reason, str) and reason and "\n" not in reason), repr(reason)


CHECKS = [
    check_declares_capabilities,
    check_unknown_option_is_config_error,
    check_supports_answers_none_or_reason,
    check_solve_shape_dtype_and_start,
    check_matches_exact_solution,
    check_batched_matches_unbatched,
    check_convergence_order,
    check_order_holds_at_outputs_between_steps,
    check_gradient_matches_exact_derivative,
    check_step_budget_is_solver_error,
]
#: Checks that need a declared capability (none here: every check applies to every component of this kind).
REQUIRES: dict = {}
