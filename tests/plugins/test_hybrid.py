"""The hybrid (knowledge-based) Neural ODE: conformance, the known model alone, gradients, runs, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import dyncore
from dyncore.errors import CheckpointError, ConfigError
from dyncore.testing import parametrize_with_checks


def hybrid(**hparams):
    return dyncore.models.create("hybrid", **hparams)


@pytest.fixture(scope="module")
def lorenz_data():
    return dyncore.simulate("lorenz", t=np.linspace(0.0, 2.0, 201))


@parametrize_with_checks(
    [
        hybrid(known="spiral", hidden=16),
        hybrid(known="van_der_pol", known_params={"mu": 2.0}, coupling="additive", linear=False, hidden=16, dtype="float64"),
    ]
)
def test_conformance(component, check):
    check(component)


@pytest.mark.parametrize("coupling", ["mixing", "additive"])
def test_the_exact_known_model_and_the_initial_network_are_the_system(lorenz_data, coupling):
    """Before training the learned part is zero: the field, rollout and loss are the known system's."""
    lorenz = dyncore.systems.create("lorenz")
    model = hybrid(known="lorenz", coupling=coupling, dtype="float64", rollout_options={"rtol": 1e-10, "atol": 1e-10})
    model.prepare(lorenz_data)
    x = torch.as_tensor(lorenz_data.x)
    torch.testing.assert_close(model.vector_field(0.0, x), lorenz(torch.tensor(0.0), x), rtol=1e-12, atol=1e-9)
    with torch.no_grad():
        rolled = model.rollout(x[:1], torch.as_tensor(lorenz_data.t)).numpy()
        loss = float(model.loss(model.examples(lorenz_data)))
    np.testing.assert_allclose(rolled, lorenz_data.x, atol=1e-6)
    assert loss < 1e-10  # one RK4 step of the true field


def test_a_wrong_known_model_is_corrected_by_training(lorenz_data):
    model = hybrid(known="lorenz", known_params="rho=25.2", hidden=32)
    run = dyncore.train(model, lorenz_data, epochs=150, progress=False)
    assert run.history.loss[-1] < 0.01 * run.history.loss[0]


def test_gradients_match_finite_differences(lorenz_data):
    """Central differences of the loss in a few entries of every parameter (float64) equal autograd's gradient."""
    model = hybrid(known="lorenz", known_params="rho=25", hidden=4, dtype="float64")
    model.prepare(lorenz_data)
    torch.manual_seed(0)
    with torch.no_grad():  # move off the zero start, where the hidden layer gets no gradient
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    batch = {k: v[:20] for k, v in model.examples(lorenz_data).items()}
    model.zero_grad()
    model.loss(batch).backward()
    eps = 1e-6
    for name, p in model.named_parameters():
        flat, grad = p.data.view(-1), p.grad.view(-1)
        for i in range(min(3, flat.numel())):
            saved = float(flat[i])
            with torch.no_grad():
                flat[i] = saved + eps
                up = float(model.loss(batch))
                flat[i] = saved - eps
                down = float(model.loss(batch))
                flat[i] = saved
            assert (up - down) / (2 * eps) == pytest.approx(float(grad[i]), rel=1e-5, abs=1e-10), (name, i)


def test_run_saves_the_known_model_and_reloads(tmp_path, lorenz_data):
    out = tmp_path / "run"
    run = dyncore.train(hybrid(known="lorenz", known_params="rho=25.2", hidden=8), lorenz_data, epochs=3, out=out, progress=False)
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["hparams"]["known"] == "lorenz" and config["model"]["hparams"]["known_params"] == "rho=25.2"
    loaded = dyncore.Run.load(out)
    assert loaded.model.known.params["rho"] == 25.2
    t = torch.as_tensor(lorenz_data.t[:50])
    with torch.no_grad():
        torch.testing.assert_close(loaded.model.rollout(torch.as_tensor(lorenz_data.x[:1]), t),
                                   run.model.rollout(torch.as_tensor(lorenz_data.x[:1]), t))


def test_a_run_whose_known_system_is_gone_fails_to_load_in_one_line(tmp_path, lorenz_data):
    out = tmp_path / "run"
    dyncore.train(hybrid(known="lorenz", hidden=8), lorenz_data, epochs=1, out=out, progress=False)
    config = json.loads((out / "config.json").read_text())
    config["model"]["hparams"]["known"] = "lorenz_from_an_uninstalled_plugin"
    (out / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="known system 'lorenz_from_an_uninstalled_plugin' is not installed") as info:
        dyncore.Run.load(out)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "hparams, match",
    [
        ({}, "needs the known model"),
        ({"known": "lorenzz"}, "did you mean 'lorenz'"),
        ({"known": "lorenz", "known_params": "rhoo=25"}, "known_params for 'lorenz'.*did you mean 'rho'"),
        ({"known": "lorenz", "known_params": 3}, "known_params must be a dict"),
        ({"known": "lorenz", "coupling": "multiply"}, "coupling must be one of mixing, additive"),
        ({"known": "lorenz", "linear": "yes"}, "linear must be true or false"),
    ],
)
def test_bad_hyperparameters_are_one_line_config_errors(hparams, match):
    with pytest.raises(ConfigError, match=match):
        hybrid(**hparams)


def test_a_known_system_of_another_dimension_is_refused_before_training(tmp_path):
    data = dyncore.simulate("spiral", t=np.linspace(0.0, 1.0, 11))
    with pytest.raises(ConfigError, match="has dimension 3, the data 2"):
        dyncore.train(hybrid(known="lorenz"), data, epochs=1, out=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
