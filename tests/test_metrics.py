"""Metrics: Lyapunov spectra of systems, maps and models; valid prediction time; measure and spectrum distances."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from exact_models import HenonWindow, LorenzField

import dyncore
from dyncore.metrics import (
    LyapunovConvergenceWarning,
    default_lyapunov_steps,
    histogram_distance,
    lyapunov_spectrum,
    lyapunov_spectrum_of_map,
    nrmse,
    power_spectrum_distance,
    settle,
    sliced_wasserstein_distance,
    starts_near,
    valid_prediction_time,
    valid_prediction_times,
)
from dyncore.trajectory import Trajectory

HENON = (0.41922, -1.62319)  # Hénon map a = 1.4, b = 0.3; the exponents sum to ln 0.3


class Rossler(dyncore.System):
    """Rössler (0.2, 0.2, 5.7), as in docs/examples/dyncore-rossler: slow, lambda_1 = 0.0714."""

    name = "rossler_test"
    dim = 3

    def vector_field(self, t, x):
        u, v, w = x.unbind(-1)
        return torch.stack((-v - w, u + 0.2 * v, 0.2 + w * (u - 5.7)), dim=-1)

    def default_x0(self):
        return torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)

    def default_times(self):
        return torch.linspace(0.0, 100.0, 2000, dtype=torch.float64)

    def reference(self):
        return {"lyapunov_exponents": [0.0714, 0.0, -5.3943]}


@pytest.fixture(scope="module")
def lorenz():
    return dyncore.systems.create("lorenz")


@pytest.fixture(scope="module")
def lorenz_starts(lorenz):
    return settle(lorenz, starts_near(lorenz, 256), dt=0.02, n_steps=1000)


def test_lorenz_spectrum_from_the_system(lorenz, lorenz_starts):
    with warnings.catch_warnings():
        warnings.simplefilter("error", LyapunovConvergenceWarning)  # lambda_1 is resolved here
        spectrum = lyapunov_spectrum(lorenz, lorenz_starts, dt=0.02, n_steps=1000, n_transient=250)
    l1, l2, l3 = spectrum.exponents
    assert l1 == pytest.approx(0.906, rel=0.02)
    assert abs(l2) < 0.02
    assert l3 == pytest.approx(-14.572, rel=0.02)
    assert spectrum.kaplan_yorke_dimension() == pytest.approx(2.06, abs=0.01)
    # The starts share one origin, so the spread over starts (0.006 for lambda_1) understates the
    # error; the segments of the window see it (0.023, and lambda_1 is 0.011 off).
    assert np.all(spectrum.stderr < 0.05)
    assert np.all(np.abs(spectrum.exponents - [0.906, 0.0, -14.572]) < 3 * spectrum.stderr)
    assert spectrum.per_segment.shape == (10, 3)
    assert spectrum.as_dict()["starts"] == 256 and spectrum.as_dict()["segments"] == 10


def test_kuramoto_sivashinsky_spectrum_steps_with_its_own_integrator():
    # RK4 at dt = 0.25 blows up on the stiff linear part; ETDRK4 is the system's own integrator.
    ks = dyncore.systems.create("kuramoto_sivashinsky")
    starts = torch.as_tensor(dyncore.simulate(ks, t=np.array([0.0, 0.25]), batch=8, transient=100, seed=3).x[-1])
    starts = settle(ks, starts, dt=0.25, n_steps=4)
    spectrum = lyapunov_spectrum(ks, starts, dt=0.25, n_steps=200, n_transient=40, n_exponents=1)
    assert spectrum.stderr[0] < 0.03
    assert abs(spectrum.largest - 0.048) < 4 * spectrum.stderr[0]  # 16 starts, T = 500: 0.050 +- 0.003


def test_in_phase_starts_get_honest_errors_and_an_unresolved_lambda_1_warns():
    # The documented recipe on a slow system: starts within 1e-3 of each other stay in phase for
    # T = 20, so their spread says nothing about the error; 3 more time units of settling moved
    # lambda_3 by 0.55 where the spread over starts gave standard errors of 4e-4.
    rossler = Rossler()
    spectra = []
    for settling in (1000, 1150):
        starts = settle(rossler, starts_near(rossler, 8), dt=0.02, n_steps=settling)
        with pytest.warns(LyapunovConvergenceWarning, match="not resolved from 0"):
            spectra.append(lyapunov_spectrum(rossler, starts, dt=0.02, n_steps=1000, n_transient=100))
    first, second = spectra
    assert np.all(np.abs(first.exponents - second.exponents) < 3 * np.hypot(first.stderr, second.stderr))
    assert first.per_start[:, 2].std() / math.sqrt(8) < first.stderr[2] / 10  # the segments carry the error


def test_default_window_spans_ten_published_lyapunov_times():
    assert default_lyapunov_steps(Rossler(), 0.02) == math.ceil(10 / (0.0714 * 0.02))  # T = 140, not 20
    assert default_lyapunov_steps(dyncore.systems.create("lorenz"), 0.02) == 1000  # 10 Lyapunov times < 1000 steps
    assert default_lyapunov_steps(LorenzField(), 0.02) == 1000  # publishes nothing


def test_node_like_model_uses_its_vector_field(lorenz_starts):
    spectrum = lyapunov_spectrum(LorenzField(), lorenz_starts[:32], dt=0.02, n_steps=300, n_transient=100, n_exponents=1)
    assert spectrum.exponents.shape == (1,)
    assert spectrum.largest == pytest.approx(0.906, rel=0.15)


def henon_orbits(n: int, length: int = 200) -> np.ndarray:
    x = np.zeros((length, n))
    x[1] = np.linspace(0.0, 0.1, n)
    for i in range(2, length):
        x[i] = 1.0 - 1.4 * x[i - 1] ** 2 + 0.3 * x[i - 2]
    return x


def test_map_spectrum_henon():
    x = henon_orbits(256)
    states = torch.as_tensor(np.stack([x[-1], x[-2]], axis=1))  # (batch, 2): (x_n, y_n = 0.3 x_{n-1})
    states[:, 1] *= 0.3

    def henon(s):
        return torch.stack([1.0 - 1.4 * s[:, 0] ** 2 + s[:, 1], 0.3 * s[:, 0]], dim=1)

    spectrum = lyapunov_spectrum_of_map(henon, states, n_steps=500, n_transient=50)
    assert spectrum.exponents == pytest.approx(HENON, abs=0.02)
    assert spectrum.exponents.sum() == pytest.approx(math.log(0.3), abs=1e-9)


def test_window_model_spectrum_through_rollout():
    x = henon_orbits(256)
    windows = torch.as_tensor(x[-2:, :, None])  # (context_length, batch, dim = 1)
    spectrum = lyapunov_spectrum(HenonWindow(), windows, dt=0.5, n_steps=500, n_transient=50)
    assert spectrum.exponents == pytest.approx([v / 0.5 for v in HENON], abs=0.04)


def test_window_model_rejects_unwindowed_starts():
    with pytest.raises(dyncore.DataError, match="windows of shape"):
        lyapunov_spectrum(HenonWindow(), torch.zeros(4, 1), dt=1.0)


def test_blow_up_is_a_data_error():
    with pytest.raises(dyncore.DataError, match="blew up"):
        lyapunov_spectrum(lambda t, x: x**2, torch.ones(2, 1), dt=0.5, n_steps=50, n_transient=0)


def test_nrmse_and_vpt_on_known_arrays():
    t = np.linspace(0.0, 10.0, 11)
    truth = np.zeros((11, 2, 2))
    prediction = truth.copy()
    prediction[:, 0, 0] = t / 10  # NRMSE sqrt((t/10)^2 / 2) crosses 0.5 after t = 7.07
    error = nrmse(prediction, truth, np.array([1.0, 1.0]))
    assert error.shape == (11, 2)
    vpt, censored = valid_prediction_time(error, t, 0.5)
    assert vpt.tolist() == [8.0, 10.0]
    assert censored.tolist() == [False, True]
    prediction[3, 1, 1] = np.nan
    assert np.isinf(nrmse(prediction, truth, np.ones(2))[3, 1])


def test_vpt_of_models_on_held_out_lorenz(lorenz, lorenz_starts):
    test = lorenz.simulate(lorenz_starts[:8].numpy(), np.arange(0.0, 8.0, 0.02), rtol=1e-8, atol=1e-8)
    sigma = test.x.reshape(-1, 3).std(axis=0)
    exact = valid_prediction_times(LorenzField(), test, sigma, lyapunov_exponent=0.906)
    wrong = valid_prediction_times(LorenzField(rho=28.5), test, sigma, lyapunov_exponent=0.906)
    assert exact["0.5"]["mean"] > 6.0
    assert 0.5 < wrong["0.5"]["mean"] < exact["0.5"]["mean"]
    assert wrong["0.05"]["mean"] < wrong["0.5"]["mean"]
    assert wrong["0.5"]["lyapunov_times"] == pytest.approx(0.906 * wrong["0.5"]["mean"])
    assert len(wrong["0.5"]["per_start"]) == 8


def test_vpt_rejects_bad_sigma(lorenz_starts):
    test = Trajectory(np.arange(5.0), np.zeros((5, 3)))
    with pytest.raises(dyncore.DataError, match="sigma"):
        valid_prediction_times(LorenzField(), test, [1.0, 0.0, 1.0])


def test_measure_distances():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((20000, 2)), rng.standard_normal((20000, 2))
    shifted = b + np.array([1.0, 0.0])
    assert histogram_distance(a, b) < 0.05
    assert histogram_distance(shifted, b) > 0.15  # TV of N(1, 1) vs N(0, 1) is 0.38, averaged with 0
    assert sliced_wasserstein_distance(a, b) < 0.05
    assert sliced_wasserstein_distance(shifted, b) > 0.3
    assert sliced_wasserstein_distance(a, b, seed=1) == sliced_wasserstein_distance(a, b, seed=1)
    broken = a.copy()
    broken[5] = np.inf
    assert math.isinf(sliced_wasserstein_distance(broken, b))
    assert histogram_distance(broken, b) < 0.06
    assert histogram_distance(np.full((100, 2), 1e6), b) == pytest.approx(1.0)


def test_power_spectrum_distance():
    t = np.arange(4096) * 0.1
    slow = np.stack([np.sin(1.0 * t), np.cos(1.0 * t)], axis=1)
    same = np.stack([np.sin(1.0 * t + 0.3), np.cos(1.0 * t + 1.0)], axis=1)
    fast = np.stack([np.sin(7.0 * t), np.cos(7.0 * t)], axis=1)
    assert power_spectrum_distance(same, slow) < 0.05
    assert power_spectrum_distance(fast, slow) > 0.9
    assert power_spectrum_distance(np.full_like(slow, np.nan), slow) == 1.0
    batched = np.stack([slow, same], axis=1)  # (n, batch, dim)
    assert power_spectrum_distance(batched, slow) < 0.05


@pytest.mark.parametrize("name", ["rnn", "node"])
def test_builtin_models_through_the_model_interface(name, lorenz):
    """The same calls measure an RNN (window map through rollout) and a NODE (its vector field)."""
    torch.manual_seed(0)
    data = lorenz.simulate(t=np.arange(0.0, 5.0, 0.01))
    model = dyncore.models.create(name, hidden=16)
    model.prepare(data)
    length = model.context_length
    starts = torch.as_tensor(np.stack([data.x[i : i + length] for i in (0, 100, 200)], axis=1))  # (length, 3, dim)
    spectrum = lyapunov_spectrum(model, starts, dt=0.01, n_steps=20, n_transient=5)
    assert spectrum.exponents.shape == (3 * length,)
    assert np.all(np.isfinite(spectrum.exponents))
    test = lorenz.simulate(data.x[[50, 250]], np.arange(0.0, 1.0, 0.01))
    vpt = valid_prediction_times(model, test, data.x.std(axis=0), lyapunov_exponent=0.906)
    assert set(vpt) == {"0.5", "0.05"}
    assert 0.0 <= vpt["0.5"]["mean"] <= 1.0 - 0.01 * length
