"""dyncore-sindy: the ``sindy`` model passes the conformance kit, identifies Lorenz, saves without pickles."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("pysindy")
pytest.importorskip("dyncore_sindy")

import dyncore  # noqa: E402
from dyncore.errors import ConfigError  # noqa: E402
from dyncore.testing import parametrize_with_checks  # noqa: E402
from dyncore.testing.models import decaying_rotation  # noqa: E402


@parametrize_with_checks(["models:sindy", dyncore.models.create("sindy", degree=3, threshold=0.01)] if "sindy" in dyncore.models else [])
def test_conformance(component, check):
    check(component)


@pytest.fixture(scope="module")
def lorenz_data():
    return dyncore.systems.create("lorenz").simulate()


def test_identifies_lorenz_in_one_call(lorenz_data, tmp_path):
    """Default recipe (closed_form, degree 2, threshold 0.1): the seven Lorenz terms within 5 %, nothing else.

    (Second-order finite differences at dt = 0.01 bias the y coefficient by 3.4 %: -0.966 for -1.)
    """
    run = dyncore.train("sindy", lorenz_data, out=tmp_path / "run")
    assert len(run.history) == 1 and run.config["trainer"]["name"] == "closed_form"
    xi = run.model.coefficients.detach().numpy()
    names = run.model.features
    true = {(0, "x0"): -10.0, (0, "x1"): 10.0, (1, "x0"): 28.0, (1, "x1"): -1.0, (1, "x0 x2"): -1.0, (2, "x2"): -8 / 3, (2, "x0 x1"): 1.0}
    kept = {(i, names[f]): xi[f, i] for f, i in zip(*np.nonzero(xi))}
    assert set(kept) == set(true), kept
    for key, value in true.items():
        assert kept[key] == pytest.approx(value, rel=0.05), key


def test_run_directory_holds_no_pickle_and_reloads(lorenz_data, tmp_path):
    """Coefficients in weights.pt (tensors only), feature names in config.json; Run.load rolls out identically."""
    run = dyncore.train("sindy", lorenz_data, out=tmp_path / "run")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["features"][:4] == ["1", "x0", "x1", "x2"]
    state = torch.load(tmp_path / "run" / "weights.pt", weights_only=True)
    assert set(state) == {"coefficients", "powers"}
    loaded = dyncore.Run.load(tmp_path / "run")
    t = torch.as_tensor(lorenz_data.t[:50])
    x0 = torch.as_tensor(lorenz_data.x[:1])
    with torch.no_grad():
        assert torch.equal(loaded.model.rollout(x0, t), run.model.rollout(x0, t))


def test_all_zero_model_is_one_line_config_error():
    """A threshold above every coefficient leaves no term: a ConfigError naming the threshold, nothing trained."""
    with pytest.raises(ConfigError, match="kept no term.*threshold") as info:
        dyncore.train("sindy", decaying_rotation(), hparams={"threshold": 100.0})
    assert "\n" not in str(info.value)


def test_bad_hyperparameters_are_refused():
    for hparams in ({"degree": 0}, {"threshold": -1}, {"alpha": "x"}, {"rollout_options": 3}):
        with pytest.raises(ConfigError):
            dyncore.models.create("sindy", **hparams)
