"""dyncore compare: same data, same held-out starts, one table; missing plugins skipped, failures recorded."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

pytest.importorskip("dyncore_sindy")

from conftest import run_dyncore  # noqa: E402

import dyncore  # noqa: E402
from dyncore.comparison import compare, install_hint  # noqa: E402
from dyncore.errors import ConfigError, OutputExistsError, TrainingDiverged, UnknownNameError  # noqa: E402

QUICK = {"seeds": 1, "n_tests": 2, "lyapunov_steps": 50, "long_time": 5.0, "horizon": 3.0}


@pytest.fixture(scope="module")
def lorenz_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "lorenz.npz"
    dyncore.systems.create("lorenz").simulate().save(path)
    return path


def test_cli_writes_the_table_and_skips_a_missing_plugin(lorenz_file, tmp_path):
    out = tmp_path / "cmp"
    proc = run_dyncore("compare", str(lorenz_file), "--models", "sindy,esn", "--seeds", "1", "--n-tests", "2",
                       "--lyapunov-steps", "50", "--long-time", "5", "--horizon", "3", "-o", str(out), env={"DYNCORE_DISABLE_PLUGINS": "reservoir"})
    assert proc.returncode == 0, proc.stderr
    assert install_hint("esn") in proc.stderr and "compare: sindy seed 0: trained" in proc.stderr
    assert "| sindy | 1/1 |" in proc.stdout
    result = json.loads((out / "compare.json").read_text())
    assert [r["model"] for r in result["rows"]] == ["sindy"] and result["skipped"][0]["model"] == "esn"
    row = result["rows"][0]
    assert row["status"] == "ok" and row["vpt_unit"] == "Lyapunov times" and row["vpt"] > 1
    assert row["lambda1_true"] == pytest.approx(0.906)
    assert (out / "compare.csv").read_text().startswith("model,seed,status") and (out / "compare.png").stat().st_size > 0
    again = run_dyncore("compare", str(lorenz_file), "--models", "sindy", "-o", str(out))
    assert again.returncode != 0 and "--force" in again.stderr and "Traceback" not in again.stderr


def test_a_failing_model_is_recorded_and_the_others_kept(lorenz_file, monkeypatch):
    train = dyncore.train

    def failing(model, *args, **kwargs):
        if model == "esn":
            raise TrainingDiverged("the reservoir diverged")
        return train(model, *args, **kwargs)

    def canned(run, system, **options):  # the metrics are evaluate's business; this test is about the bookkeeping
        report = {"vpt": {"0.5": {"median": 4.0, "lyapunov_times": 3.6, "per_start": [4.0]}}, "long_run": "ok",
                  "lyapunov": {"learned": [0.9], "true": [0.906]}, "zero_one": {"model": 0.99, "truth": 0.99}, "distances": {}}
        return SimpleNamespace(to_dict=lambda: report)  # compare reads an Evaluation's JSON form

    monkeypatch.setattr(dyncore, "train", failing)
    monkeypatch.setattr(dyncore, "evaluate", canned)
    if "esn" not in dyncore.models:
        pytest.skip("needs dyncore-reservoir")
    result = compare(lorenz_file, ["esn", "sindy"], **QUICK)
    statuses = {r["model"]: r["status"] for r in result["rows"]}
    assert statuses == {"esn": "failed: TrainingDiverged: the reservoir diverged", "sindy": "ok"}
    assert result["summary"]["esn"]["ok"] == 0 and result["summary"]["sindy"]["ok"] == 1


def test_bad_arguments(lorenz_file, tmp_path):
    with pytest.raises(UnknownNameError, match="did you mean 'sindy'"):
        compare(lorenz_file, ["sindyy"], **QUICK)
    with pytest.raises(ConfigError, match="seeds"):
        compare(lorenz_file, ["sindy"], seeds=0)
    (tmp_path / "compare.json").write_text("{}")
    with pytest.raises(OutputExistsError):
        compare(lorenz_file, ["sindy"], out=tmp_path, **QUICK)
