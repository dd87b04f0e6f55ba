"""dyncore.simulate: accuracy against references, batches, seeds, options, metadata and errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.integrate
import torch

import dyncore
from dyncore.errors import ConfigError, SolverError, UnknownNameError
from dyncore.simulation import time_grid, transient_times
from dyncore.trajectory import Trajectory


def lorenz_reference(t: np.ndarray, x0=(-8.0, 7.0, 27.0)) -> np.ndarray:
    def f(_, u):
        x, y, z = u
        return [10.0 * (y - x), x * (28.0 - z) - y, x * y - 8.0 / 3.0 * z]

    return scipy.integrate.solve_ivp(f, (t[0], t[-1]), x0, method="DOP853", t_eval=t, rtol=1e-10, atol=1e-12).y.T


@pytest.mark.parametrize("solver, options", [(None, {}), ("dopri5", {"rtol": 1e-10, "atol": 1e-10})])
def test_lorenz_defaults_agree_with_scipy_dop853(solver, options):
    lorenz = dyncore.systems.create("lorenz")
    t = lorenz.default_times()
    t = t[t <= 1.0]
    trajectory = lorenz.simulate(t=t, solver=solver, **options)
    assert np.abs(trajectory.x - lorenz_reference(t.numpy())).max() < 1e-6


def downward_crossings(t: np.ndarray, x: np.ndarray) -> np.ndarray:
    i = np.where((x[:-1] > 0) & (x[1:] <= 0))[0]
    return t[i] + (t[i + 1] - t[i]) * x[i] / (x[i] - x[i + 1])


def test_van_der_pol_mu_1000_period_with_radau():
    vdp = dyncore.systems.create("van_der_pol", mu=1000.0)
    trajectory = vdp.simulate(t=np.linspace(0.0, 2600.0, 5201), solver="radau")
    period = np.diff(downward_crossings(trajectory.t, trajectory.x[:, 0]))
    assert len(period) >= 1 and abs(period[0] - 1614.4) / 1614.4 < 0.005


def test_etdrk4_is_fourth_order_on_kuramoto_sivashinsky():
    # The order approaches 4 as dt -> 0 (about 3.7-3.9 between dt = 2^-6 and 2^-8); at dt = 0.25 the
    # stiffest modes (h L ~ -1700) put ETDRK4 in its known stiff regime, where it shows about 3.
    ks = dyncore.systems.create("kuramoto_sivashinsky")
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    x0 = ks.default_x0()

    def run(h):
        return dyncore.solvers.create("etdrk4", step_size=h).solve(ks, x0, t)[-1]

    reference = run(2.0**-11)
    steps = [2.0**-6, 2.0**-7, 2.0**-8]
    errors = [float((run(h) - reference).abs().max()) for h in steps]
    order = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert 3.6 < order < 4.4, (order, errors)


@pytest.mark.parametrize("system, solver", [("lorenz", None), ("lorenz", "rk4"), ("kuramoto_sivashinsky", None), ("van_der_pol", "radau")])
def test_batched_and_unbatched_agree(system, solver):
    s = dyncore.systems.create(system)
    t = s.default_times()[:101]
    x0 = s.random_x0(3, seed=5)
    together = s.simulate(x0, t, solver=solver)
    assert together.x.shape == (101, 3, s.dim) and together.batched
    for i in range(3):
        alone = s.simulate(x0[i], t, solver=solver)
        np.testing.assert_allclose(together.x[:, i], alone.x, atol=1e-6, rtol=0)


def test_results_are_deterministic_for_a_seed():
    options = {"batch": 4, "noise": 0.1, "irregular": True, "t": np.linspace(0, 2, 201)}
    a = dyncore.simulate("lorenz", seed=3, **options)
    b = dyncore.simulate("lorenz", seed=3, **options)
    c = dyncore.simulate("lorenz", seed=4, **options)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.t, b.t)
    assert a.meta["content_hash"] == b.meta["content_hash"] != c.meta["content_hash"]


def test_metadata_makes_the_dataset_reproducible_and_checkable(tmp_path):
    trajectory = dyncore.simulate("van_der_pol", t=np.linspace(0, 5, 51), solver="radau", rtol=1e-7)
    meta = trajectory.meta
    assert meta["system"] == "van_der_pol" and meta["params"] == {"mu": 1.0}
    assert meta["solver"] == "radau" and meta["solver_options"]["rtol"] == 1e-7
    assert meta["seed"] == 0 and meta["dyncore_version"] == dyncore.__version__
    assert meta["x0"] == [2.0, 0.0] and meta["reference"] == {"period": 6.6633}
    assert meta["content_hash"] == trajectory.content_hash()
    loaded = Trajectory.load(trajectory.save(tmp_path / "vdp.npz"))
    assert loaded.meta == meta and loaded.content_hash() == meta["content_hash"]
    system = dyncore.systems.create(meta["system"], **meta["params"])
    again = dyncore.simulate(
        system, meta["x0"], loaded.t, solver=meta["solver"], solver_options=meta["solver_options"],
        seed=meta["seed"], noise=meta["noise"], irregular=meta["irregular"], transient=meta["transient"],
    )
    assert again.meta["content_hash"] == meta["content_hash"]


def test_irregular_keeps_a_seeded_subset_of_the_grid_and_the_first_point():
    t = np.linspace(0, 2, 101)
    full = dyncore.simulate("spiral", t=t)
    sparse = dyncore.simulate("spiral", t=t, irregular=0.3)
    assert len(sparse.t) == 30 and sparse.t[0] == 0.0 and np.all(np.diff(sparse.t) > 0)
    index = np.searchsorted(t, sparse.t)
    np.testing.assert_array_equal(sparse.x, full.x[index])


def test_noise_is_gaussian_with_the_given_scale():
    t = np.linspace(0, 10, 2001)
    clean = dyncore.simulate("lorenz", t=t)
    noisy = dyncore.simulate("lorenz", t=t, noise=0.5)
    assert abs(float(np.std(noisy.x - clean.x)) - 0.5) < 0.02
    assert noisy.meta["noise"] == 0.5


def test_transient_starts_from_where_the_transient_ends():
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    after = dyncore.simulate("lorenz", t=t, transient=2.0, solver="rk4")
    before = dyncore.simulate("lorenz", t=transient_times(t, 2.0), solver="rk4")
    np.testing.assert_array_equal(after.x[0], before.x[-1])
    assert after.meta["transient"] == 2.0 and after.meta["x0"] == [-8.0, 7.0, 27.0]


def test_float32_and_a_solver_instance_with_new_tolerances():
    solver = dyncore.solvers.create("dopri5")
    trajectory = dyncore.simulate("spiral", t=np.linspace(0, 1, 11), solver=solver, rtol=1e-5, dtype="float32")
    assert trajectory.meta["solver_options"]["rtol"] == 1e-5 and trajectory.meta["dtype"] == "float32"
    assert solver.options["rtol"] == 1e-7  # the given instance is not changed


def test_batch_without_x0_uses_the_systems_random_states():
    trajectory = dyncore.simulate("kuramoto_sivashinsky", batch=3, seed=2, t=np.arange(5) * 0.25)
    np.testing.assert_array_equal(trajectory.x[0], dyncore.systems.create("kuramoto_sivashinsky").random_x0(3, 2).numpy())


@pytest.mark.parametrize("system", ["lorenz", "kuramoto_sivashinsky"])
def test_progress_is_shown_on_request(capsys, system):
    dyncore.simulate(system, t=np.linspace(0, 1, 11), progress=True)
    err = capsys.readouterr().err
    assert f"simulating {system}" in err and "100%" in err


def test_progress_is_silent_off_a_terminal(capsys):
    dyncore.simulate("lorenz", t=np.linspace(0, 1, 11))
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"system": "lorenzz"}, UnknownNameError, "did you mean 'lorenz'"),
        ({"noice": 0.1}, UnknownNameError, "did you mean 'noise'"),
        ({"x0": [1.0, 2.0]}, ConfigError, "dimension 3; give 3 numbers"),
        ({"t": []}, ConfigError, "at least two"),
        ({"t": [0.0, 1.0, 1.0]}, ConfigError, "strictly increasing"),
        ({"noise": -1.0}, ConfigError, "noise"),
        ({"irregular": 1.5}, ConfigError, "irregular"),
        ({"seed": -1}, ConfigError, "seed"),
        ({"batch": 2, "x0": [1.0, 2.0, 3.0]}, ConfigError, "batch"),
        ({"solver": "etdrk4"}, SolverError, "semilinear split"),
        ({"solver": "rk4", "rtol": 1e-3}, UnknownNameError, "rtol"),
        # steps of 1 (asked for: without step_size euler takes at most Lorenz's own step, 0.01, and stays finite)
        ({"solver": "euler", "t": np.linspace(0, 20, 21), "solver_options": {"step_size": 1.0}}, SolverError,
         r"NaN/Inf at t = \d+ \(finite at t = \d+\)"),
    ],
)
def test_bad_input_is_one_line_error(kwargs, error, match):
    kwargs = {"system": "lorenz", **kwargs}
    with pytest.raises(error, match=match) as info:
        dyncore.simulate(kwargs.pop("system"), **kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("value", "match"),
    [(float("nan"), "must be a finite number"), (float("inf"), "must be a finite number"), ("abc", "must be a number"),
     (True, "must be a number"), (None, "must be a number"), ([1, 2], "must be a number")],
)
def test_system_parameters_must_match_the_type_of_their_default(value, match):
    with pytest.raises(ConfigError, match=f"parameter 'rho' of system 'lorenz' {match}"):
        dyncore.systems.create("lorenz", rho=value)
    assert dyncore.systems.create("lorenz", rho=28).params["rho"] == 28  # an int for a float default is fine


def test_a_boolean_parameter_takes_only_booleans():
    with pytest.raises(ConfigError, match="parameter 'dealias' .* must be true or false, got 1"):
        dyncore.systems.create("kuramoto_sivashinsky", dealias=1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch": 10**9}, r"x 1000000000 x 3\) would need [\d.]+ TiB, more than the memory cap"),
        ({"transient": 1e12}, r"would need [\d.]+ PiB, more than the memory cap"),
        ({"x0": np.zeros((10**6, 3)), "t": np.linspace(0, 1, 10**6)}, r"x 1000000 x 3\) would need [\d.]+ TiB"),
        ({"device": "tpu"}, r"unknown device 'tpu'; use cpu or cuda"),
        ({"seed": 2**64}, r"seed must be an integer from 0 to 2\*\*63 - 1"),
    ],
)
def test_requests_that_cannot_fit_or_run_are_refused_before_any_work(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        dyncore.simulate("lorenz", **{"t": np.linspace(0, 1, 1000), **kwargs})


def test_explicit_solver_on_stiff_van_der_pol_warns_then_suggests_radau():
    from dyncore.errors import StiffnessWarning

    vdp = dyncore.systems.create("van_der_pol", mu=1000.0)
    with pytest.warns(StiffnessWarning, match="'dop853' is explicit.*'radau' or 'bdf'"), pytest.raises(
        SolverError, match="exceeded its budget.*stiff: use an implicit solver such as 'radau' or 'bdf'"
    ):
        dyncore.simulate(vdp, solver="dop853", solver_options={"max_steps": 500})


def test_time_grid_builds_on_the_systems_defaults():
    lorenz = dyncore.systems.create("lorenz")
    np.testing.assert_allclose(time_grid(lorenz), lorenz.default_times().numpy(), rtol=0, atol=1e-12)
    assert len(time_grid(lorenz, t_end=20.0, dt=0.5)) == 41
    grid = time_grid(lorenz, t_end=5.0, n_points=11)
    assert grid[0] == 0.0 and grid[-1] == 5.0 and len(grid) == 11
    with pytest.raises(ConfigError, match="not both"):
        time_grid(lorenz, dt=0.1, n_points=10)
    with pytest.raises(ConfigError, match="smaller dt"):
        time_grid(lorenz, t_end=1.0, dt=5.0)

