"""The chaos tests: conformance, the 0-1 test's required results, its oversampling guard, and the Lyapunov test."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from dyncore_chaos.zero_one import OversamplingWarning, ZeroOneTest, correlation_k

import dyncore
from dyncore.testing import parametrize_with_checks
from dyncore.testing.chaos import logistic_series, quasiperiodic_series


@parametrize_with_checks(["chaos_tests:zero_one", "chaos_tests:lyapunov"])
def test_conformance(component, check):
    check(component)


@pytest.fixture(scope="module")
def lorenz_x():
    """Lorenz x sampled every 0.01 over t in [20, 520] (50,000 samples)."""
    system = dyncore.systems.create("lorenz")
    trajectory = system.simulate(t=np.arange(0.0, 520.0, 0.01), transient=20.0, rtol=1e-8, atol=1e-8)
    return trajectory.x[:, 0]


def zero_one(series, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("error", OversamplingWarning)
        return ZeroOneTest(**options).run(series)


@pytest.mark.parametrize("r", [3.97, 4.0])
def test_logistic_chaotic(r):
    assert zero_one(logistic_series(r, 5000)).statistic > 0.95


@pytest.mark.parametrize("r", [3.55, 3.83])
def test_logistic_periodic(r):
    assert abs(zero_one(logistic_series(r, 5000)).statistic) < 0.05


@pytest.mark.parametrize(
    "series",
    [np.sin(0.3 * np.arange(1, 5001)), quasiperiodic_series(5000)],
    ids=["sin(0.3n)", "quasi-periodic"],
)
def test_regular_signals(series):
    result = zero_one(series)
    assert abs(result.statistic) < 0.1
    assert result.verdict == "regular"


def test_lorenz_tau_0_1_chaotic(lorenz_x):
    assert zero_one(lorenz_x[::10][:5000]).statistic > 0.95


def test_lorenz_oversampled_warns(lorenz_x):
    with pytest.warns(OversamplingWarning, match="oversampled"):
        result = ZeroOneTest().run(lorenz_x[:5000])
    assert result.warnings and "subsample='auto'" in result.warnings[0]
    assert result.statistic < 0.5  # the false "regular" the guard is for


def test_lorenz_oversampled_auto_subsample(lorenz_x):
    result = zero_one(lorenz_x[:20000], subsample="auto")
    assert result.statistic > 0.9
    assert result.details["stride"] > 1
    assert result.warnings == []
    assert result.details["stride_capped"] is False


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auto_subsample_warns_when_it_stops_at_its_cap(seed):
    # A random walk never reaches span / step <= 10 within 100 samples: the stride stops at N / 100
    # and K reads "regular" (0.1-0.2); that must come with a warning that names the stride.
    walk = np.cumsum(np.random.default_rng(seed).standard_normal(5000))
    with pytest.warns(OversamplingWarning, match="stopped at its cap, stride 50"):
        result = ZeroOneTest(subsample="auto").run(walk)
    assert result.details["stride"] == 50 and result.details["stride_capped"] is True
    assert len(result.warnings) == 1 and "longer series" in result.warnings[0]


def test_fft_displacement_matches_double_loop():
    x = logistic_series(3.9, 600)
    c = np.random.default_rng(1).uniform(math.pi / 5, 4 * math.pi / 5, 5)
    n_cut = 60
    j = np.arange(1, len(x) + 1)
    lags = np.arange(1, n_cut + 1)
    expected = []
    for cc in c:
        p, q = np.cumsum(x * np.cos(j * cc)), np.cumsum(x * np.sin(j * cc))
        m = np.array([np.mean((p[n:] - p[:-n]) ** 2 + (q[n:] - q[:-n]) ** 2) for n in lags])
        d = m - np.mean(x) ** 2 * (1 - np.cos(lags * cc)) / (1 - np.cos(cc))
        expected.append(np.corrcoef(lags, d)[0, 1])
    np.testing.assert_allclose(correlation_k(x, c, n_cut), expected, atol=1e-10)


def test_seeded_c_and_result_details():
    x = logistic_series(4.0, 1000)
    a, b = ZeroOneTest(seed=3).run(x), ZeroOneTest(seed=3).run(x)
    assert a.statistic == b.statistic
    assert ZeroOneTest(seed=4).run(x).details["c"][0] != a.details["c"][0]
    d = a.details
    assert d["K_c"].shape == d["c"].shape == (100,)
    assert d["p"].shape == d["q"].shape == (1000,)
    assert np.all((d["c"] > math.pi / 5) & (d["c"] < 4 * math.pi / 5))
    assert json.loads(json.dumps(a.as_dict()))["details"]["n_cut"] == 100


def test_component_selection_and_range():
    series = np.stack([quasiperiodic_series(1000), logistic_series(4.0, 1000)], axis=1)
    assert ZeroOneTest(component=1).run(series).verdict == "chaotic"
    assert ZeroOneTest(component=0).run(series).verdict == "regular"
    with pytest.raises(dyncore.DataError, match="out of range.*use 0..1"):
        ZeroOneTest(component=2).run(series)


def test_short_after_subsampling_says_raw_length():
    with pytest.raises(dyncore.DataError, match="at least 100 samples after subsampling by 5.*at least 500 raw"):
        ZeroOneTest(subsample=5).run(logistic_series(4.0, 300))


@pytest.mark.parametrize(
    "options, match",
    [({"subsample": 0}, "subsample"), ({"c_range": [0.0, 1.0]}, "c_range"), ({"n_c": 0}, "n_c"), ({"colour": 1}, "colour")],
)
def test_bad_options(options, match):
    with pytest.raises(dyncore.ConfigError, match=match):
        ZeroOneTest(**options)


def test_torch_input_accepted():
    torch = pytest.importorskip("torch")
    x = logistic_series(4.0, 1000)
    assert ZeroOneTest().run(torch.from_numpy(x)).statistic == ZeroOneTest().run(x).statistic


def test_lyapunov_logistic_exponent():
    result = dyncore.chaos_tests.create("lyapunov").run(logistic_series(4.0, 3000))
    assert result.statistic == pytest.approx(math.log(2), rel=0.03)
    assert result.verdict == "chaotic"


def test_lyapunov_lorenz_per_unit_time(lorenz_x):
    result = dyncore.chaos_tests.create("lyapunov").run(lorenz_x[::10][:3000], dt=0.1)
    assert 0.7 < result.statistic < 1.2  # Rosenstein on a delay embedding: lambda_1 = 0.906 within its usual bias
    assert result.verdict == "chaotic"


def test_lyapunov_periodic_orbit_is_regular():
    result = dyncore.chaos_tests.create("lyapunov").run(logistic_series(3.55, 2000))
    assert result.statistic == pytest.approx(0.0, abs=1e-6)
    assert result.verdict == "regular"


@pytest.mark.parametrize("name", ["zero_one", "lyapunov"])
def test_noise_reads_chaotic(name):
    """Documented limitation: neither test separates chaos from noise."""
    noise = np.random.default_rng(0).standard_normal(3000)
    assert dyncore.chaos_tests.create(name).run(noise).verdict == "chaotic"
