"""chaos_persistence: each fate read right on short runs of exact models (numpy RK4 behind the Model interface)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest
import torch

import dyncore
from dyncore.model import Model
from dyncore.persistence import Persistence, chaos_persistence, format_lasts

LORENZ_LT = 1 / 0.906


class NumpyField(Model):
    """A known field ``f(x)`` (numpy, batched) rolled out by RK4 on the output grid; ``switch`` changes it per call."""

    name: ClassVar[str] = "numpy_field"
    default_hparams: ClassVar[dict[str, Any]] = {"field": "lorenz", "rho": 28.0, "switch": None, "fail_at": None}

    def __init__(self, **hparams: Any) -> None:
        super().__init__(**hparams)
        self.calls = 0

    @property
    def context_length(self) -> int:
        return 1

    def prepare(self, trajectory=None, dim=None):
        self.dim = 2 if self.hparams["field"] == "van_der_pol" else 3

    def examples(self, trajectory, lookahead=1):
        return {"x": torch.as_tensor(trajectory.x)}

    def loss(self, batch):
        return batch["x"].sum() * 0.0

    def f(self, x: np.ndarray, rho: float, kind: str) -> np.ndarray:
        if kind == "van_der_pol":
            u, v = x[..., 0], x[..., 1]
            return np.stack([v, (1 - u**2) * v - u], axis=-1)
        if kind == "growth":
            return 0.5 * x
        u, v, w = x[..., 0], x[..., 1], x[..., 2]
        return np.stack([10.0 * (v - u), u * (rho - w) - v, u * v - 8.0 / 3.0 * w], axis=-1)

    def rollout(self, context, t):
        switch = self.hparams["switch"]  # {call: rho}: this window runs at that rho ("growth": that field)
        rho = (switch or {}).get(self.calls, self.hparams["rho"])
        kind = "growth" if rho == "growth" else self.hparams["field"]
        self.calls += 1
        x = context[-1].double().numpy()
        if self.hparams["fail_at"] is not None and np.any(np.all(np.isclose(x, self.hparams["fail_at"]), axis=-1)):
            raise dyncore.SolverError("step size underflow at t = 0.5")  # what an adaptive solver says on a bad field
        out = np.empty((len(t), *x.shape))
        out[0] = x
        with np.errstate(over="ignore", invalid="ignore"):
            for i, h in enumerate(np.diff(t.double().numpy())):
                k1 = self.f(x, rho, kind)
                k2 = self.f(x + h / 2 * k1, rho, kind)
                k3 = self.f(x + h / 2 * k2, rho, kind)
                k4 = self.f(x + h * k3, rho, kind)
                x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
                out[i + 1] = x
        return torch.as_tensor(out)


def field(**hparams: Any) -> NumpyField:
    model = NumpyField(**hparams)
    model.prepare()
    return model


@pytest.fixture(scope="module")
def starts() -> np.ndarray:
    """Three states on the Lorenz attractor (settled once for the module: the transient is the slow part)."""
    return dyncore.simulate("lorenz", t=np.array([0.0, 0.01]), batch=3, seed=1, transient=20.0).x[0]


def short(model: Model, starts: np.ndarray, system: str = "lorenz", **kwargs: Any) -> Persistence:
    """Three windows of 30 Lyapunov times (300 samples at the 0-1 test's stride of about 11: K reads chaos reliably)."""
    options = {"lyapunov_times": 90.0, "window_lyapunov_times": 30.0, "starts": starts, "dt": 0.01, **kwargs}
    return chaos_persistence(model, system, **options)


def test_the_true_lorenz_field_stays_chaotic_in_every_window(starts, capsys):
    result = short(field(rho=28.0), starts)
    assert capsys.readouterr().err == ""  # progress only on a terminal (or when asked)
    assert result.fates == ["chaotic"] * 3 and result.stopped == [None] * 3
    assert result.k.shape == (3, 3) and np.all(result.k > 0.9)
    assert format_lasts(result.summary()) == ">90" and result.summary()["never_stopped"] == 3
    assert result.summary()["unit"] == "Lyapunov times" and result.lyapunov_exponent == pytest.approx(0.906)


def test_lorenz_below_the_chaotic_range_falls_onto_a_fixed_point(starts):
    # rho = 15: C+ and C- are stable; from the rho = 28 attractor the run spirals in within a window
    result = short(field(rho=15.0), starts)
    assert result.fates == ["fixed point"] * 3
    assert result.stopped == [0.0] * 3 and np.all(result.k < 0.8)
    assert result.motion[:, -1].max() < 1e-3
    # onto C+ or C-: (+-sqrt(b (rho - 1)), +-sqrt(b (rho - 1)), rho - 1)
    assert np.allclose(np.abs(result.ends), [np.sqrt(8 / 3 * 14), np.sqrt(8 / 3 * 14), 14.0], atol=1e-2)


def test_van_der_pol_reads_as_a_cycle_with_its_period():
    system = dyncore.systems.create("van_der_pol")
    result = chaos_persistence(field(field="van_der_pol"), system, duration=80.0, window=40.0, n_starts=2, dt=0.02)
    assert result.fates == ["cycle", "cycle"] and result.stopped == [0.0, 0.0]
    assert result.unit_name == "time units"
    assert result.periods == [pytest.approx(6.6633, rel=0.01)] * 2


def test_a_growing_field_blows_up_and_its_time_is_the_step_it_left_the_range(starts):
    result = short(field(field="growth"), starts)
    assert result.fates == ["blow-up"] * 3 and result.stopped == [0.0] * 3  # never chaotic
    # |x| grows like e^{t/2}: it passes 100 half-widths of the attractor within about 10 time units
    assert all(0 < t < 15 for t in result.blew_up)
    assert np.all(np.isnan(result.k)) and np.all(np.isnan(result.ends))


def test_a_solver_failure_stops_only_its_own_start(starts):
    result = short(field(fail_at=starts[1].tolist()), starts)
    assert result.fates == ["chaotic", "blow-up", "chaotic"] and result.stopped[1] == 0.0 and result.blew_up == [None, 0.0, None]
    assert np.all(np.isnan(result.k[1])) and np.all(result.k[[0, 2]] > 0.8)
    assert any("start 1: the model's solver failed at t = 0: step size underflow" in note for note in result.notes)


def test_the_stop_time_is_where_the_last_non_chaotic_stretch_begins_and_dips_are_counted(starts):
    # windows 0-1 chaotic (rho 28), window 2 settles (rho 15): stopped at the start of window 2
    stopping = short(field(switch={2: 15.0}), starts[:2])
    assert stopping.fates == ["fixed point"] * 2
    assert stopping.stopped == [pytest.approx(2 * stopping.window)] * 2
    assert stopping.summary()["median_lasts"] == pytest.approx(60.0, rel=1e-3)
    # window 1 settles, then rho 28 returns: chaos again by the last window, one dip each
    dipping = short(field(switch={1: 15.0}), starts[:2], lyapunov_times=120.0)
    assert dipping.fates == ["chaotic"] * 2 and dipping.dips == [1, 1] and dipping.stopped == [None, None]
    # chaotic for two windows, then a field that blows up: chaos lasted those two windows
    exploding = short(field(switch={2: "growth"}), starts[:2])
    assert exploding.fates == ["blow-up"] * 2 and exploding.stopped == [pytest.approx(2 * exploding.window)] * 2
    assert all(2 * exploding.window < t < 2 * exploding.window + 15 for t in exploding.blew_up)


def test_the_truth_itself_runs_through_its_own_solver():
    result = chaos_persistence(dyncore.systems.create("lorenz"), lyapunov_times=15.0, window_lyapunov_times=15.0, n_starts=2,
                               solver="rk4")
    assert result.fates == ["chaotic", "chaotic"] and result.rollout == "system"
    assert result.model == "truth (lorenz)" and result.k.min() > 0.9


def test_to_dict_is_json_and_the_figure_draws(starts, tmp_path):
    import json

    from dyncore import plotting

    result = short(field(field="growth"), starts[:1])
    data = json.loads(json.dumps(result.to_dict()))
    assert data["fates"] == ["blow-up"] and data["k"] == [[None, None, None]]
    path = plotting.save(plotting.persistence(result), tmp_path / "k.png")
    assert path.stat().st_size > 1000


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"window_lyapunov_times": 180.0}, r"window .* is longer than the run"),
        ({"window_lyapunov_times": 1.0}, r"needs 100: give a window of at least"),
        ({"threshold": 1.5}, r"threshold on K must be in \(0, 1\]"),
        ({"rollout": "slow"}, r"rollout must be 'quick' or 'full'"),
        ({"starts": None, "n_starts": 0}, r"n_starts must be a positive integer"),
        ({"starts": np.zeros((2, 3, 3))}, r"starts must have shape \(n_starts, dim\) or \(1, n_starts, dim\)"),
        ({"dt": -0.01}, r"dt must be a positive number"),
        ({"component": 5}, r"component 5 is out of range"),
    ],
)
def test_bad_arguments_are_one_line_config_errors(starts, kwargs, message):
    with pytest.raises(dyncore.ConfigError, match=message):
        short(field(rho=28.0), kwargs.pop("starts", starts), **kwargs)


def test_a_system_without_a_positive_exponent_needs_lengths_in_time_units():
    with pytest.raises(dyncore.ConfigError, match=r"no known positive Lyapunov exponent: give the duration in time units"):
        chaos_persistence(field(field="van_der_pol"), "van_der_pol")
    with pytest.raises(dyncore.ConfigError, match=r"dimension 3 but system 'van_der_pol' has 2"):
        chaos_persistence(field(rho=28.0), "van_der_pol", duration=80.0, window=40.0)
