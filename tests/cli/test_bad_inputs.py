"""Bad input across every command: one line on stderr naming the problem and the fix, a non-zero
exit code, no traceback, and no file created, changed or removed."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import run_dyncore

import dyncore
from dyncore import Trajectory
from dyncore.cli import cli
from dyncore.run import RunLock


class Evil:
    """A pickled payload that would run code on load."""

    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A folder holding good and bad data files, good and damaged run directories, and a run that a
    (simulated) second process is training into."""
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
        _damaged_runs()
        np.savez("complex.npz", t=data.t, x=data.x * (1 + 1j))
        Path("naninf.csv").write_text("t,x0\n0,1\n1,inf\n")
        np.savez("deepmeta.npz", t=data.t, x=data.x, meta=np.array("[" * 100_000 + "]" * 100_000))
        _lying_npz("liar.npz", data)
        os.mkfifo("fifo.csv")
        Path("userfolder").mkdir()
        Path("userfolder/config.json").write_text('{"my": "settings"}')
        shutil.copytree("run", "busy")
        Path("existing.png").write_bytes(b"my figure")
        grid = 'systems = ["spiral"]\nmodels = ["rnn"]\n'
        Path("sweep_ok.toml").write_text("seeds = [0]\n" + grid)
        Path("sweep_badkey.toml").write_text("seed = [0]\n" + grid)
        Path("sweep_badmodel.toml").write_text('systems = ["spiral"]\nmodels = ["rnm"]\n')
        Path("sweep_empty.toml").write_text("seeds = []\n" + grid)
        Path("sweep_huge.toml").write_text(f"seeds = {list(range(10_001))}\n" + grid)
        Path("sweep_syntax.toml").write_text("seeds = [0,\n")
        dyncore.simulate("kuramoto_sivashinsky", t=np.arange(4) * 0.25).save("ks.npz")
        Trajectory(np.arange(4.0), np.ones((4, 4)), {"grid": {"x": [0.0, 1.0, 3.0, 4.0]}}).save("unevengrid.npz")
    with RunLock(ws / "busy"):  # held like a training process holds it (flock is per open file, so this process conflicts too)
        yield ws


def _damaged_runs() -> None:
    """Copies of ``run`` whose config or checkpoint holds values that must be refused on reading."""
    for name in ("noctx", "badctx", "noepoch", "negepoch", "hugehidden", "bomb"):
        shutil.copytree("run", f"run_{name}")
    for name, change in (("noctx", lambda c: c.pop("data")), ("badctx", lambda c: c["data"].update(context="abc")),
                         ("hugehidden", lambda c: c["model"]["hparams"].update(hidden=10**9))):
        config = json.loads(Path(f"run_{name}/config.json").read_text())
        change(config)
        Path(f"run_{name}/config.json").write_text(json.dumps(config))
    for name, epoch in (("noepoch", "abc"), ("negepoch", -100)):
        payload = torch.load(f"run_{name}/checkpoint.pt", weights_only=True)
        payload["epoch"] = epoch
        torch.save(payload, f"run_{name}/checkpoint.pt")
    # weights.pt re-zipped with deflate around a 64 MiB entry of zeros: a small file that expands far past the model
    with zipfile.ZipFile("run/weights.pt") as src, zipfile.ZipFile("run_bomb/weights.pt", "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
        dst.writestr("weights/data/99", bytes(64 * 2**20))


def _lying_npz(name: str, data: Trajectory) -> None:
    """An .npz whose 'x' header declares 10^10 x 3 values but holds none: numpy would allocate 224 GiB."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**10, 3)})
    t = io.BytesIO()
    np.save(t, data.t)
    with zipfile.ZipFile(name, "w") as archive:
        archive.writestr("t.npy", t.getvalue())
        archive.writestr("x.npy", header.getvalue())


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
    ("train node lorenz.npz -o r --trainer multistep --option curriculum=1,4,400", 2,
     r"the curriculum goes up to lookahead 400, which needs at least 401 time points, but the data have 200"),
    ("train node lorenz.npz -o r --trainer shooting --option segment_steps=150", 2,
     r"segments of 150 steps do not fit the data twice .*use segment_steps <= 99"),
    ("train node lorenz.npz -o r --trainer minibatch --option lbfgs_epochs=50", 2, r"L-BFGS needs the full batch.*use trainer 'multistep'"),
    ("train node lorenz.npz -o run", 1, r"run exists; pass --resume .* or --force"),
    ("train node lorenz.npz -o run --resume --force", 2, r"exclude each other"),
    ("train node lorenz.npz -o emptyrun --resume", 1, r"not a dyncore run directory"),
    ("train node lorenz.npz -o r --epochs -1", 2, r"epochs must be an integer >= 1"),
    ("train node lorenz.npz -o r --lr -1", 2, r"lr must be a positive number"),
    ("train node lorenz.npz -o r --trainer ful_batch", 2, r"unknown trainer 'ful_batch'; did you mean 'full_batch'"),
    ("train node lorenz.npz -o r --option foo=1", 2, r"unknown option 'foo'"),
    ("train node lorenz.npz -o existing.npz/run", 1, r"cannot write existing.npz/run: existing.npz is a file, not a directory"),
    ("train node lorenz.npz -o userfolder --force", 1, r"holds files that are not a dyncore run \(config.json\).*replaces only a run"),
    ("train node lorenz.npz -o busy --resume", 1, rf"busy is in use: dyncore process {os.getpid()} on .* is training into it"),
    ("predict missing_run -o p.npz", 1, r"not a run directory"),
    ("predict run_corrupt -o p.npz", 1, r"is corrupt or not a torch file"),
    ("predict run_foreign -o p.npz", 1, r"does not match the model"),
    ("predict run_pickle -o p.npz", 1, r"carries a pickled Python object \(posix.system\).*refuses it"),
    ("predict run_otherdim -o p.npz", 1, r"does not match the model"),
    ("predict run_badconfig -o p.npz", 1, r"config.json"),
    ("predict run --x0 1,2 -o p.npz", 2, r"--x0 needs 3 numbers"),
    ("predict run --data planar.npz -o p.npz", 2, r"dimension 2 but the model was trained on dimension 3"),
    ("predict run -o existing.npz", 1, r"existing.npz exists; pass --force"),
    ("predict run -o existing.npz/p.npz", 1, r"existing.npz is a file, not a directory"),
    ("chaos-test short.npz", 2, r"at least 100 samples, got 20"),
    ("chaos-test constant.npz", 2, r"constant"),
    ("chaos-test lorenz.npz --component 7", 2, r"component 7 is out of range.*0\.\.2"),
    ("chaos-test lorenz.npz --test zero_two", 2, r"unknown chaos test 'zero_two'; did you mean 'zero_one'"),
    ("chaos-test lorenz.npz --plot existing.png", 1, r"existing.png exists; pass --force"),
    ("chaos-test lorenz.npz --plot pq.txt", 2, r"cannot save a figure as pq.txt: use a .png"),
    ("chaos-test lorenz.npz --plot existing.npz/pq.png", 1, r"existing.npz is a file, not a directory"),
    ("evaluate run --system lorenzz", 2, r"unknown system 'lorenzz'"),
    ("evaluate run --transient -1", 2, r"transient must be a non-negative finite number"),
    ("evaluate run -o existing.npz/m.json", 1, r"cannot write existing.npz/m.json: existing.npz is a file"),
    ("evaluate run -o existing.npz", 1, r"existing.npz exists; pass --force"),
    ("demo -o existing.npz/report", 1, r"cannot write existing.npz/report: existing.npz is a file, not a directory"),
    ("plot lorenz.npz --kind loss -o f.png", 2, r"does not apply to a data file"),
    ("plot run --kind vector-field -o f.png", 2, r"needs a 2-D model"),
    ("plot lorenz.npz -o existing.npz/f.png", 1, r"existing.npz is a file, not a directory"),
    ("sweep sweep_badkey.toml -o s", 2, r"unknown key 'seed'; did you mean 'seeds'\? \(in sweep_badkey.toml"),
    ("sweep sweep_badmodel.toml -o s", 2, r"unknown model 'rnm'; did you mean 'rnn'"),
    ("sweep sweep_empty.toml -o s", 2, r"the sweep grid is empty"),
    ("sweep sweep_huge.toml -o s", 2, r"10,001 cells, more than 10,000; .*--yes"),
    ("sweep sweep_syntax.toml -o s", 2, r"sweep_syntax.toml is not valid TOML"),
    ("sweep missing.toml -o s", 2, r"missing.toml does not exist"),
    ("sweep sweep_ok.toml -o run", 1, r"run exists; pass --resume to continue that sweep"),
    ("sweep sweep_ok.toml -o run --resume", 1, r"not a sweep directory \(no sweep.json\)"),
    ("sweep sweep_ok.toml -o existing.npz", 2, r"existing.npz.*is a file"),
    ("sweep sweep_ok.toml -o s --address auto", 2, r"--address is for the ray executor; add --executor ray"),
    ("sweep sweep_ok.toml -o s --workers 0", 2, r"workers must be an integer >= 1"),
    ("sweep sweep_ok.toml -o s --executor rey", 2, r"'rey' is not one of 'local', 'ray'"),
    ("list sytems", 2, r"'sytems' is not one of"),
    ("nosuchcommand", 2, r"No such command 'nosuchcommand'"),
    ("--threads 0 list", 2, r"Invalid value for '--threads': must be a positive number of threads or auto, got '0'"),
    ("train node lorenz.npz -o r --threads many", 2, r"Invalid value for '--threads': .* or auto, got 'many'"),
    # the full-batch step's CUDA graph and torch.compile options
    ("train node lorenz.npz -o r --option capture=yes", 2, r"trainer 'full_batch': capture must be auto, true or false, got 'yes'"),
    ("train node lorenz.npz -o r --option capture=true", 2, r"capture=true needs a CUDA device \(--device cuda\); use capture=auto or false"),
    ("train node lorenz.npz -o r --option compile=nosuch", 2, r"compile backend 'nosuch' is unknown; use true \(inductor\) or one of .*aot_eager"),
    ("train node lorenz.npz -o r --option compile=3", 2, r"compile must be true, false or a torch.compile backend name, got 3"),
    # parameters are typed and finite (a NaN parameter used to hang the solver)
    ("simulate lorenz --param rho=NaN -o a.npz", 2, r"parameter 'rho' of system 'lorenz' must be a finite number"),
    ("simulate lorenz --param rho=abc -o a.npz", 2, r"parameter 'rho' .* must be a number such as 28.0, got 'abc'"),
    ("simulate lorenz --param rho=[1,2] -o a.npz", 2, r"must be a number such as 28.0, got \[1, 2\]"),
    ("simulate lorenz --param rho=null -o a.npz", 2, r"must be a number such as 28.0, got None"),
    ("simulate lorenz --param rho=true -o a.npz", 2, r"must be a number such as 28.0, got True"),
    # sizes are checked against the memory cap before anything is allocated
    ("simulate lorenz --t-end 1e12 -o a.npz", 2, r"would need [\d.]+ PiB, more than the memory cap"),
    ("simulate lorenz --t-end inf -o a.npz", 2, r"t-end must be a finite number"),
    ("simulate lorenz --n-points 10000000000 -o a.npz", 2, r"1e\+10 times x 3 would need 298 GiB, more than the memory cap"),
    ("simulate lorenz --dt 1e-300 -o a.npz", 2, r"more than the memory cap.*use a larger dt"),
    ("simulate lorenz --batch 1000000000 -o a.npz", 2, r"x 1000000000 x 3\) would need .* smaller batch"),
    ("simulate lorenz --transient 1e12 -o a.npz", 2, r"would need .*a shorter transient"),
    ("simulate kuramoto_sivashinsky --param N=10000000000 -o a.npz", 2, r"N = 10000000000 would need .* smaller N"),
    ("predict run --t-end 1e12 -o p.npz", 2, r"prediction of [\d.]+e\+13 times would need .* shorter --t-end"),
    ("evaluate run --long-time 1e12", 2, r"would need .* shorter --horizon or --long-time"),
    ("chaos-test run --steps 100000000000", 2, r"prediction of 1e\+11 times would need .* fewer --steps"),
    # options, seeds and devices are checked where they enter
    ("simulate lorenz --solver-option step_size=-1 -o a.npz", 2, r"solver 'dop853': option step_size must be a positive number"),
    ("simulate lorenz --solver rk4 --solver-option step_size=0 -o a.npz", 2, r"option step_size must be a positive number, got 0"),
    ("simulate lorenz --rtol -1 -o a.npz", 2, r"option rtol must be a positive number, got -1"),
    ("simulate lorenz --seed 100000000000000000000 -o a.npz", 2, r"seed must be an integer from 0 to 2\*\*63 - 1"),
    ("train node lorenz.npz -o r --seed 100000000000000000000", 2, r"seed must be at most 2\*\*63 - 1"),
    ("predict run --device tpu -o p.npz", 2, r"unknown device 'tpu'; use cpu or cuda"),
    ("predict run --x0 nan,0,0 -o p.npz", 2, r"--x0 contains NaN or Inf; give finite numbers"),
    ("evaluate run --horizon nan", 2, r"horizon must be a positive finite number, got nan"),
    ("evaluate run --long-time inf", 2, r"long_time must be a positive finite number, got inf"),
    ("train node lorenz.npz -o r --hparam hidden=1000000000", 2, r"training model 'node' .* would need [\d.]+ GiB, more than the memory cap"),
    ("train rnn lorenz.npz -o r --hparam hidden=1000000", 2, r"training model 'rnn' .* would need [\d.]+ TiB, more than the memory cap"),
    ("train node lorenz.npz -o r --hparam rollout_solver=dopri55", 2, r"unknown solver 'dopri55'; did you mean 'dopri5'"),
    # the adjoint is a solver option (issue 10): a bad value, and a training solver that has none
    ("simulate lorenz --solver rk4 --solver-option adjoint=yes -o a.npz", 2, r"solver 'rk4': option adjoint must be true or false, got 'yes'"),
    ("train node lorenz.npz -o r --hparam adjoint=true --hparam solver=radau", 2,
     r"model 'node': adjoint=True needs a solver with an adjoint option .* 'radau' has none"),
    # data files: complex, non-finite CSV cells (naming the file), FIFOs, lying headers, deep JSON
    ("chaos-test complex.npz", 2, r"complex.npz: states are complex numbers; .* real and imaginary parts"),
    ("chaos-test naninf.csv", 2, r"naninf.csv: states contain NaN or Inf"),
    ("chaos-test fifo.csv", 2, r"fifo.csv is not a regular file \(a FIFO"),
    ("train node fifo.csv -o r", 2, r"fifo.csv is not a regular file"),
    ("chaos-test liar.npz", 2, r"member x.npy declares 224 GiB of data but holds"),
    ("chaos-test deepmeta.npz", 2, r"deepmeta.npz: its 'meta' JSON is nested too deeply"),
    # values read from a run directory are checked: sizes, the saved context, the checkpoint's epoch
    ("predict run_noctx -o p.npz", 1, r"records no training data to start from; give --x0 or --data"),
    ("predict run_badctx -o p.npz", 1, r"data.context must be 1 state\(s\) of 3 numbers"),
    ("predict run_hugehidden -o p.npz", 1, r"(model that .*declares would need .*memory cap|declares [\d.]+ GiB: the files do not belong)"),
    ("predict run_bomb -o p.npz", 1, r"weights.pt holds 64 MiB of data but the model in config.json declares"),
    ("train node lorenz.npz -o run_noepoch --resume", 1, r"epoch must be an integer >= 0, got 'abc'"),
    ("train node lorenz.npz -o run_negepoch --resume", 1, r"epoch must be an integer >= 0, got -100"),
    ("train node lorenz.npz -o r --recipe blgo", 2, r"unknown recipe 'blgo'; did you mean 'blog'"),
    ("train hybrid lorenz.npz -o r --hparam known=lorenzz", 2, r"known system 'lorenzz' is not installed.*did you mean 'lorenz'"),
    ("train hybrid lorenz.npz -o r --hparam known=spiral", 2, r"known system 'spiral' has dimension 2, the data 3"),
    ("train semilinear lorenz.npz -o r", 2, r"from system 'lorenz', whose state is not one"),
    ("train semilinear unevengrid.npz -o r", 2, r"grid points \(metadata grid.x\) are not equally spaced"),
    ("train semilinear ks.npz -o r --hparam linear=known --hparam known=lorenz", 2, r"known system 'lorenz' is not semilinear"),
    ("train semilinear ks.npz -o r --hparam linear=known --hparam known=kuramoto_sivashinsky --hparam known_params=N=32", 2,
     r"has 32 grid points, the data 64"),
    ("train node lorenz.npz -o run --resume --recipe blog", 2, r"a resumed run keeps the recipe it was trained with; drop the recipe"),
    ("compare lorenz.npz --models nodee -o c", 2, r"unknown model 'nodee'; did you mean 'node'"),
    # stiff solvers need a model with a differentiable field (issue 13): refused before any run is written
    ("train node lorenz.npz -o r --hparam solver=radau", 2, r"solver 'radau' is not differentiable.*--recipe stiff"),
    ("train rnn lorenz.npz -o r --recipe stiff", 2, r"recipe 'stiff' is made for stiff_node, not 'rnn'"),
    ("compare lorenz.npz --models node --seeds 0 -o c", 2, r"seeds must be a positive integer"),
    ("compare lorenz.npz --models node --system lorenzz -o c", 2, r"unknown system 'lorenzz'"),
    ("persistence run -o k.txt", 2, r"cannot save a figure as k.txt: use a .png"),
    ("persistence run -o existing.png", 1, r"existing.png exists; pass --force"),
    ("persistence run --lyapunov-times 50 --window-lyapunov-times 100", 2, r"window \(110\.\d+\) is longer than the run \(55\.\d+\)"),
    ("persistence run --system van_der_pol", 2, r"no known positive Lyapunov exponent: give the duration in time units \(--duration\)"),
    ("persistence run --system van_der_pol --duration 80 --window 40", 2, r"model has dimension 3 but system 'van_der_pol' has 2"),
    ("persistence run --threshold 0", 2, r"threshold on K must be in \(0, 1\]"),
    ("persistence run --n-starts 0", 2, r"n_starts must be a positive integer"),
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


def _no_work(*args, **kwargs):
    raise AssertionError("the work started before the output was checked")


# (command line, the work that must not start, the message)
BLOCKED_OUTPUTS = [
    ("evaluate run -o existing.npz/m.json", "dyncore:evaluate", r"existing.npz is a file"),
    ("simulate lorenz -o existing.npz/a.npz", "dyncore:simulate", r"existing.npz is a file"),
    ("predict run -o existing.npz/p.npz", "dyncore.run:Run.predict", r"existing.npz is a file"),
    ("chaos-test lorenz.npz --plot existing.png", "dyncore_chaos.zero_one:ZeroOneTest.run", r"existing.png exists"),
    ("persistence run -o existing.npz/k.png", "dyncore.persistence:chaos_persistence", r"existing.npz is a file"),
    ("plot lorenz.npz -o existing.npz/f.png", "dyncore.plotting:figure_from_path", r"existing.npz is a file"),
    ("train node lorenz.npz -o existing.npz/run", "dyncore_training.loop:GradientTrainer.fit", r"existing.npz is a file"),
    ("train node lorenz.npz -o busy --force", "dyncore_training.loop:GradientTrainer.fit", r"busy is in use"),
]


@pytest.mark.parametrize(("line", "work", "pattern"), BLOCKED_OUTPUTS, ids=[c[0] for c in BLOCKED_OUTPUTS])
def test_outputs_are_checked_before_the_work(workspace, monkeypatch, line, work, pattern):
    """An output that cannot be written is refused up front, not after minutes of training or evaluation."""
    module, _, attr = work.partition(":")
    owner = __import__("importlib").import_module(module)
    *path, name = attr.split(".")
    for part in path:
        owner = getattr(owner, part)
    monkeypatch.setattr(owner, name, _no_work)
    with _chdir(workspace):
        result = CliRunner().invoke(cli, line.split(), prog_name="dyncore")
    assert result.exit_code == 1 and __import__("re").search(pattern, result.stderr), result.stderr


def test_chaos_test_plot_is_written_atomically(workspace, monkeypatch):
    """--force replaces the figure only once it is complete: a failing save leaves the old file whole."""
    import matplotlib.figure

    def half_written(self, fname, **kwargs):
        if isinstance(fname, (str, os.PathLike)):
            Path(fname).write_bytes(b"half")
        else:
            fname.write(b"half")
        raise OSError("No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", half_written)
    with _chdir(workspace):
        result = CliRunner().invoke(cli, ["chaos-test", "lorenz.npz", "--plot", "existing.png", "--force"], prog_name="dyncore")
    assert result.exit_code == 1 and "No space left on device" in result.stderr
    assert (workspace / "existing.png").read_bytes() == b"my figure"


def test_debug_shows_the_traceback(workspace):
    result = run_dyncore("--debug", "train", "node", "nan.npz", "-o", "r", cwd=workspace)
    assert result.returncode != 0 and "Traceback" in result.stderr and "DataError" in result.stderr
    env_result = run_dyncore("train", "node", "nan.npz", "-o", "r", cwd=workspace, env={"DYNCORE_DEBUG": "1"})
    assert "Traceback" in env_result.stderr


@pytest.mark.parametrize("variable", ["DYNCORE_DEBUG", "DYNCORE_STRICT_PLUGINS"])
def test_on_off_variables_refuse_values_that_are_neither(workspace, variable):
    result = run_dyncore("list", "systems", cwd=workspace, env={variable: "0x0"})
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"dyncore: error: {variable}='0x0' is neither on nor off; set it to 1 (or true/yes/on) or 0 (or false/no/off)"
    ]
    off = run_dyncore("train", "node", "nan.npz", "-o", "r", cwd=workspace, env={"DYNCORE_DEBUG": "Off"})
    assert off.returncode == 2 and "Traceback" not in off.stderr


def test_threads_variable_is_checked_before_any_command(workspace):
    result = run_dyncore("list", "systems", cwd=workspace, env={"DYNCORE_THREADS": "lots"})
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == ["dyncore: error: DYNCORE_THREADS must be a positive number of threads or auto, got 'lots'"]


def test_memory_cap_variable_is_used_and_checked(workspace, monkeypatch):
    monkeypatch.setenv("DYNCORE_MAX_MEMORY_GB", "0.000001")
    with _chdir(workspace):
        small = CliRunner().invoke(cli, "chaos-test lorenz.npz".split(), prog_name="dyncore")
        monkeypatch.setenv("DYNCORE_MAX_MEMORY_GB", "lots")
        bad = CliRunner().invoke(cli, "chaos-test lorenz.npz".split(), prog_name="dyncore")
    assert small.exit_code == 2 and "set by DYNCORE_MAX_MEMORY_GB" in small.stderr
    assert bad.exit_code == 2 and "DYNCORE_MAX_MEMORY_GB='lots' must be a positive number of GiB" in bad.stderr
