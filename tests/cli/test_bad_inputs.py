"""Bad input across every command: one line on stderr naming the problem and the fix, a non-zero
exit code, no traceback, and no file created, changed or removed."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import run_dyncore

import dyncore
from dyncore import Trajectory
from dyncore.cli import cli


class Evil:
    """A pickled payload that would run code on load."""

    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A folder holding good and bad data files and good and damaged run directories."""
    ws = tmp_path_factory.mktemp("bad-inputs")
    with _chdir(ws):
        data = dyncore.systems.create("lorenz").simulate(t=torch.linspace(0, 2, 200, dtype=torch.float64))
        data.save("lorenz.npz")
        Trajectory(data.t[:3], data.x[:3]).save("three.npz")
        Trajectory(data.t, data.x[:, :2]).save("planar.npz")
        Trajectory(np.arange(500.0), np.ones((500, 1))).save("constant.npz")
        Trajectory(np.arange(20.0), np.random.default_rng(0).normal(size=(20, 1))).save("short.npz")
        dyncore.train("node", data, epochs=2, out="run", hparams={"hidden": 16})
        Path("empty.npz").touch()
        Path("text.npz").write_text("not an npz")
        np.savez("wrongkeys.npz", time=data.t, x=data.x)
        x = data.x.copy()
        x[5, 1] = np.nan
        np.savez("nan.npz", t=data.t, x=x)
        t = data.t.copy()
        t[10] = t[9]
        np.savez("nonincreasing.npz", t=t, x=data.x)
        np.savez("pickled.npz", t=data.t, x=np.array([{}] * 200, dtype=object))
        Path("ragged.csv").write_text("t,x0,x1\n0,1,2\n1,2\n")
        Path("adir.npz").mkdir()
        shutil.copy("lorenz.npz", "existing.npz")
        Path("emptyrun").mkdir()
        for name in ("corrupt", "foreign", "pickle", "otherdim", "badconfig"):
            shutil.copytree("run", f"run_{name}")
        Path("run_corrupt/weights.pt").write_bytes(b"garbage" * 100)
        torch.save({"whatever": torch.zeros(3)}, "run_foreign/weights.pt")
        torch.save({"x": Evil()}, "run_pickle/weights.pt")
        planar = dyncore.train("node", Trajectory(data.t, data.x[:, :2]), epochs=1, hparams={"hidden": 16})
        torch.save(planar.model.state_dict(), "run_otherdim/weights.pt")
        Path("run_badconfig/config.json").write_text("{ not json")
    return ws


# (command line, expected exit code, a regex the one-line message must match)
CASES = [
    ("simulate lorenzz -o a.npz", 2, r"unknown system 'lorenzz'; did you mean 'lorenz'"),
    ("simulate lorenz --param sigm=3 -o a.npz", 2, r"unknown parameter 'sigm'; did you mean 'sigma'"),
    ("simulate lorenz --param sigma -o a.npz", 2, r"not of the form key=value"),
    ("simulate lorenz --x0 1,2 -o a.npz", 2, r"dimension 3; give 3 numbers"),
    ("simulate lorenz --x0 a,b,c -o a.npz", 2, r"must be comma-separated numbers"),
    ("simulate lorenz --dt -0.1 -o a.npz", 2, r"dt must be a positive number"),
    ("simulate lorenz --t-end -1 -o a.npz", 2, r"t-end must be after the start time"),
    ("simulate lorenz --dt abc -o a.npz", 2, r"'abc' is not a valid float.*--help"),
    ("simulate lorenz --solver rk5 -o a.npz", 2, r"unknown solver 'rk5'; did you mean"),
    ("simulate van_der_pol --param mu=1000 --solver rk45 --solver-option max_steps=2000 -o a.npz", 1,
     r"exceeded its budget of 2000 steps at t = .*stiff.*'radau' or 'bdf'"),  # after a one-line StiffnessWarning
    ("simulate lorenz --solver-option foo=1 -o a.npz", 2, r"unknown option 'foo'"),
    ("simulate lorenz -o existing.npz", 1, r"existing.npz exists; pass --force"),
    ("simulate lorenz -o out.txt", 2, r"\.npz or \.csv"),
    ("simulate lorenz -o existing.npz/sub.npz", 1, r"existing.npz is a file, not a directory"),
    ("simulate lorenz --noise -1 -o a.npz", 2, r"noise must be a non-negative number"),
    ("simulate lorenz --dt 0.1 --n-points 10 -o a.npz", 2, r"not both"),
    ("simulate van_der_pol --param mu=-1 -o a.npz", 2, r"mu must be a finite number >= 0"),
    ("simulate", 2, r"Missing argument 'SYSTEM'.*dyncore simulate --help"),
    ("train nod lorenz.npz -o r", 2, r"unknown model 'nod'; did you mean 'node'"),
    ("train node missing.npz -o r", 2, r"missing.npz does not exist"),
    ("train node adir.npz -o r", 2, r"is a directory"),
    ("train node empty.npz -o r", 2, r"empty.npz is empty"),
    ("train node text.npz -o r", 2, r"not a readable .npz file"),
    ("train node wrongkeys.npz -o r", 2, r"lacks the key\(s\) t"),
    ("train node nan.npz -o r", 2, r"NaN or Inf.*row 5"),
    ("train node nonincreasing.npz -o r", 2, r"strictly increasing"),
    ("train node ragged.csv -o r", 2, r"row 3 has 2 fields"),
    ("train node pickled.npz -o r", 2, r"pickled objects, which dyncore never loads"),
    ("train node lorenz.npz -o r --hparam hiden=3", 2, r"unknown hyperparameter 'hiden'; did you mean 'hidden'"),
    ("train node lorenz.npz -o r --hparam activation=sigmoidal", 2, r"unknown activation 'sigmoidal'"),
    ("train rnn three.npz -o r", 2, r"needs at least 4 time points"),
    ("train node lorenz.npz -o r --lookahead 5000", 2, r"needs at least 5001 time points"),
    ("train node lorenz.npz -o r --lookahead 0", 2, r"lookahead must be an integer >= 1"),
    ("train node lorenz.npz -o run", 1, r"run exists; pass --resume .* or --force"),
    ("train node lorenz.npz -o run --resume --force", 2, r"exclude each other"),
    ("train node lorenz.npz -o emptyrun --resume", 1, r"not a dyncore run directory"),
    ("train node lorenz.npz -o r --epochs -1", 2, r"epochs must be an integer >= 1"),
    ("train node lorenz.npz -o r --lr -1", 2, r"lr must be a positive number"),
    ("train node lorenz.npz -o r --trainer ful_batch", 2, r"unknown trainer 'ful_batch'; did you mean 'full_batch'"),
    ("train node lorenz.npz -o r --option foo=1", 2, r"unknown option 'foo'"),
    ("predict missing_run -o p.npz", 1, r"not a run directory"),
    ("predict run_corrupt -o p.npz", 1, r"is corrupt or not a torch file"),
    ("predict run_foreign -o p.npz", 1, r"does not match the model"),
    ("predict run_pickle -o p.npz", 1, r"carries a pickled Python object \(posix.system\).*refuses it"),
    ("predict run_otherdim -o p.npz", 1, r"does not match the model"),
    ("predict run_badconfig -o p.npz", 1, r"config.json"),
    ("predict run --x0 1,2 -o p.npz", 2, r"--x0 needs 3 numbers"),
    ("predict run --data planar.npz -o p.npz", 2, r"dimension 2 but the model was trained on dimension 3"),
    ("predict run -o existing.npz", 1, r"existing.npz exists; pass --force"),
    ("chaos-test short.npz", 2, r"at least 100 samples, got 20"),
    ("chaos-test constant.npz", 2, r"constant"),
    ("chaos-test lorenz.npz --component 7", 2, r"component 7 is out of range.*0\.\.2"),
    ("chaos-test lorenz.npz --test zero_two", 2, r"unknown chaos test 'zero_two'; did you mean 'zero_one'"),
    ("evaluate run --system lorenzz", 2, r"unknown system 'lorenzz'"),
    ("evaluate run --transient -1", 2, r"transient must be a non-negative number of time units"),
    ("plot lorenz.npz --kind loss -o f.png", 2, r"does not apply to a data file"),
    ("plot run --kind vector-field -o f.png", 2, r"needs a 2-D model"),
    ("list sytems", 2, r"'sytems' is not one of"),
    ("nosuchcommand", 2, r"No such command 'nosuchcommand'"),
    ("compare lorenz.npz --models nodee -o c", 2, r"unknown model 'nodee'; did you mean 'node'"),
    ("compare lorenz.npz --models node --seeds 0 -o c", 2, r"seeds must be a positive integer"),
    ("compare lorenz.npz --models node --system lorenzz -o c", 2, r"unknown system 'lorenzz'"),
]
# The field's other libraries, where their plugins are installed (CI installs them all).
if "sindy" in dyncore.models:
    CASES += [
        ("train sindy lorenz.npz -o r --hparam threshold=1000", 2, r"PySINDy kept no term.*threshold 1000.*lower --hparam threshold"),
        ("train sindy lorenz.npz -o r --epochs 5", 2, r"unknown option 'epochs'.*for trainer 'closed_form'"),
    ]
if "dysts.Lorenz" in dyncore.systems:
    CASES += [("simulate dysts.Lorenz63 -o a.npz", 2, r"unknown system 'dysts.Lorenz63'; did you mean 'dysts.Lorenz'")]


@contextlib.contextmanager
def _chdir(folder: Path):
    """In-process runs (fast: torch is imported once) in the workspace."""
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(cwd)


def _fingerprint(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


def test_there_are_at_least_forty_distinct_bad_inputs():
    assert len({line for line, _, _ in CASES}) == len(CASES) >= 40


@pytest.mark.parametrize(("line", "code", "pattern"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_one_line_and_changes_nothing(workspace, line, code, pattern):
    before = _fingerprint(workspace)
    with _chdir(workspace):
        result = CliRunner().invoke(cli, line.split(), prog_name="dyncore")
    warnings_ = [w for w in result.stderr.strip().splitlines() if w.startswith("dyncore: warning: ")]
    lines = [w for w in result.stderr.strip().splitlines() if w not in warnings_]
    assert result.exit_code == code, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dyncore: error: ") and "Traceback" not in result.stderr
    assert __import__("re").search(pattern, lines[0]), lines[0]
    assert _fingerprint(workspace) == before
    assert not (workspace / "pwned.txt").exists()


def test_debug_shows_the_traceback(workspace):
    result = run_dyncore("--debug", "train", "node", "nan.npz", "-o", "r", cwd=workspace)
    assert result.returncode != 0 and "Traceback" in result.stderr and "DataError" in result.stderr
    env_result = run_dyncore("train", "node", "nan.npz", "-o", "r", cwd=workspace, env={"DYNCORE_DEBUG": "1"})
    assert "Traceback" in env_result.stderr
