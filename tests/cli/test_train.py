"""`dyncore train`: run directories, options passed through, resume, refusals with exit codes, Ctrl-C."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

import dyncore
from dyncore.cli import cli
from dyncore.errors import TrainingInterrupted
from dyncore.run import CHECKPOINT, CONFIG, Run
from dyncore.testing.models import decaying_rotation


@pytest.fixture
def data(tmp_path):
    return str(decaying_rotation(n=40).save(tmp_path / "data.npz"))


def train(*args: str):
    return CliRunner().invoke(cli, ["train", *args])


def test_options_and_hparams_reach_the_run(tmp_path, data):
    out = tmp_path / "run"
    result = train("node", data, "-o", str(out), "--epochs", "6", "--lr", "0.005", "--lookahead", "2", "--seed", "3",
                   "--hparam", "hidden=8", "--hparam", "activation=tanh", "--option", "snapshot_every=3", "--no-progress")
    assert result.exit_code == 0, result.output
    assert f"wrote {out}: node, 6 epochs" in result.stdout
    config = json.loads((out / CONFIG).read_text())
    assert config["model"]["hparams"]["hidden"] == 8 and config["model"]["hparams"]["activation"] == "tanh"
    options = config["trainer"]["options"]
    assert (options["epochs"], options["lr"], options["lookahead"], options["seed"], options["snapshot_every"]) == (6, 0.005, 2, 3, 3)
    assert sorted(Run.load(out).history.snapshots) == [3, 6]


def test_minibatch_trainer_and_resume(tmp_path, data):
    out = str(tmp_path / "run")
    assert train("rnn", data, "-o", out, "--trainer", "minibatch", "--epochs", "2", "--hparam", "hidden=8").exit_code == 0
    result = train("rnn", data, "-o", out, "--epochs", "4", "--resume")
    assert result.exit_code == 0, result.output
    run = Run.load(out)
    assert len(run.history) == 4 and run.config["trainer"]["name"] == "minibatch"


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["nodee"], 2, "did you mean 'node'"),
        (["node", "--hparam", "hiden=3"], 2, "did you mean 'hidden'"),
        (["node", "--trainer", "full-batch"], 2, "did you mean 'full_batch'"),
        (["node", "--option", "epoch=3"], 2, "did you mean 'epochs'"),
        (["node", "--resume"], 1, "not a run directory"),
        (["node", "--resume", "--force"], 2, "exclude each other"),
        (["node", "--device", "cuda"], 2, "cuda"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, data, args, code, message):
    if args[-1] == "cuda" and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    out = tmp_path / "run"
    result = train(args[0], data, "-o", str(out), "--epochs", "2", *args[1:])
    assert result.exit_code == code, result.output
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert not out.exists()


def test_wrong_dimension_on_resume_and_too_short_data(tmp_path, data):
    short = str(decaying_rotation(n=3).save(tmp_path / "short.npz"))
    result = train("rnn", short, "-o", str(tmp_path / "r"), "--epochs", "2")
    assert result.exit_code == 2 and "at least 4 time points" in result.stderr


def test_existing_run_needs_resume_or_force(tmp_path, data):
    out = tmp_path / "run"
    assert train("node", data, "-o", str(out), "--epochs", "2", "--hparam", "hidden=8").exit_code == 0
    before = (out / CHECKPOINT).read_bytes()
    result = train("node", data, "-o", str(out), "--epochs", "2")
    assert result.exit_code == 1 and "--resume" in result.stderr and "--force" in result.stderr
    assert (out / CHECKPOINT).read_bytes() == before
    assert train("node", data, "-o", str(out), "--epochs", "3", "--hparam", "hidden=8", "--force").exit_code == 0
    assert len(Run.load(out).history) == 3


def test_corrupt_checkpoint_is_one_line(tmp_path, data):
    out = tmp_path / "run"
    assert train("node", data, "-o", str(out), "--epochs", "2", "--hparam", "hidden=8").exit_code == 0
    (out / CHECKPOINT).write_bytes(b"garbage")
    result = train("node", data, "-o", str(out), "--resume")
    assert result.exit_code == 1 and "corrupt" in result.stderr and result.stderr.count("\n") == 1


def test_ctrl_c_exits_130_and_says_how_to_resume(tmp_path, data, monkeypatch):
    def interrupted(*args, **kwargs):
        raise TrainingInterrupted("interrupted after epoch 7")

    monkeypatch.setattr(dyncore, "train", interrupted)
    out = str(tmp_path / "run")
    result = train("node", data, "-o", out)
    assert result.exit_code == 130
    assert "after epoch 7" in result.stderr and f"-o {out} --resume" in result.stderr and result.stderr.count("\n") == 1


def test_ctrl_c_before_training_says_so_and_never_prints_an_empty_reason(tmp_path, data, monkeypatch):
    """A bare KeyboardInterrupt (before the first epoch) once printed `dyncore: error: ; checkpoint saved`."""
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt()

    monkeypatch.setattr(dyncore, "train", interrupted)
    result = train("node", data, "-o", str(tmp_path / "run"))
    assert result.exit_code == 130
    assert result.stderr == f"dyncore: error: interrupted before training started; {tmp_path / 'run'} was left as it was\n"


def test_sigterm_before_training_is_an_interrupt_too(tmp_path, data, monkeypatch):
    """SIGTERM while the data load or the lock is under way: the same clean exit as Ctrl-C, code 143."""
    import os
    import signal

    def terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(dyncore, "train", terminated)
    result = train("node", data, "-o", str(tmp_path / "run"))
    assert result.exit_code == 143
    assert result.stderr == f"dyncore: error: terminated (SIGTERM) before training started; {tmp_path / 'run'} was left as it was\n"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_second_process_on_the_same_run_directory_is_refused(tmp_path, data):
    """Two `dyncore train -o run` at once: the second exits 1 with one line naming the first's PID."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import run_dyncore

    env = {k: v for k, v in os.environ.items() if not k.startswith("DYNCORE_")}
    first = subprocess.Popen([sys.executable, "-m", "dyncore", "train", "node", data, "-o", "run", "--epochs", "1000000",
                              "--hparam", "hidden=8", "--option", "checkpoint_every=1", "--no-progress"],
                             cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "run" / "checkpoint.pt").is_file():  # training, so holding the lock
            assert first.poll() is None and time.monotonic() < deadline, "the first trainer never started"
            time.sleep(0.05)
        second = run_dyncore("train", "node", data, "-o", "run", "--force", "--epochs", "2", cwd=tmp_path)
        assert second.returncode == 1
        assert second.stderr.strip().splitlines() == [
            f"dyncore: error: run is in use: dyncore process {first.pid} on {__import__('socket').gethostname()} is training "
            "into it; wait for it to finish or choose another -o"
        ]
    finally:
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=120)
    assert first.returncode == 143 and "terminated (SIGTERM)" in err and not (tmp_path / "run" / ".lock").exists()
