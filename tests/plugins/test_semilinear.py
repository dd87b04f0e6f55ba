"""The semilinear PDE model: conformance, the true nonlinearity reproduces KS, gradients, runs, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import dyncore
from dyncore import Trajectory
from dyncore.errors import ConfigError, DataError
from dyncore.metrics import lyapunov_spectrum
from dyncore.testing import parametrize_with_checks

KS = "kuramoto_sivashinsky"


def semilinear(**hparams):
    return dyncore.models.create("semilinear", **hparams)


@pytest.fixture(scope="module")
def ks_data():
    """Two short KS trajectories (64 modes, dt 0.25) on the attractor: a batch, as the benchmark trains on."""
    return dyncore.simulate(KS, t=np.arange(41) * 0.25, batch=2, transient=100.0)


@parametrize_with_checks([semilinear(hidden=8, kernel=3), semilinear(network="mlp", hidden=8, dtype="float64")])
def test_conformance(component, check):
    check(component)


def with_true_nonlinearity(model, system):
    """``model`` with ``N_theta`` replaced by the system's own (dealiased) nonlinearity, in the model's scaled units."""
    scale = float(model.scale)
    model.nonlinear_grid = lambda z: system.from_spectral(system.nonlinear(0.0, system.to_spectral(z * scale))) / scale
    return model


@pytest.mark.parametrize("linear", ["known", "learned"])
def test_the_etdrk4_step_with_the_true_nonlinearity_is_the_systems_simulation(ks_data, linear):
    """With N_theta = KS's N (and, learned, L set to KS's), rollout and one-step loss are the simulation's to round-off."""
    ks = dyncore.systems.create(KS)
    model = semilinear(linear=linear, known=KS if linear == "known" else None, dtype="float64")
    model.prepare(ks_data)
    if linear == "learned":
        with torch.no_grad():
            model.linear_theta.copy_(ks.linear_operator() / model.linear_scale)
    with_true_nonlinearity(model, ks)
    with torch.no_grad():
        rolled = model.rollout(torch.as_tensor(ks_data.x[:1]), torch.as_tensor(ks_data.t)).numpy()
        loss = float(model.loss(model.examples(ks_data, lookahead=3)))
    np.testing.assert_allclose(rolled, ks_data.x, atol=1e-10)
    assert loss < 1e-24


def test_an_untrained_known_model_is_not_the_system(ks_data):
    """Guards the test above: the initial N_theta is not KS's, so the same comparison fails without the swap."""
    model = semilinear(linear="known", known=KS, dtype="float64")
    model.prepare(ks_data)
    with torch.no_grad():
        rolled = model.rollout(torch.as_tensor(ks_data.x[:1]), torch.as_tensor(ks_data.t)).numpy()
    assert np.abs(rolled - ks_data.x).max() > 0.1


def test_gradients_match_finite_differences():
    """torch.autograd.gradcheck of the multi-step loss in every parameter, learned L included, and in the start states."""
    t = np.arange(6) * 0.1
    x = np.random.default_rng(0).standard_normal((6, 8))
    data = Trajectory(t, x)
    model = semilinear(hidden=3, depth=1, kernel=3, dtype="float64")
    torch.manual_seed(0)
    model.prepare(data)
    with torch.no_grad():
        model.linear_theta.copy_(torch.linspace(0.5, -1.0, 5, dtype=torch.float64))
    batch = model.examples(data, lookahead=2)
    start = batch["x0"].clone().requires_grad_(True)
    params = tuple(model.parameters())

    def loss(x0, *_):
        return model.loss({**batch, "x0": x0})

    assert torch.autograd.gradcheck(loss, (start, *params), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_the_rollout_is_differentiable_so_lyapunov_exponents_can_be_measured(ks_data):
    model = semilinear(hidden=8, kernel=3, dtype="float64")
    model.prepare(ks_data)
    starts = torch.as_tensor(ks_data.x[-1])[None]  # (context_length, batch, dim)
    spectrum = lyapunov_spectrum(model, starts, dt=0.25, n_steps=4, n_transient=1, n_exponents=2)
    assert spectrum.exponents.shape == (2,) and np.isfinite(spectrum.exponents).all()


@pytest.mark.parametrize("linear", ["known", "learned"])
def test_a_run_saves_and_reloads(tmp_path, ks_data, linear):
    out = tmp_path / "run"
    hparams = {"linear": linear, "hidden": 8, **({"known": KS, "known_params": "L=22"} if linear == "known" else {})}
    run = dyncore.train("semilinear", ks_data, epochs=3, out=out, hparams=hparams, progress=False)
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["hparams"]["linear"] == linear
    loaded = dyncore.Run.load(out)
    context, t = torch.as_tensor(ks_data.x[:1, 0]), torch.as_tensor(ks_data.t)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model.rollout(context, t), run.model.rollout(context, t), rtol=0, atol=0)
    assert torch.equal(loaded.model.linear_operator(), run.model.linear_operator())


def test_training_lowers_the_loss_and_learns_a_linear_operator(ks_data):
    run = dyncore.train("semilinear", ks_data, epochs=40, hparams={"hidden": 16}, progress=False)
    assert run.history.loss[-1] < 0.5 * run.history.loss[0]
    assert run.model.linear_operator().detach().abs().max() > 0  # L moved off its zero start


def test_the_known_linear_operator_is_the_systems(ks_data):
    model = semilinear(linear="known", known=KS)
    model.prepare(ks_data)
    expected = dyncore.systems.create(KS).linear_operator().float()
    assert torch.equal(model.linear, expected) and not model.linear.requires_grad
    assert "linear" not in dict(model.named_parameters())


@pytest.mark.parametrize(
    "hparams, match",
    [
        ({"linear": "known"}, "linear=known needs the system that gives L"),
        ({"linear": "known", "known": "kuramoto_sivashinskyy"}, "did you mean 'kuramoto_sivashinsky'"),
        ({"linear": "known", "known": "lorenz"}, "known system 'lorenz' is not semilinear.*linear=learned"),
        ({"known": KS}, "known is used only with linear=known"),
        ({"linear": "exact"}, "linear must be one of learned, known"),
        ({"network": "cnn"}, "network must be one of conv, mlp"),
        ({"kernel": 4}, "kernel must be odd"),
        ({"rollout_options": {"step": 1}}, "unknown option 'step'"),
    ],
)
def test_bad_hyperparameters_are_one_line_config_errors(hparams, match):
    with pytest.raises(ConfigError, match=match) as info:
        semilinear(**hparams)
    assert "\n" not in str(info.value)


def _nonuniform_grid_data() -> Trajectory:
    x = np.random.default_rng(0).standard_normal((10, 8))
    return Trajectory(np.arange(10) * 0.1, x, {"grid": {"periodic": True, "x": [0, 1, 2, 3, 5, 6, 7, 8]}})


@pytest.mark.parametrize(
    "data, hparams, error, match",
    [
        (lambda: dyncore.simulate("lorenz", t=np.linspace(0, 1, 11)), {}, DataError, "from system 'lorenz', whose state is not one"),
        (_nonuniform_grid_data, {}, DataError, "grid points .* are not equally spaced"),
        (lambda: Trajectory(np.arange(5.0), np.ones((5, 8)), {"grid": {"periodic": False}}), {}, DataError, "grid.periodic = false"),
        (lambda: dyncore.simulate(KS, t=np.arange(3) * 0.25), {"linear": "known", "known": KS, "known_params": {"N": 32}},
         ConfigError, "has 32 grid points, the data 64"),
    ],
)
def test_bad_data_is_refused_before_training_and_nothing_is_written(tmp_path, data, hparams, error, match):
    with pytest.raises(error, match=match) as info:
        dyncore.train("semilinear", data(), epochs=1, hparams=hparams, out=tmp_path / "run", progress=False)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "run").exists()
