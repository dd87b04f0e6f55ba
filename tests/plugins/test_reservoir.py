"""dyncore-reservoir: the ``esn`` model passes the conformance kit, matches ReservoirPy, fits in one call."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("reservoirpy")
pytest.importorskip("dyncore_reservoir")

import dyncore  # noqa: E402
from dyncore.errors import ConfigError, DataError  # noqa: E402
from dyncore.testing import parametrize_with_checks  # noqa: E402
from dyncore.testing.models import decaying_rotation  # noqa: E402


@parametrize_with_checks(["models:esn", dyncore.models.create("esn", reservoir=40, leak=0.5, washout=5)] if "esn" in dyncore.models else [])
def test_conformance(component, check):
    check(component)


def test_reservoir_states_equal_reservoirpy():
    """The torch update reproduces ReservoirPy's Reservoir.run on the same weights (the model wraps it, not re-invents it)."""
    from reservoirpy.nodes import Reservoir

    model = dyncore.models.create("esn", reservoir=50, leak=0.3)
    torch.manual_seed(0)
    data = decaying_rotation(60)
    model.prepare(data)
    res = Reservoir(units=50, lr=0.3, W=model.W.numpy(), Win=model.W_in.numpy(), bias=model.bias.numpy())
    u = (data.x - model.mean.numpy()) / model.scale.numpy()
    expected = res.run(u)
    with torch.no_grad():
        got = model._teacher_forced(torch.as_tensor(u)[:, None])[:, 0].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_fits_in_one_call_and_reloads_without_pickles(tmp_path):
    """Default recipe is closed_form: one History row; weights.pt holds tensors only; reload rolls out identically."""
    data = decaying_rotation(200)
    run = dyncore.train("esn", data, out=tmp_path / "run", seed=3)
    assert len(run.history) == 1 and run.history.loss[0] < 1e-4
    assert json.loads((tmp_path / "run" / "config.json").read_text())["trainer"]["name"] == "closed_form"
    state = torch.load(tmp_path / "run" / "weights.pt", weights_only=True)
    assert {"W", "W_in", "readout", "readout_bias", "mean", "scale", "dt"} <= set(state)
    loaded = dyncore.Run.load(tmp_path / "run")
    k = run.model.context_length
    context, t = torch.as_tensor(data.x[:k]), torch.as_tensor(data.t[:80])
    with torch.no_grad():
        a, b = run.model.rollout(context, t), loaded.model.rollout(context, t)
    assert torch.equal(a, b)
    assert float((a - torch.as_tensor(data.x[:80])).abs().max()) < 1e-2  # a linear decaying rotation is easy


def test_seed_changes_the_reservoir():
    data = decaying_rotation(60)
    a, b = (dyncore.train("esn", data, seed=s, hparams={"reservoir": 30}).model for s in (0, 1))
    assert not torch.equal(a.W, b.W)


def test_bad_input():
    for hparams in ({"reservoir": 0}, {"leak": 1.5}, {"spectral_radius": float("nan")}, {"ridge": -1}):
        with pytest.raises(ConfigError):
            dyncore.models.create("esn", **hparams)
    model = dyncore.train("esn", decaying_rotation(60), hparams={"reservoir": 20}).model
    with pytest.raises(DataError, match="trained with dt"):
        model.rollout(torch.as_tensor(decaying_rotation(60).x[: model.context_length]), torch.arange(40, dtype=torch.float64) * 0.05)
