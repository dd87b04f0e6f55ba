"""The built-in solvers: the conformance kit (with measured convergence orders) and their errors."""

from __future__ import annotations

import pytest
import torch

import dyncore
from dyncore.errors import ConfigError, SolverError
from dyncore.testing import parametrize_with_checks
from dyncore.testing.solvers import LogisticProblem

TORCHDIFFEQ = ["dopri5", "dopri8", "bosh3", "rk4", "midpoint", "euler"]
SCIPY = ["rk45", "dop853", "radau", "bdf", "lsoda"]
SOLVERS = TORCHDIFFEQ + [f"{n}_adjoint" for n in TORCHDIFFEQ] + SCIPY + ["etdrk4"]


def test_every_builtin_solver_is_registered():
    assert set(SOLVERS) <= set(dyncore.solvers.names())


@parametrize_with_checks([f"solvers:{name}" for name in SOLVERS])
def test_conformance(component, check):
    check(component)


@pytest.mark.parametrize("name, differentiable, stiff", [("dopri5", True, False), ("radau", False, True), ("etdrk4", True, True)])
def test_declared_capabilities(name, differentiable, stiff):
    cls = dyncore.solvers.get(name)
    assert (cls.differentiable, cls.stiff) == (differentiable, stiff)


def test_torchdiffeq_rk4_is_the_three_eighths_rule():
    # The 3/8 rule evaluates the field at t, t + h/3, t + 2h/3, t + h; classic RK4 at t, t + h/2 (twice), t + h.
    seen = []

    def f(t, x):
        seen.append(round(float(t), 6))
        return x

    dyncore.solvers.create("rk4").solve(f, torch.ones(1, dtype=torch.float64), torch.tensor([0.0, 1.0], dtype=torch.float64))
    assert seen == [0.0, round(1 / 3, 6), round(2 / 3, 6), 1.0]


def test_etdrk4_refuses_a_system_without_a_semilinear_split():
    solver = dyncore.solvers.create("etdrk4")
    lorenz = dyncore.systems.create("lorenz")
    assert "semilinear" in solver.supports(lorenz)
    with pytest.raises(SolverError, match="semilinear"):
        solver.solve(lorenz, lorenz.default_x0(), lorenz.default_times()[:3])


def test_etdrk4_numpy_and_torch_paths_agree_on_kuramoto_sivashinsky():
    ks = dyncore.systems.create("kuramoto_sivashinsky")
    x0 = ks.random_x0(2, seed=0)
    t = 0.25 * torch.arange(21, dtype=torch.float64)
    solver = dyncore.solvers.create("etdrk4")
    with torch.no_grad():
        fast = solver.solve(ks, x0, t)  # numpy path: no gradient needed
    differentiable = solver.solve(ks, x0.clone().requires_grad_(True), t)  # torch path
    assert differentiable.requires_grad and not fast.requires_grad
    torch.testing.assert_close(fast, differentiable.detach(), rtol=0, atol=1e-10)


def test_etdrk4_rejects_a_bad_step_size():
    with pytest.raises(ConfigError, match="step_size"):
        dyncore.solvers.create("etdrk4", step_size=-1.0)


def test_scipy_uses_the_autograd_jacobian_when_the_system_has_none():
    problem = LogisticProblem()  # no jacobian(): radau falls back to autograd
    x0 = torch.tensor([[0.5, 1.0], [0.2, 0.3]], dtype=torch.float64)
    t = torch.linspace(0.0, 2.0, 5, dtype=torch.float64)
    x = dyncore.solvers.create("radau", rtol=1e-10, atol=1e-12).solve(problem, x0, t)
    assert float((x - problem.exact(t, x0)).abs().max()) < 1e-8


def test_scipy_reports_a_blow_up_with_its_time():
    def explode(t, x):
        return x * x

    with pytest.raises(SolverError, match=r"at t = (1|0\.99\d*) of"):  # x' = x^2 from 1 blows up at t = 1
        dyncore.solvers.create("dop853").solve(explode, torch.ones(1, dtype=torch.float64), torch.linspace(0, 2, 3))


def test_torchdiffeq_budget_on_stiff_van_der_pol_suggests_an_implicit_solver():
    vdp = dyncore.systems.create("van_der_pol", mu=1000.0)
    with pytest.raises(SolverError, match="stiff.*'radau'"):
        dyncore.solvers.create("dopri5", max_steps=200).solve(vdp, vdp.default_x0(), torch.linspace(0, 3000, 3))
