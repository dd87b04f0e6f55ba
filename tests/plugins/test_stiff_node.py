"""The stiff_node model, its data (an implicit solver's own steps), the stiff recipe and implicit solvers on learned fields."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from dyncore_solvers.scipy_backend import autograd_jacobian
from dyncore_solvers.step_grid import step_grid, stiff_data

import dyncore
from dyncore.errors import ConfigError, SolverError
from dyncore.testing import parametrize_with_checks
from dyncore.trajectory import Trajectory


@parametrize_with_checks(["models:stiff_node"])
def test_conformance(component, check):
    check(component)


@pytest.fixture(scope="module")
def vdp_data():
    """Van der Pol at mu = 100, 2 random starts over a third of a period: two fast phases (the start, a jump)."""
    return stiff_data("van_der_pol", batch=2, seed=0, t_end=60.0, mu=100.0)


def test_step_grid_is_dense_where_the_motion_is_fast():
    system = dyncore.systems.create("van_der_pol", mu=100.0)
    grid = step_grid(system, [[2.0, 0.0]], 100.0)
    assert grid[0] == 0.0 and grid[-1] == 100.0 and np.all(np.diff(grid) > 0)
    x = system.simulate([2.0, 0.0], grid).x
    speed = np.abs(np.diff(x[:, 0])) / np.diff(grid)
    steps = np.diff(grid)
    # the jump (|dx/dt| > 1) is crossed in steps a thousand times shorter than the slow drift's longest
    assert np.median(steps[speed > 1.0]) * 1000 < np.max(steps[speed < 0.1])


def test_fast_components_are_found_and_the_fit_is_closed_form(vdp_data):
    run = dyncore.train("stiff_node", vdp_data, seed=0, progress=False)
    model = run.model
    assert model.fast_mask.tolist() == [0.0, 1.0]  # the velocity makes brief large excursions
    assert len(run.history) == 1 and run.history.loss[-1] < 1e-4


def test_without_fast_components_the_field_is_a_plain_mlp(vdp_data):
    model = dyncore.models.create("stiff_node", fast=[])
    model.prepare(vdp_data)
    assert not model.fast_mask.any() and not model.a_scale.any()


def test_learned_field_rolls_out_with_radau_and_follows_the_data(vdp_data):
    run = dyncore.train("stiff_node", vdp_data, seed=0, progress=False)
    t = torch.as_tensor(vdp_data.t)
    pred = run.model.rollout(torch.as_tensor(vdp_data.x[:1]), t).numpy()
    assert pred.shape == vdp_data.x.shape and np.all(np.isfinite(pred))
    assert np.max(np.abs(pred[:, :, 0] - vdp_data.x[:, :, 0])) < 0.05  # x through the jump, within 2.5 % of its range


def test_the_solver_gets_the_field_in_numpy_and_its_jacobian_by_autograd(vdp_data):
    from dyncore_models.stiff_node import SolverField

    model = dyncore.models.create("stiff_node")
    model.prepare(vdp_data)
    field = SolverField(model)
    z = torch.tensor([[0.3, 1e-3], [-0.5, 0.2]], dtype=torch.float64)
    assert np.allclose(field.numpy_vector_field(0.0, z.numpy()), field(0.0, z).detach().numpy(), rtol=1e-12, atol=0)
    jac = field.jacobian(torch.tensor(0.0), z).numpy()
    eps = 1e-7
    for j in range(2):
        dz = np.zeros(2)
        dz[j] = eps
        column = (field.numpy_vector_field(0.0, z.numpy() + dz) - field.numpy_vector_field(0.0, z.numpy() - dz)) / (2 * eps)
        assert np.allclose(jac[:, :, j], column, rtol=1e-5, atol=1e-6 * np.abs(column).max())


def test_a_longer_lookahead_scores_the_composite_trapezoidal_rule(vdp_data):
    run = dyncore.train("stiff_node", vdp_data, seed=0, progress=False)
    one, two = (run.model.loss(run.model.examples(vdp_data, k)) for k in (1, 2))
    assert one < 1e-4 and two < 1e-4 and one != two


@pytest.mark.parametrize("fast, message", [("v", "fast must be 'auto' or a list"), ([5], "beyond the data's 2"), ([0, 1], "leave at least one slow")])
def test_bad_fast_components_are_refused(vdp_data, fast, message):
    with pytest.raises(ConfigError, match=message):
        dyncore.models.create("stiff_node", fast=fast).prepare(vdp_data)


def test_the_stiff_recipe_trains_stiff_node_in_closed_form(vdp_data):
    run = dyncore.train("stiff_node", vdp_data, recipe="stiff", progress=False)
    assert run.config["recipe"]["name"] == "stiff" if isinstance(run.config["recipe"], dict) else run.config["recipe"] == "stiff"
    assert run.config["trainer"]["name"] == "closed_form" if isinstance(run.config["trainer"], dict) else run.config["trainer"] == "closed_form"
    with pytest.raises(ConfigError, match="recipe 'stiff' is made for stiff_node, not 'rnn'"):
        dyncore.train("rnn", vdp_data, recipe="stiff", progress=False)


def test_a_node_refuses_a_solver_it_cannot_train_through_when_built():
    with pytest.raises(ConfigError, match="solver 'radau' is not differentiable.*--recipe stiff"):
        dyncore.models.create("node", solver="radau")


@pytest.mark.parametrize("solver", ["radau", "bdf"])
def test_a_node_field_integrates_with_implicit_solvers_through_autograd_jacobians(solver):
    data = dyncore.simulate("van_der_pol", t=np.linspace(0.0, 5.0, 101))
    model = dyncore.models.create("node", hidden=8, rollout_solver=solver)
    model.prepare(data)
    out = model.rollout(torch.as_tensor(data.x[:1]), torch.as_tensor(data.t))
    assert out.shape == data.x.shape and torch.all(torch.isfinite(out))


def test_an_implicit_solver_on_a_field_without_autograd_says_so():
    def numpy_field(t, x):
        return torch.as_tensor(-np.asarray(x.detach()))

    with pytest.raises(SolverError, match="not differentiable by autograd.*jacobian\\(t, x\\) method or .*'dopri5'"):
        autograd_jacobian(numpy_field, torch.tensor(0.0), torch.ones(3, 2, dtype=torch.float64))
    with pytest.raises(SolverError, match="not differentiable by autograd"):
        dyncore.solvers.create("radau").solve(numpy_field, torch.ones(2, dtype=torch.float64), torch.linspace(0, 1, 5))


def test_trajectory_on_a_nonuniform_grid_trains(vdp_data):
    assert isinstance(vdp_data, Trajectory) and vdp_data.batched and not np.allclose(np.diff(vdp_data.t), vdp_data.t[1])
