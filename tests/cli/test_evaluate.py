"""`dyncore evaluate` on a trained run: the table, the JSON file, held-out data, and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_dyncore

import dyncore

ONE_THREAD = {"OMP_NUM_THREADS": "1"}  # tiny tensors; two threads are several times slower on a busy 2-core machine
SHORT = ["--n-tests", "3", "--horizon", "2", "--long-time", "30"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("evaluate")
    lorenz = dyncore.systems.create("lorenz")
    dyncore.train("rnn", lorenz.simulate(), epochs=5, hparams={"hidden": 8}, out=folder / "run")
    lorenz.simulate(t=np.arange(0.0, 20.0, 10 / 999), batch=2, seed=3, transient=10.0).save(folder / "test.npz")
    return folder


def test_table_and_json_file(run_dir):
    out = run_dir / "metrics.json"
    result = run_dyncore("evaluate", str(run_dir / "run"), *SHORT, "-o", str(out), env=ONE_THREAD)
    assert result.returncode == 0, result.stderr
    assert "rnn on lorenz: 3 held-out starts" in result.stdout
    for row in ("VPT at NRMSE 0.5", "lambda_1 learned / true", "0-1 test K", "sliced Wasserstein", "power-spectrum"):
        assert row in result.stdout
    metrics = json.loads(out.read_text())
    assert set(metrics) >= {"vpt", "lyapunov", "zero_one", "distances", "setup"}
    # the shape it always had (Evaluation.to_dict): top-level keys in order, thresholds as strings
    assert list(metrics) == ["model", "system", "setup", "vpt", "lyapunov", "zero_one", "distances", "noise_floor", "long_run", "notes"]
    assert list(metrics["vpt"]) == ["0.5", "0.05"] and set(metrics["vpt"]["0.5"]) >= {"mean", "censored", "per_start"}
    again = run_dyncore("evaluate", str(run_dir / "run"), *SHORT, "-o", str(out), env=ONE_THREAD)
    assert again.returncode != 0 and "--force" in again.stderr


def test_transient_option_reaches_the_held_out_starts(run_dir):
    from click.testing import CliRunner

    from dyncore.cli import cli

    args = ["--n-tests", "2", "--horizon", "1", "--long-time", "10", "--transient", "3", "--json"]
    result = CliRunner().invoke(cli, ["evaluate", str(run_dir / "run"), *args])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["setup"]["transient"] == 3.0 and set(metrics["noise_floor"]) == set(metrics["distances"])


def test_held_out_data_as_json(run_dir):
    result = run_dyncore("evaluate", str(run_dir / "run"), "--data", str(run_dir / "test.npz"), "--json", env=ONE_THREAD)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["setup"]["n_tests"] == 2 and metrics["lyapunov"]["true"][0] == 0.906


@pytest.mark.parametrize(
    "args, message",
    [
        (["--data", "test.npz", "--system", "lorenz"], "either --data or --system"),
        (["--system", "lorenzz"], "did you mean 'lorenz'"),
        (["--n-tests", "0"], "n_tests must be a positive integer"),
        (["--transient", "-1"], "transient must be a non-negative finite number"),
        (["--data", "{dir}/test.npz", "--transient", "5"], "held-out data are used as given"),
    ],
)
def test_bad_arguments_are_one_line(run_dir, args, message):
    args = [a.replace("{dir}", str(run_dir)) for a in args]
    result = run_dyncore("evaluate", str(run_dir / "run"), *args, env=ONE_THREAD)
    assert result.returncode != 0
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr

