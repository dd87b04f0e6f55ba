"""`dyncore chaos-test` on data files: verdicts, JSON, plots, the oversampling warning, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_dyncore

import dyncore
from dyncore.testing.chaos import logistic_series


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("chaos_data")
    t = np.arange(5000) * 0.1
    dyncore.Trajectory(t, logistic_series(4.0, 5000)).save(folder / "logistic.npz")
    two = np.stack([np.sin(t), logistic_series(4.0, 5000)], axis=1)
    dyncore.Trajectory(t, two).save(folder / "two.npz")
    dyncore.Trajectory(t, np.full(5000, 2.5)).save(folder / "constant.npz")
    dyncore.Trajectory(t[:40], logistic_series(4.0, 40)).save(folder / "short.npz")
    irregular = np.cumsum(np.random.default_rng(0).uniform(0.5, 1.5, 500))
    dyncore.Trajectory(irregular, logistic_series(4.0, 500)).save(folder / "irregular.npz")
    lorenz = dyncore.systems.create("lorenz")
    lorenz.simulate(t=np.arange(0.0, 200.0, 0.01), transient=20.0, rtol=1e-7, atol=1e-7).save(folder / "lorenz.npz")
    np.savez(folder / "nan.npz", t=t, x=np.where(np.arange(5000) == 7, np.nan, 1.0))
    return folder


def test_verdict_line(data):
    result = run_dyncore("chaos-test", str(data / "logistic.npz"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("zero_one: 0.99") and "chaotic" in result.stdout


def test_component_json_and_plot(data, tmp_path):
    plot = tmp_path / "pq.png"
    result = run_dyncore("chaos-test", str(data / "two.npz"), "--component", "0", "--json", "--plot", str(plot))
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["verdict"] == "regular" and len(record["details"]["p"]) == 5000
    assert plot.stat().st_size > 1000


def test_lyapunov_test(data):
    result = run_dyncore("chaos-test", str(data / "logistic.npz"), "--test", "lyapunov", "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["verdict"] == "chaotic"
    assert record["statistic"] == pytest.approx(np.log(2) / 0.1, rel=0.05)  # per unit time, dt = 0.1


def test_oversampled_lorenz_warns_then_auto_fixes_it(data):
    plain = run_dyncore("chaos-test", str(data / "lorenz.npz"))
    assert plain.returncode == 0 and "warning: the series looks oversampled" in plain.stderr
    auto = run_dyncore("chaos-test", str(data / "lorenz.npz"), "--subsample", "auto")
    assert auto.returncode == 0 and auto.stderr == ""
    assert "chaotic" in auto.stdout and "stride" in auto.stdout


def test_free_run_of_a_trained_model(tmp_path):
    lorenz = dyncore.systems.create("lorenz")
    dyncore.train("rnn", lorenz.simulate(), epochs=200, hparams={"hidden": 32}, out=tmp_path / "run")
    result = run_dyncore("chaos-test", str(tmp_path / "run"), "--steps", "3000", "--subsample", "auto", env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("zero_one: ") and "(3000 samples" in result.stdout
    short = run_dyncore("chaos-test", str(tmp_path / "run"), "--steps", "2", env={"OMP_NUM_THREADS": "1"})
    assert short.returncode != 0 and "more than 3 steps" in short.stderr


@pytest.mark.parametrize(
    "name, args, message",
    [
        ("short.npz", [], "at least 100 samples, got 40"),
        ("constant.npz", [], "constant"),
        ("nan.npz", [], "NaN"),
        ("two.npz", ["--component", "2"], "component 2 is out of range"),
        ("irregular.npz", [], "uniformly sampled"),
        ("logistic.npz", ["--subsample", "60"], "at least 6000 raw samples"),
        ("missing.npz", [], "does not exist"),
        ("logistic.npz", ["--test", "zero_onee"], "did you mean 'zero_one'"),
    ],
)
def test_bad_input_is_one_line(data, name, args, message):
    result = run_dyncore("chaos-test", str(data / name), *args)
    assert result.returncode != 0
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_bad_subsample_value(data):
    result = run_dyncore("chaos-test", str(data / "logistic.npz"), "--subsample", "fast")
    assert result.returncode == 2 and "--subsample" in result.stderr
