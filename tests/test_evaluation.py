"""dyncore.evaluate: exact and wrong models, blown-up models, held-out data, runs, and bad arguments."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
from exact_models import LorenzField
from recipes import SMALL_EVALUATION, attractor_covering_lorenz, small_run

import dyncore
from dyncore.evaluation import (
    Evaluation,
    _note_short_lyapunov_window,
    evaluate,
    format_table,
    held_out_data,
    plan_evaluation,
    short_term,
)
from dyncore.metrics import LyapunovSpectrum

SHORT = {"n_tests": 3, "horizon": 2.0, "long_time": 30.0, "transient": 10.0, "lyapunov_steps": 300, "dt": 0.02}



class SettlesDown(LorenzField):
    """Lorenz from half of the starts; the others sit at a fixed point: a model with a spurious attractor."""

    name = "settles_down"

    def rollout(self, context, t):
        out = super().rollout(context, t)
        out[:, 1::2] = out[:1, 1::2]
        return out


class BlowsUp(LorenzField):
    """Lorenz for a while, then infinity: a model whose free run leaves the finite numbers."""

    name = "blows_up"

    def rollout(self, context, t):
        out = super().rollout(context, t)
        out[len(t) // 2 :] = math.inf
        return out


class Escapes(LorenzField):
    """Lorenz, then growth to 1e33 that stays finite: a model whose free run leaves the attractor without blowing up."""

    name = "escapes"

    def rollout(self, context, t):
        out = super().rollout(context, t)
        out[len(t) // 2 :] *= 1e32
        return out


class NoReferenceLorenz(dyncore.systems.get("lorenz")):
    """Lorenz without published exponents, as a third party's chaotic system may be."""

    def reference(self):
        return {}


@pytest.fixture(scope="module")
def exact():
    # 1000 steps = 18 Lyapunov times per start: a start's lambda_1 then has sd 0.08 (lowest of 256 starts: 0.67).
    # Over SHORT's 300 steps (5 Lyapunov times) sd is 0.25 and about 1 start in 200 reads <= 0 on any CPU.
    return evaluate(LorenzField(substeps=1), "lorenz", **{**SHORT, "lyapunov_steps": 1000})


def test_exact_model_scores_like_the_truth(exact):
    json.dumps(exact)
    assert exact["model"] == "lorenz_field" and exact["system"] == "lorenz"
    assert exact["vpt"]["0.5"]["censored"] == 3  # never diverges within the horizon
    assert exact["lyapunov"]["true"] == [0.906, 0.0, -14.572]
    assert exact["lyapunov"]["learned"][0] == pytest.approx(0.906, rel=0.15)
    assert exact["zero_one"]["model"] > 0.8 and len(exact["zero_one"]["model_per_run"]) == 3
    assert exact["lyapunov"]["learned_positive_fraction"] >= 0.95  # chaotic from (nearly) every start
    assert exact["distances"]["histogram"] < 0.2
    assert exact["distances"]["power_spectrum"] < 0.15  # finite-sample noise of 3 runs x 30 time units
    table = format_table(exact)
    assert "lambda_1 learned / true" in table and "0.906" in table


def test_short_lyapunov_windows_are_flagged_when_a_start_reads_non_positive():
    per_start = np.array([[0.9], [0.7], [-0.05], [1.1]])
    short = LyapunovSpectrum(per_start.mean(axis=0), np.zeros(1), per_start, time=6.0)
    notes: list[str] = []
    _note_short_lyapunov_window(short, 0.906, 0.02, notes)
    assert len(notes) == 1 and "1 of 4 starts" in notes[0] and "lyapunov_steps >= 552" in notes[0]
    long = LyapunovSpectrum(per_start.mean(axis=0), np.zeros(1), per_start, time=20.0)
    _note_short_lyapunov_window(long, 0.906, 0.02, notes)  # 18 Lyapunov times: a negative start is real
    assert len(notes) == 1


def test_wrong_model_scores_worse(exact):
    wrong = evaluate(LorenzField(rho=40.0, substeps=1), "lorenz", **SHORT)
    assert wrong["vpt"]["0.5"]["mean"] < exact["vpt"]["0.5"]["mean"]
    for key in ("histogram", "sliced_wasserstein", "power_spectrum"):
        assert wrong["distances"][key] > exact["distances"][key]


def test_runs_that_settle_on_a_fixed_point_count_as_regular():
    result = evaluate(SettlesDown(substeps=1), "lorenz", **{**SHORT, "n_tests": 4})
    per_run = result["zero_one"]["model_per_run"]
    assert per_run[1] == per_run[3] == 0.0 and per_run[0] > 0.8
    assert sum("fixed point" in note for note in result["notes"]) == 2


def test_blown_up_model_is_reported_not_raised():
    result = evaluate(BlowsUp(substeps=1), "lorenz", **SHORT)
    assert result["zero_one"]["model"] is None and result["lyapunov"]["learned"] is None
    assert math.isinf(result["distances"]["sliced_wasserstein"])
    assert result["distances"]["power_spectrum"] == 1.0
    assert any("blew up" in note for note in result["notes"])
    assert "note: " in format_table(result)


def test_against_held_out_data():
    lorenz = dyncore.systems.create("lorenz")
    data = lorenz.simulate(t=np.arange(0.0, 30.0, 0.02), batch=2, seed=5, transient=10.0)
    result = evaluate(LorenzField(substeps=1), data, lyapunov_steps=100)
    assert result["system"] == "lorenz" and result["setup"]["dt"] == pytest.approx(0.02)
    assert result["lyapunov"]["true"][0] == 0.906  # from the data's metadata
    assert result["setup"]["n_tests"] == 2


def test_run_directory_uses_its_system_and_step(tmp_path):
    lorenz = dyncore.systems.create("lorenz")
    dyncore.train("rnn", lorenz.simulate(), epochs=5, hparams={"hidden": 8}, out=tmp_path / "run")
    settings = {k: v for k, v in SHORT.items() if k != "dt"}
    result = evaluate(str(tmp_path / "run"), **settings)
    assert result["model"] == "rnn" and result["system"] == "lorenz"
    assert result["setup"]["dt"] == pytest.approx(10 / 999)
    assert result["lyapunov"]["learned"] is not None and len(result["lyapunov"]["learned"]) == 3  # top dim of 3 x 3


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((LorenzField(),), {}, "a system"),
        ((LorenzField(), "lorenz"), {"n_tests": 0}, "n_tests"),
        ((object(), "lorenz"), {}, "cannot evaluate object"),
    ],
)
def test_bad_arguments(args, kwargs, match):
    with pytest.raises(dyncore.ConfigError, match=match):
        evaluate(*args, **kwargs)


def test_an_unresolved_learned_lambda_1_is_a_note_not_a_stray_warning(recwarn):
    # Lorenz at rho = 350 has a stable periodic orbit: lambda_1 = 0, within its standard error.
    result = evaluate(LorenzField(rho=350.0, substeps=1), "lorenz", **{**SHORT, "n_tests": 2, "lyapunov_steps": 100})
    assert any(note.startswith("learned Lyapunov exponents: lambda_1") and "not resolved from 0" in note for note in result["notes"])
    assert not [w for w in recwarn if issubclass(w.category, dyncore.metrics.LyapunovConvergenceWarning)]


def test_noise_floor_is_reported_beside_each_distance(exact):
    """Truth against truth is not 0 with finite samples: the floor tells how small a distance can honestly be."""
    floor = exact["noise_floor"]
    assert set(floor) == set(exact["distances"])
    assert all(0 < floor[key] < 0.3 for key in floor), floor
    assert exact["distances"]["histogram"] < floor["histogram"] + 0.1  # the exact model scores near the floor
    assert format_table(exact).count("noise floor") == 3


def test_a_run_that_escapes_but_stays_finite_is_flagged_and_gets_no_exponent():
    result = evaluate(Escapes(substeps=1), "lorenz", **SHORT)
    assert result["long_run"] == "escaped"
    assert result["lyapunov"]["learned"] is None and result["zero_one"]["model"] is None
    assert any("escaped the data's range" in note and "e+33" in note for note in result["notes"]), result["notes"]
    assert math.isfinite(result["distances"]["sliced_wasserstein"])


def test_true_exponent_without_a_reference_is_computed_once_whatever_n_tests(monkeypatch):
    """No published lambda_1: computed from fixed settled starts (not from the held-out ones), cached, and used for
    the transient, the horizon and the VPT in Lyapunov times."""
    from dyncore import evaluation

    monkeypatch.setattr(evaluation, "_TRUE_SPECTRA", {})
    calls = []
    compute = evaluation._compute_exponents
    monkeypatch.setattr(evaluation, "_compute_exponents", lambda *args: calls.append(1) or compute(*args))
    settings = {k: v for k, v in SHORT.items() if k not in ("transient", "horizon")}
    few = evaluate(LorenzField(substeps=1), NoReferenceLorenz(), **{**settings, "n_tests": 2})
    more = evaluate(LorenzField(substeps=1), NoReferenceLorenz(), **{**settings, "n_tests": 3})
    assert len(calls) == 1
    assert few["lyapunov"]["true_source"] == "computed" and few["lyapunov"]["true"] == more["lyapunov"]["true"]
    lam = few["lyapunov"]["true"][0]
    assert lam == pytest.approx(0.906, rel=0.1)
    assert few["setup"]["transient"] == pytest.approx(20 / lam) and few["setup"]["horizon"] == pytest.approx(10 / lam)
    vpt = few["vpt"]["0.5"]
    assert vpt["lyapunov_times"] == pytest.approx(vpt["mean"] * lam)
    settled = evaluate(LorenzField(substeps=1), NoReferenceLorenz(), **{**settings, "n_tests": 2, "transient": 3.0})
    assert settled["setup"]["transient"] == 3.0 and len(calls) == 1


@pytest.mark.parametrize("transient", [-1.0, math.nan, math.inf, "long"])
def test_bad_transient_is_a_config_error(transient):
    with pytest.raises(dyncore.ConfigError, match="transient must be a non-negative finite number"):
        evaluate(LorenzField(), "lorenz", transient=transient)


# -- the Evaluation result ----------------------------------------------------------------------------


def test_the_result_is_a_typed_evaluation_whose_to_dict_is_the_json(exact):
    assert isinstance(exact, Evaluation)
    assert exact.model == "lorenz_field" and exact.vpt[0.5].censored == 3 and exact.lyapunov.true == [0.906, 0.0, -14.572]
    assert exact.long_run == "ok" and exact.setup.n_tests == 3 and len(exact.setup.sigma) == 3
    data = exact.to_dict()
    assert list(data) == ["model", "system", "setup", "vpt", "lyapunov", "zero_one", "distances", "noise_floor", "long_run", "notes"]
    assert list(data["vpt"]) == ["0.5", "0.05"] and data["vpt"]["0.5"]["mean"] == exact.vpt[0.5].mean
    assert data["distances"] == {"histogram": exact.distances.histogram, "sliced_wasserstein": exact.distances.sliced_wasserstein,
                                 "power_spectrum": exact.distances.power_spectrum}
    assert json.loads(json.dumps(data)) == data == json.loads(json.dumps(exact))  # serialising the result itself still works
    assert format_table(exact) == format_table(data)


def test_reading_the_result_by_key_still_works_with_a_deprecation_warning(exact):
    with pytest.warns(DeprecationWarning, match=r"result\.vpt"):
        assert exact["vpt"]["0.5"]["mean"] == exact.vpt[0.5].mean
    with pytest.warns(DeprecationWarning, match=r"result\.notes"):
        assert exact.get("notes") == exact.notes
    restored = pickle.loads(pickle.dumps(exact))  # a sweep's worker sends it to the driver
    assert restored == exact and restored.distances == exact.distances and dict(restored) == exact.to_dict()


def test_a_node_trained_on_a_short_stretch_blows_up_so_gets_no_learned_exponents():
    # The old tests/test_cuda.py recipe, on the CPU: learned exponents were None there because the long run
    # blew up (on any device), not because of the GPU.
    short = dyncore.systems.create("lorenz").simulate(t=np.linspace(0.0, 2.0, 200))
    run = small_run("node", short, epochs=20)
    result = evaluate(run, "lorenz", **{**SMALL_EVALUATION, "long_time": 20.0})
    assert result.long_run == "blew up" and result.lyapunov.learned is None
    assert any("blew up" in note for note in result.notes)


@pytest.mark.parametrize("model", ["node", "rnn"])
def test_the_gpu_evaluation_recipe_gets_learned_exponents_on_the_cpu(model):
    # The premise of tests/test_cuda.py::test_evaluation_of_a_gpu_model, checked where there is no GPU.
    result = evaluate(small_run(model, attractor_covering_lorenz()), "lorenz", **SMALL_EVALUATION)
    assert result.long_run == "ok", result.notes
    assert len(result.lyapunov.learned) == 3 and np.all(np.isfinite(result.lyapunov.learned))


def test_the_stages_can_be_called_on_their_own():
    lorenz = dyncore.systems.create("lorenz")
    data = lorenz.simulate(t=np.arange(0.0, 4.0, 0.02), batch=2, seed=5, transient=10.0)
    notes: list[str] = []
    plan = plan_evaluation(LorenzField(), {}, data, n_tests=20, dt=None, horizon=None, long_time=None, transient=None,
                           lyapunov_steps=None, n_exponents=None, notes=notes)
    assert plan.system is None and plan.dt == pytest.approx(0.02) and plan.transient is None and plan.lam == 0.906
    assert plan.horizon == pytest.approx(3.98) and plan.n_exponents == 3 and notes == []
    held = held_out_data(plan, n_tests=20, seed=1)
    assert held.test.batch == 2 and held.long is held.test and held.sigma.shape == (3,)
    vpt = short_term(LorenzField(substeps=1), held, plan, (0.5,), notes)
    assert list(vpt) == [0.5] and vpt[0.5].threshold == 0.5 and vpt[0.5].lyapunov_times == pytest.approx(vpt[0.5].mean * 0.906)


def test_persistence_and_cycles_are_opt_in_parts_of_the_evaluation():
    plain = evaluate(LorenzField(substeps=1), "lorenz", **SHORT)
    assert plain.persistence is None and "persistence" not in plain.to_dict()
    result = evaluate(LorenzField(substeps=1), "lorenz", **SHORT, persistence=100.0)
    assert result.persistence["n_starts"] == 8 and result.persistence["fates"] == ["chaotic"] * 8
    assert json.dumps(result.to_dict()) and "chaos lasts (Lyapunov times)" in format_table(result)
    with pytest.raises(dyncore.ConfigError, match="no limit-cycle period"):
        evaluate(LorenzField(substeps=1), "lorenz", **SHORT, cycles=True)
