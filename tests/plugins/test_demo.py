"""The demo plugin: the quick demo end to end (every figure an image, every metric there, re-runs reuse work), its
command, and the deprecated ``dyncore.demo``."""

from __future__ import annotations

import json
import re
import warnings

import dyncore_demo
import pytest
from dyncore_demo import STEPS, run_demo

import dyncore

EXPECTED_FIGURES = {
    "spiral_data", "spiral_node_snapshots", "spiral_rnn_snapshots", "spiral_node_prediction", "spiral_rnn_prediction",
    "spiral_loss", "spiral_vector_field", "lorenz_data", "lorenz_node_snapshots", "lorenz_rnn_snapshots",
    "lorenz_node_prediction", "lorenz_rnn_prediction", "lorenz_loss", "lorenz_lyapunov_spectrum",
    "zero_one_lorenz_vs_limit_cycle", "stiffness_evaluations", "van_der_pol_stiff", "ks_data", "ks_prediction",
}
EXPECTED_METRICS = {"training_spiral", "training_lorenz", "evaluation", "priors", "zero_one", "stiffness", "kuramoto_sivashinsky",
                    "demo"}


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    messages: list[str] = []
    result = run_demo(out, quick=True, log=messages.append)
    return out, result, messages


def test_quick_demo_writes_every_figure_and_metric(quick_report):
    out, result, messages = quick_report
    assert result["failed"] == {}, result["failed"]
    html = (out / "report.html").read_text()
    markdown = (out / "report.md").read_text()
    for name in EXPECTED_FIGURES:
        figure = out / "figures" / f"{name}.png"
        assert figure.read_bytes()[:4] == b"\x89PNG" and figure.stat().st_size > 10_000, name
        assert f"figures/{name}.png" in html and f"figures/{name}.png" in markdown
    metrics = json.loads((out / "metrics.json").read_text())
    assert EXPECTED_METRICS <= set(metrics)
    assert set(metrics["evaluation"]) == {"spiral_rnn", "spiral_node", "lorenz_rnn", "lorenz_node"}
    assert all(set(r["noise_floor"]) == set(r["distances"]) for r in metrics["evaluation"].values())
    assert "measure distance (noise floor)" in markdown and "spectrum distance (noise floor)" in html
    assert metrics["zero_one"]["K"]["Lorenz x (chaotic)"] > 0.9
    assert abs(metrics["zero_one"]["K"]["Van der Pol x, mu = 1 (limit cycle)"]) < 0.1
    assert [m for m in messages if re.match(r"\[\d/7\]", m)] == [f"[{i}/7] {s}" for i, s in enumerate(STEPS, 1)]


def test_the_priors_step_sets_the_known_model_the_node_and_the_hybrid_side_by_side(quick_report):
    out, result, messages = quick_report
    rows = result["metrics"]["priors"]
    assert list(rows) == ["known", "node", "hybrid"]
    assert rows["known"]["epochs"] == 0 and rows["node"]["epochs"] == rows["hybrid"]["epochs"] == 60
    assert all(r["vpt"] is not None and r["vpt"] >= 0 for r in rows.values())
    assert "lorenz_node: reusing the trained run" in "\n".join(messages)  # the Lorenz step's NODE, not trained twice
    markdown = (out / "report.md").read_text()
    assert "known model alone (rho 25.2, untrained)" in markdown and "hybrid: known model + Neural ODE" in markdown
    assert "--hparam known=lorenz --hparam known_params=rho=25.2" in markdown


def test_a_rerun_reuses_cached_steps(quick_report):
    out, first, _ = quick_report
    messages: list[str] = []
    again = run_demo(out, quick=True, log=messages.append)
    assert again["failed"] == {}
    assert sum("cached" in m for m in messages) == len(STEPS)
    assert again["metrics"]["zero_one"] == first["metrics"]["zero_one"]


def test_a_failing_step_is_reported_and_the_others_still_run(tmp_path, monkeypatch):
    def broken(demo):
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(STEPS, "stiffness", broken)
    result = run_demo(tmp_path, quick=True, steps=["stiffness", "zero_one"], log=lambda m: None)
    assert result["failed"] == {"stiffness": "RuntimeError: disk on fire"}
    assert "zero_one" in result["metrics"]
    assert "This step failed:</b> RuntimeError: disk on fire" in (tmp_path / "report.html").read_text()


def test_unknown_step_names_the_known_ones(tmp_path):
    with pytest.raises(dyncore.UnknownNameError, match="did you mean 'stiffness'"):
        run_demo(tmp_path, steps=["stifness"])


def test_the_demo_runs_on_its_threads_and_records_them(tmp_path, monkeypatch):
    import torch

    seen: list[int] = []

    def step(demo):
        seen.append(torch.get_num_threads())
        raise RuntimeError("stop here")

    monkeypatch.setitem(STEPS, "zero_one", step)
    messages: list[str] = []
    result = run_demo(tmp_path, quick=True, steps=["zero_one"], threads=2, log=messages.append)
    assert seen == [2] and result["metrics"]["demo"]["threads"] == {"threads": 2, "source": "explicit", "work": None}
    assert "threads: 2 threads (explicit); each training sizes its own (see its config.json)" in messages


def test_dyncore_demo_still_gives_the_plugins_names_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="dyncore.demo is deprecated: the demo is the plugin dyncore_demo; use dyncore_demo.run_demo"):
        from dyncore.demo import run_demo as old
    assert old is dyncore_demo.run_demo
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from dyncore import demo

        assert demo.STEPS is STEPS and demo.Demo is dyncore_demo.Demo
        with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
            demo.nothing  # noqa: B018


def test_the_demo_command_comes_from_the_plugin():
    from dyncore.cli import COMMANDS

    assert "demo" not in COMMANDS
    assert dyncore.plugin_statuses() and any(s.name == "dyncore_demo" and s.hooks == ["register_commands"] for s in dyncore.plugin_statuses())


def test_the_full_demo_trains_the_lorenz_node_with_the_documented_recipe(tmp_path):
    from dyncore_demo.base import Demo
    from dyncore_demo.schools import FULL_DEMO_RECIPES, recipe_of, train_command

    full, quick = Demo(tmp_path / "full"), Demo(tmp_path / "quick", quick=True)
    assert recipe_of(full, "lorenz", "node") == "chaotic" and recipe_of(quick, "lorenz", "node") is None
    assert recipe_of(full, "spiral", "node") is None and recipe_of(full, "lorenz", "rnn") is None
    assert all(name in dyncore.recipes for name in FULL_DEMO_RECIPES.values())
    assert "--recipe chaotic" in train_command(full, "lorenz", "node") and "--epochs" not in train_command(full, "lorenz", "node")
    assert "--recipe" not in train_command(quick, "lorenz", "node") and "--hparam hidden=256" in train_command(quick, "lorenz", "node")
