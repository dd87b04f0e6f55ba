"""Sweeps: the spec is checked before anything runs, cells are content-hashed, finished cells are never redone,
failing cells are recorded and the sweep goes on, results come as a table, a summary over seeds and figures."""

from __future__ import annotations

import csv
import json
import math

import pytest

import dyncore
from dyncore.errors import CheckpointError, ConfigError, OutputExistsError
from dyncore.sweeps import MAX_CELLS, flatten_metrics, load_spec, run_cell, summarize

#: Tiny cells: an RNN trains on a short spiral in a fraction of a second.
TINY = {
    "seeds": [0, 1],
    "systems": [{"name": "spiral", "data": {"t_end": 4.0, "dt": 0.1}}],
    "models": [{"name": "rnn", "hparams": {"hidden": 8}}],
    "trainer": {"epochs": 3},
    "evaluate": {"enabled": False},
}


def spec(**changes):
    return {**json.loads(json.dumps(TINY)), **changes}


def test_grid_expands_in_order_with_per_system_hyperparameters():
    s = load_spec({
        "seeds": [0, 1, 2],
        "systems": ["lorenz", {"name": "van_der_pol", "grid": {"mu": [1.0, 2.0]}, "hparams": {"node": {"hidden": 16}}}],
        "models": [{"name": "node", "hparams": {"hidden": 8}}, {"name": "rnn", "grid": {"hidden": [4, 8]}}],
        "trainer": {"name": "full_batch", "epochs": 2, "grid": {"lr": [0.01, 0.001]}},
    })
    # (1 lorenz + 2 van_der_pol settings) x (1 node + 2 rnn) x 2 lr x 3 seeds
    assert len(s.cells) == 3 * 3 * 2 * 3
    first = s.cells[0].config
    assert first["system"] == {"name": "lorenz", "params": {}} and first["model"] == {"name": "node", "hparams": {"hidden": 8}}
    assert [c.config["seed"] for c in s.cells[:3]] == [0, 1, 2]
    spiral_node = [c.config for c in s.cells if c.config["system"]["name"] == "van_der_pol" and c.config["model"]["name"] == "node"]
    assert {c["model"]["hparams"]["hidden"] for c in spiral_node} == {16}  # the system's hparams override the model's
    assert {c["trainer"]["options"]["lr"] for c in spiral_node} == {0.01, 0.001}
    assert len({c.key for c in s.cells}) == len(s.cells)
    assert len({c.group for c in s.cells}) == len(s.cells) // 3  # seeds share a group


def test_cell_names_are_content_hashes():
    a, b = load_spec(spec()).cells, load_spec(spec()).cells
    assert [c.key for c in a] == [c.key for c in b]
    other = load_spec(spec(trainer={"epochs": 4})).cells
    assert not {c.key for c in a} & {c.key for c in other}


@pytest.mark.parametrize(("changes", "pattern"), [
    ({"seed": [0]}, r"unknown key 'seed'; did you mean 'seeds'\? \(in spec \(top level\)\)"),
    ({"models": [{"name": "rnn", "hparam": {}}]}, r"unknown key 'hparam'; did you mean 'hparams'"),
    ({"models": ["rn"]}, r"unknown model 'rn'; did you mean 'rnn'"),
    ({"systems": ["lorenzz"]}, r"unknown system 'lorenzz'; did you mean 'lorenz'"),
    ({"models": [{"name": "rnn", "hparams": {"hiden": 8}}]}, r"unknown hyperparameter 'hiden'; did you mean 'hidden'"),
    ({"systems": [{"name": "lorenz", "params": {"sigm": 1.0}}]}, r"unknown parameter 'sigm'; did you mean 'sigma'"),
    ({"systems": [{"name": "lorenz", "data": {"t_ed": 1.0}}]}, r"unknown key 't_ed'; did you mean 't_end'"),
    ({"trainer": {"epoch": 3}}, r"unknown option 'epoch'; did you mean 'epochs'"),
    ({"trainer": {"name": "ful_batch"}}, r"unknown trainer 'ful_batch'; did you mean 'full_batch'"),
    ({"trainer": {"seed": 3}}, r"set by the sweep itself.*seeds = \[...\]"),
    ({"evaluate": {"n_test": 3}}, r"unknown key 'n_test'; did you mean 'n_tests'"),
    ({"seeds": []}, r"the sweep grid is empty"),
    ({"models": []}, r"the sweep grid is empty.*models lists nothing"),
    ({"models": [{"name": "rnn", "grid": {"hidden": []}}]}, r"the sweep grid is empty"),
    ({"models": [{"name": "rnn", "grid": {"hidden": 8}}]}, r"grid.hidden must be a list"),
    ({"systems": [{"name": "spiral", "hparams": {"node": {}}}]}, r"unknown model 'node'.*does not train"),
    ({"systems": [{"name": "spiral", "hparams": {"rnn": {"hiden": 3}}}]}, r"unknown hyperparameter 'hiden'.*on system 'spiral'"),
    ({"models": ["rnn", "rnn"]}, r"two cells of the grid are the same"),
    ({"seeds": [0, 0]}, r"seeds lists a seed twice"),
    ({"seeds": list(range(MAX_CELLS + 1))}, r"10,001 cells, more than 10,000; .*--yes"),
])
def test_bad_spec_is_one_line(changes, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        load_spec(spec(**changes))
    assert "\n" not in str(info.value)


def test_yes_accepts_a_large_grid():
    assert len(load_spec(spec(seeds=list(range(MAX_CELLS + 1))), yes=True).cells) == MAX_CELLS + 1


def test_toml_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("seeds = [0,\nsystems = \n")
    with pytest.raises(ConfigError, match=r"bad.toml is not valid TOML: .*line"):
        load_spec(bad)
    with pytest.raises(ConfigError, match=r"does not exist"):
        load_spec(tmp_path / "missing.toml")


def test_a_bad_spec_writes_nothing(tmp_path):
    with pytest.raises(ConfigError):
        dyncore.sweep(spec(seeds=[]), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_failing_cell_is_recorded_with_one_line():
    config = load_spec(spec(models=[{"name": "rnn", "hparams": {"hidden": -1}}])).cells[0].config
    result = run_cell(config)
    assert result["status"] == "failed" and "hidden must be an integer >= 1" in result["error"] and "\n" not in result["error"]


def test_flatten_metrics_makes_one_column_per_number():
    flat = flatten_metrics({"model": "rnn", "setup": {"dt": 1}, "vpt": {"0.5": {"mean": 1.5, "per_start": [1, 2]}},
                            "lyapunov": {"learned": [0.9, -1.0]}, "zero_one": {"model": 0.9, "model_per_run": [0.9]}})
    assert flat == {"vpt/0.5/mean": 1.5, "lyapunov/learned/0": 0.9, "lyapunov/learned/1": -1.0, "zero_one/model": 0.9}


def test_summary_is_mean_sd_n_over_seeds():
    rows = [{"group": "g", "system": "s", "variant": "m", "status": "ok", "x": v} for v in (1.0, 2.0, 3.0)]
    rows.append({"group": "g", "system": "s", "variant": "m", "status": "failed", "x": None})
    (g,) = summarize(rows, ["x"])
    assert g["cells"] == 4 and g["ok"] == 3
    assert g["stats"]["x"] == {"mean": 2.0, "sd": 1.0, "median": 2.0, "n": 3}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished two-cell sweep with evaluation on (tiny settings), and one failing cell."""
    out = tmp_path_factory.mktemp("sweep") / "out"
    s = spec(models=[{"name": "rnn", "hparams": {"hidden": 8}}, {"name": "rnn", "hparams": {"hidden": 8, "window": 0}}],
             seeds=[0], evaluate={"n_tests": 1, "horizon": 2.0, "long_time": 5.0, "lyapunov_steps": 20})
    result = dyncore.sweep(s, out, workers=2)
    return s, out, result


def test_sweep_writes_table_summary_and_figures(finished):
    _, out, result = finished
    assert result.ran == 2 and result.failed == 1
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 2 and [r["status"] for r in rows] == ["ok", "failed"]
    ok, bad = rows
    assert math.isfinite(float(ok["vpt/0.5/mean"])) and math.isfinite(float(ok["distances/histogram"]))
    assert "window" in bad["error"] and bad["vpt/0.5/mean"] == ""
    assert json.loads((out / "results.json").read_text())[0]["cell"] == ok["cell"]
    summary = (out / "summary.md").read_text()
    assert "| spiral | rnn | 1/1 |" in summary and "| spiral | rnn window=0 | 0/1 | - |" in summary
    assert (out / "figures" / "vpt_0.5_mean.png").stat().st_size > 1000
    cell = out / "cells" / ok["cell"]
    assert dyncore.Run.load(cell / "run").model.hparams["hidden"] == 8 and (cell / "result.json").is_file()


def test_finished_cells_are_never_redone(finished):
    s, out, _ = finished
    ok = next(r for r in json.loads((out / "results.json").read_text()) if r["status"] == "ok")
    stamp = (out / "cells" / ok["cell"] / "result.json").stat().st_mtime_ns
    with pytest.raises(OutputExistsError, match="pass --resume"):
        dyncore.sweep(s, out)
    again = dyncore.sweep(s, out, resume=True)  # reruns the failed cell only
    assert (again.ran, again.skipped, again.failed) == (1, 1, 1)
    assert (out / "cells" / ok["cell"] / "result.json").stat().st_mtime_ns == stamp
    wider = dyncore.sweep({**s, "seeds": [0, 1]}, out, resume=True)  # a new seed: only its cells run
    assert (wider.ran, wider.skipped) == (3, 1)


def test_resume_refuses_a_foreign_directory(tmp_path):
    (tmp_path / "other.txt").write_text("x")
    with pytest.raises(CheckpointError, match="not a sweep directory"):
        dyncore.sweep(spec(), tmp_path, resume=True)


def test_executor_choice_is_checked_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError, match="unknown executor 'rey'; did you mean 'ray'"):
        dyncore.sweep(spec(), tmp_path / "a", executor="rey")
    with pytest.raises(ConfigError, match="--address is for the ray executor"):
        dyncore.sweep(spec(), tmp_path / "b", address="auto")
    with pytest.raises(ConfigError, match="workers must be an integer >= 1"):
        dyncore.sweep(spec(), tmp_path / "c", workers=0)
    assert not any(tmp_path.iterdir())
