"""The built-in solvers: the conformance kit (with measured convergence orders) and their errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import dyncore
from dyncore.errors import ConfigError, SolverError
from dyncore.testing import parametrize_with_checks
from dyncore.testing.solvers import LogisticProblem

TORCHDIFFEQ = ["dopri5", "tsit5", "dopri8", "bosh3", "rk4", "midpoint", "euler"]
SCIPY = ["rk45", "dop853", "radau", "bdf", "lsoda"]
SOLVERS = TORCHDIFFEQ + SCIPY + ["etdrk4"]


def test_every_builtin_solver_is_registered():
    assert set(SOLVERS) <= set(dyncore.solvers.names())


@parametrize_with_checks([f"solvers:{name}" for name in SOLVERS] + [dyncore.solvers.create(n, adjoint=True) for n in TORCHDIFFEQ])
def test_conformance(component, check):
    check(component)


@pytest.mark.parametrize("name", TORCHDIFFEQ)
def test_old_adjoint_names_are_deprecated_aliases_of_the_option(name):
    with pytest.warns(DeprecationWarning, match=rf"'{name}_adjoint' is deprecated .*use '{name}' with adjoint=True"):
        solver = dyncore.solvers.create(f"{name}_adjoint")
    assert type(solver) is dyncore.solvers.get(name) and solver.adjoint and solver.options["adjoint"] is True
    with pytest.warns(DeprecationWarning):
        assert dyncore.solvers.get(f"{name}_adjoint")().adjoint
    assert "deprecated alias" in {s.name: s.summary for s in dyncore.solvers.specs()}[f"{name}_adjoint"]


def test_adjoint_gradient_matches_backprop():
    class Field(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(2, 2, dtype=torch.float64)

        def forward(self, t, x):
            return torch.tanh(self.linear(x))

    f = Field()
    x0 = torch.tensor([1.0, -0.5], dtype=torch.float64)
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    grads = []
    for adjoint in (False, True):
        f.zero_grad()
        dyncore.solvers.create("dopri5", adjoint=adjoint, rtol=1e-10, atol=1e-10).solve(f, x0, t)[-1].sum().backward()
        grads.append(f.linear.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-6, atol=1e-8)


def test_adjoint_option_must_be_a_bool():
    with pytest.raises(ConfigError, match="adjoint must be true or false"):
        dyncore.solvers.create("rk4", adjoint="yes")


def test_the_old_adjoint_class_names_still_import():
    from dyncore_solvers import torchdiffeq_backend

    with pytest.warns(DeprecationWarning, match=r"RK4Adjoint is deprecated.*RK4\(adjoint=True\)"):
        cls = torchdiffeq_backend.RK4Adjoint
    assert cls().adjoint and issubclass(cls, torchdiffeq_backend.RK4)


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


@pytest.mark.parametrize("name", ["dop853", "radau"])
def test_a_step_that_never_completes_is_a_solver_error_not_a_hang(name):
    def nan_field(t, x):  # what a NaN parameter given through the Python API used to do: rejected steps forever
        return x * float("nan")

    with pytest.raises(SolverError, match=r"(made no progress|failed) at t = 0 of \[0, 1\].* NaN/Inf") as info:
        dyncore.solvers.create(name).solve(nan_field, torch.ones(2, dtype=torch.float64), torch.linspace(0, 1, 3))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["dop853", "rk45", "radau", "lsoda", "dopri5", "tsit5", "bosh3"])
@pytest.mark.parametrize(("option", "value"), [("rtol", -1.0), ("atol", 0.0), ("rtol", float("nan")), ("max_steps", 0), ("max_steps", 2.5)])
def test_adaptive_solver_options_are_checked_when_the_solver_is_made(name, option, value):
    with pytest.raises(ConfigError, match=f"solver '{name}': option {option} must be"):
        dyncore.solvers.create(name, **{option: value})


@pytest.mark.parametrize("name", ["rk4", "euler", "midpoint", "dopri5", "dop853"])
@pytest.mark.parametrize("step", [-1, 0, float("inf"), True])
def test_step_size_must_be_positive_and_finite(name, step):
    with pytest.raises(ConfigError, match="option step_size must be a positive number"):
        dyncore.solvers.create(name, step_size=step)


def test_a_whole_number_budget_from_the_command_line_is_an_integer():
    assert dyncore.solvers.create("dop853", max_steps=1e5).options["max_steps"] == 100_000


def test_torchdiffeq_budget_on_stiff_van_der_pol_suggests_an_implicit_solver():
    vdp = dyncore.systems.create("van_der_pol", mu=1000.0)
    with pytest.raises(SolverError, match="stiff.*'radau'"):
        dyncore.solvers.create("dopri5", max_steps=200).solve(vdp, vdp.default_x0(), torch.linspace(0, 3000, 3))


# -- Tsit5: a tableau dyncore declares itself on torchdiffeq's internals --------------------------------
def _trees(order: int) -> list[tuple]:
    """All rooted trees with ``order`` nodes, each a sorted tuple of its subtrees (a leaf is ``()``)."""
    if order == 1:
        return [()]
    found = set()
    for size in range(1, order):  # one child of `size` nodes hangs off the root of a smaller tree
        for child in _trees(size):
            for rest in _trees(order - size):
                found.add(tuple(sorted((*rest, child))))
    return sorted(found)


def _size(tree: tuple) -> int:
    return 1 + sum(_size(child) for child in tree)


def _density(tree: tuple) -> int:
    return _size(tree) * math.prod(_density(child) for child in tree)


def _stage_product(tree: tuple, a: np.ndarray) -> np.ndarray:
    out = np.ones(len(a))
    for child in tree:
        out = out * (a @ _stage_product(child, a))
    return out


def _order_defects(weights: np.ndarray, a: np.ndarray, order: int, theta: float = 1.0) -> list[float]:
    """``w . Phi(t) - theta^|t| / gamma(t)`` for every tree up to ``order``: all ~0 iff ``w`` has that order at ``theta h``."""
    return [
        float(weights @ _stage_product(tree, a) - theta ** _size(tree) / _density(tree))
        for n in range(1, order + 1)
        for tree in _trees(n)
    ]


def test_tsit5_tableau_orders():
    from dyncore_solvers import tsit5

    assert [len(_trees(n)) for n in range(1, 6)] == [1, 1, 2, 4, 9]
    tableau = tsit5.TABLEAU
    c = np.concatenate([[0.0], tableau.alpha.numpy()])
    a = np.zeros((7, 7))
    for i, row in enumerate(tableau.beta, start=1):
        a[i, : len(row)] = row.numpy()
    np.testing.assert_allclose(a.sum(axis=1), c, rtol=0, atol=1e-15)  # each row of A sums to its node
    b, error = tableau.c_sol.numpy(), tableau.c_error.numpy()
    np.testing.assert_array_equal(a[-1], b)  # first same as last
    assert max(map(abs, _order_defects(b, a, 5))) < 1e-13  # round-off: coefficients up to 13 cancel
    embedded = _order_defects(b - error, a, 5)
    assert max(map(abs, embedded[:8])) < 1e-13 < 1e-5 < max(map(abs, embedded[8:]))  # order 4 exactly
    assert max(map(abs, _order_defects(tsit5.MID.numpy(), a, 4, theta=0.5))) < 1e-13  # half-step state


def test_tsit5_dense_output_is_fifth_order_locally():
    # Inside one step the output comes from torchdiffeq's quartic through y0, y(h/2), y1; a wrong MID
    # (say b / 2) makes this error fall like h^2 instead of h^5.
    problem, steps = LogisticProblem(), [0.4, 0.2, 0.1, 0.05]
    x0, errors = problem.default_x0(), []
    for h in steps:
        t = torch.tensor([0.0, 0.3 * h, 0.5 * h, 0.8 * h, h], dtype=torch.float64)
        x = dyncore.solvers.create("tsit5", step_size=h).solve(problem, x0, t)
        errors.append(float((x - problem.exact(t, x0))[1:4].abs().max()))
    assert np.polyfit(np.log(steps), np.log(errors), 1)[0] > 4.5, errors


def _solve_counting(name: str, system, x0: torch.Tensor, t: torch.Tensor, **options) -> tuple[torch.Tensor, int]:
    """The states from solver ``name`` and how many times it evaluated the field."""
    calls = []

    def field(s, x):
        calls.append(s)
        return system(s, x)

    return dyncore.solvers.create(name, **options).solve(field, x0, t), len(calls)


def test_tsit5_on_lorenz_matches_dop853_with_no_more_work_than_dopri5():
    lorenz = dyncore.systems.create("lorenz")
    x0, t = lorenz.default_x0(), torch.linspace(0.0, 1.0, 11, dtype=torch.float64)
    reference = dyncore.solvers.create("dop853", rtol=1e-11, atol=1e-11).solve(lorenz, x0, t)
    x, tsit5_work = _solve_counting("tsit5", lorenz, x0, t, rtol=1e-8, atol=1e-8)
    _, dopri5_work = _solve_counting("dopri5", lorenz, x0, t, rtol=1e-8, atol=1e-8)
    assert float((x - reference).abs().max()) < 1e-6
    assert tsit5_work <= 1.1 * dopri5_work, (tsit5_work, dopri5_work)


def test_tsit5_refuses_a_torchdiffeq_method_name_that_is_taken():
    from dyncore_solvers.tsit5 import register_method

    with pytest.raises(SolverError, match="already has a method named 'dopri5'"):
        register_method("dopri5")


# -- outputs carry the method's order (issue 11, items 15 and 21) -----------------------------------------
# (the order at outputs between steps is the kit's check_order_holds_at_outputs_between_steps, run above)
def test_rk4_with_a_finer_step_is_more_accurate_everywhere_on_lorenz():
    lorenz = dyncore.systems.create("lorenz")
    x0, t = lorenz.default_x0(), torch.linspace(0.0, 1.0, 101, dtype=torch.float64)
    reference = dyncore.solvers.create("dop853", rtol=1e-13, atol=1e-13).solve(lorenz, x0, t)
    fine = dyncore.solvers.create("rk4", step_size=3e-3).solve(lorenz, x0, t)  # 4 steps per output
    coarse = dyncore.solvers.create("rk4", step_size=1e-2).solve(lorenz, x0, t)
    assert float((fine - reference).abs().max()) < float((coarse - reference).abs().max()) / 50


def test_dopri8_outputs_are_more_accurate_than_dopri5s():
    # torchdiffeq's dopri8 dense output is fourth order: 3.7e-7 here against dopri5's 2e-10.
    lorenz = dyncore.systems.create("lorenz")
    x0, t = lorenz.default_x0(), torch.linspace(0.0, 1.0, 101, dtype=torch.float64)
    reference = dyncore.solvers.create("dop853", rtol=1e-13, atol=1e-13).solve(lorenz, x0, t)
    tight = {"rtol": 1e-12, "atol": 1e-12}
    dopri8 = float((dyncore.solvers.create("dopri8", **tight).solve(lorenz, x0, t) - reference).abs().max())
    dopri5 = float((dyncore.solvers.create("dopri5", **tight).solve(lorenz, x0, t) - reference).abs().max())
    assert dopri8 < 1e-10 and dopri8 < dopri5, (dopri8, dopri5)


def test_fixed_step_solvers_take_at_most_the_systems_own_step_on_a_coarse_grid():
    ks = dyncore.systems.create("kuramoto_sivashinsky")
    coarse = dyncore.simulate(ks, t=np.linspace(0.0, 100.0, 3), transient=100)  # blew up: steps of 50
    fine = dyncore.simulate(ks, t=np.linspace(0.0, 100.0, 401), transient=100)  # the system's own 0.25
    np.testing.assert_allclose(coarse.x, fine.x[::200], rtol=0, atol=1e-8)
    batch = dyncore.simulate(ks, t=np.linspace(0.0, 100.0, 3), transient=100, batch=2)
    assert np.all(np.isfinite(batch.x))
    lorenz = dyncore.systems.create("lorenz")  # rk4 too: steps <= 0.01 (its grid's spacing), not 0.5
    t = torch.linspace(0.0, 2.0, 5, dtype=torch.float64)
    coarse = dyncore.solvers.create("rk4").solve(lorenz, lorenz.default_x0(), t)
    reference = dyncore.solvers.create("dop853", rtol=1e-12, atol=1e-12).solve(lorenz, lorenz.default_x0(), t)
    assert float((coarse - reference).abs().max()) < 1e-2


def test_etdrk4_torch_coefficients_equal_numpys_and_are_differentiable():
    """The torch coefficients (for a learned L) are the numpy ones, per-example steps broadcast, and gradients reach L."""
    from dyncore_solvers.etdrk4 import etdrk4_coefficients, etdrk4_coefficients_torch

    linear = torch.tensor([0.3, 0.0, -2.0, -700.0], dtype=torch.float64, requires_grad=True)
    for ours, theirs in zip(etdrk4_coefficients_torch(linear, 0.25), etdrk4_coefficients(linear.detach().numpy(), 0.25)):
        np.testing.assert_allclose(ours.detach().numpy(), theirs, rtol=1e-12, atol=1e-15)
    steps = torch.tensor([[0.1], [0.25]], dtype=torch.float64)
    batched = etdrk4_coefficients_torch(linear, steps)
    assert batched[0].shape == (2, 4)
    np.testing.assert_allclose(batched[2][0].detach().numpy(), etdrk4_coefficients(linear.detach().numpy(), 0.1)[2], rtol=1e-12)
    assert torch.autograd.gradcheck(lambda lin: etdrk4_coefficients_torch(lin, 0.25)[3], (linear,))
