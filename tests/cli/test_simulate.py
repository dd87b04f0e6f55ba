"""`dyncore simulate`: files written, options passed through, one-line errors with exit codes."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import run_dyncore

from dyncore.cli import cli
from dyncore.trajectory import Trajectory


def simulate(*args: str):
    return CliRunner().invoke(cli, ["simulate", *args])


def test_defaults_write_the_reference_lorenz_npz(tmp_path):
    out = tmp_path / "lorenz.npz"
    result = simulate("lorenz", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stdout
    trajectory = Trajectory.load(out)
    assert trajectory.x.shape == (1000, 3) and trajectory.t[-1] == 10.0
    assert trajectory.meta["solver"] == "dop853" and trajectory.meta["x0"] == [-8.0, 7.0, 27.0]


def test_options_reach_the_simulation(tmp_path):
    out = tmp_path / "vdp.csv"
    result = simulate(
        "van_der_pol", "--param", "mu=2", "--x0", "1,0", "--t-end", "4", "--dt", "0.1", "--solver", "dopri5",
        "--rtol", "1e-6", "--atol", "1e-8", "--solver-option", "max_steps=5000", "--seed", "3", "--noise", "0.01",
        "--irregular", "-o", str(out),
    )
    assert result.exit_code == 0, result.output
    trajectory = Trajectory.load(out)
    meta = trajectory.meta
    assert meta["params"] == {"mu": 2} and meta["x0"] == [1.0, 0.0] and meta["solver"] == "dopri5"
    assert meta["solver_options"] == {"rtol": 1e-6, "atol": 1e-8, "max_steps": 5000, "step_size": None, "adjoint": False}
    assert (meta["seed"], meta["noise"], meta["irregular"]) == (3, 0.01, True)
    assert len(trajectory.t) == 20 and trajectory.t[0] == 0.0  # half of the 41 points, rounded


def test_batch_n_points_and_transient(tmp_path):
    out = tmp_path / "ks.npz"
    result = simulate("kuramoto_sivashinsky", "--batch", "2", "--n-points", "9", "--t-end", "2", "--transient", "1", "-o", str(out))
    assert result.exit_code == 0, result.output
    trajectory = Trajectory.load(out)
    assert trajectory.x.shape == (9, 2, 64) and trajectory.meta["transient"] == 1.0


def test_an_existing_output_needs_force(tmp_path):
    out = tmp_path / "s.npz"
    assert simulate("spiral", "--t-end", "1", "-o", str(out)).exit_code == 0
    refused = simulate("spiral", "--t-end", "1", "-o", str(out))
    assert refused.exit_code == 1 and "--force" in refused.stderr
    assert simulate("spiral", "--t-end", "1", "-o", str(out), "--force").exit_code == 0


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["lorenzz"], 2, "did you mean 'lorenz'"),
        (["lorenz", "--param", "rhoo=3"], 2, "did you mean 'rho'"),
        (["lorenz", "--param", "rho"], 2, "key=value"),
        (["lorenz", "--x0", "1,2"], 2, "give 3 numbers"),
        (["lorenz", "--x0", "1,a,2"], 2, "comma-separated numbers"),
        (["lorenz", "--dt", "0.1", "--n-points", "5"], 2, "not both"),
        (["lorenz", "--t-end", "-1"], 2, "after the start"),
        (["lorenz", "--solver", "etdrk4"], 1, "semilinear split"),
        # euler steps of 1 as asked (without step_size it would take Lorenz's own 0.01 and stay finite)
        (["lorenz", "--solver", "euler", "--dt", "1", "--t-end", "20", "--solver-option", "step_size=1"], 1, "NaN/Inf at t ="),
        (["van_der_pol", "--param", "mu=1000", "--solver", "dopri5", "--solver-option", "max_steps=300"], 1, "'radau' or 'bdf'"),
        (["lorenz", "--solver", "rk4", "--solver-option", "stepsize=0.1"], 2, "did you mean 'step_size'"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(tmp_path, args, code, message):
    result = simulate(*args, "-o", str(tmp_path / "out.npz"))
    assert result.exit_code == code, result.output
    errors = [line for line in result.stderr.splitlines() if not line.startswith("dyncore: warning: ")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert not (tmp_path / "out.npz").exists()


def test_wrong_suffix_is_refused_before_simulating(tmp_path):
    result = simulate("lorenz", "-o", str(tmp_path / "out.txt"))
    assert result.exit_code == 2 and ".npz or .csv" in result.stderr


def test_in_a_real_process_progress_is_forced_and_the_file_is_complete(tmp_path):
    out = tmp_path / "spiral.npz"
    result = run_dyncore("simulate", "spiral", "--progress", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "simulating spiral" in result.stderr and "100%" in result.stderr
    assert np.allclose(Trajectory.load(out).x[0], [2.0, 0.0])


def test_an_old_adjoint_solver_name_works_with_a_deprecation_line(tmp_path):
    out = tmp_path / "x.npz"
    result = run_dyncore("simulate", "lorenz", "--solver", "rk4_adjoint", "--t-end", "0.5", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "dyncore: warning: solver name 'rk4_adjoint' is deprecated and goes in the next release; use 'rk4' with adjoint=True" in result.stderr
    assert Trajectory.load(out).meta["solver_options"]["adjoint"] is True
