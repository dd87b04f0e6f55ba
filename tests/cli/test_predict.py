"""`dyncore predict`: rollouts from a run directory, from --x0 or --data, on a chosen grid; refusals."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from dyncore.cli import cli
from dyncore.run import train
from dyncore.testing.models import decaying_rotation
from dyncore.trajectory import Trajectory


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    data = decaying_rotation(n=40)
    for model in ("node", "rnn"):
        train(model, data, hparams={"hidden": 8}, out=root / model, epochs=3, progress=False)
    return root


def predict(*args: str):
    return CliRunner().invoke(cli, ["predict", *args])


def test_default_start_and_grid_are_the_training_data(runs, tmp_path):
    out = tmp_path / "p.npz"
    result = predict(str(runs / "node"), "-o", str(out))
    assert result.exit_code == 0, result.output
    prediction = Trajectory.load(out)
    data = decaying_rotation(n=40)
    assert np.allclose(prediction.t, data.t) and np.allclose(prediction.x[0], data.x[0])
    assert prediction.meta["model"] == "node" and prediction.meta["start"] == "training data"


def test_x0_t_end_and_dt(runs, tmp_path):
    out = tmp_path / "p.csv"
    result = predict(str(runs / "node"), "--x0", "0.5,-0.5", "--t-end", "2", "--dt", "0.05", "-o", str(out))
    assert result.exit_code == 0, result.output
    prediction = Trajectory.load(out)
    assert prediction.n == 41 and np.allclose(prediction.x[0], [0.5, -0.5]) and np.isclose(prediction.t[-1], 2.0)


def test_data_file_gives_context_and_grid(runs, tmp_path):
    source = decaying_rotation(n=25).save(tmp_path / "d.npz")
    out = tmp_path / "p.npz"
    assert predict(str(runs / "rnn"), "--data", str(source), "-o", str(out)).exit_code == 0
    prediction = Trajectory.load(out)
    assert prediction.n == 25 and np.allclose(prediction.x[:3], decaying_rotation(n=25).x[:3])


@pytest.mark.parametrize(
    "run, args, code, message",
    [
        ("rnn", ["--dt", "0.2"], 2, "trained with dt = 0.1"),
        ("rnn", ["--x0", "1,2"], 2, "needs 6 numbers"),
        ("node", ["--x0", "1,x"], 2, "comma-separated"),
        ("node", ["--t-end", "-1"], 2, "--t-end must be after"),
        ("missing", [], 1, "not a run directory"),
    ],
)
def test_bad_input_is_one_line(runs, tmp_path, run, args, code, message):
    out = tmp_path / "p.npz"
    result = predict(str(runs / run), *args, "-o", str(out))
    assert result.exit_code == code, result.output
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert not out.exists()


def test_existing_output_needs_force(runs, tmp_path):
    out = tmp_path / "p.npz"
    out.write_bytes(b"keep")
    result = predict(str(runs / "node"), "-o", str(out))
    assert result.exit_code == 1 and "--force" in result.stderr and out.read_bytes() == b"keep"
    assert predict(str(runs / "node"), "-o", str(out), "--force").exit_code == 0


@pytest.mark.parametrize("model", ["rnn", "node"])
def test_a_diverging_rollout_blames_the_model_not_the_data(runs, tmp_path, model):
    """Weights scaled to 1e200 make the rollout overflow: the message says the model diverged (and when), exit 1."""
    import shutil

    import torch

    run = tmp_path / model
    shutil.copytree(runs / model, run)
    weights = torch.load(run / "weights.pt")
    torch.save({k: v * 1e200 if k.startswith(("cell.", "head.", "net.")) else v for k, v in weights.items()}, run / "weights.pt")
    out = tmp_path / "p.npz"
    result = predict(str(run), "-o", str(out))
    assert result.exit_code == 1, result.output
    assert f"the {model} model's rollout diverged" in result.stderr and "clean the data" not in result.stderr
    assert result.stderr.count("\n") == 1 and not out.exists()
    if model == "rnn":
        assert "NaN/Inf at t = 0.3 (finite up to t = 0.2)" in result.stderr
