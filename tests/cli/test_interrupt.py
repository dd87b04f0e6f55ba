"""Interrupting `dyncore train` for real: Ctrl-C (SIGINT), SIGTERM and kill -9 mid-run, then --resume.

The resumed run must reproduce the uninterrupted run's loss history exactly (CPU, same seed).
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import dyncore

EPOCHS = "800"
ARGS = ["--epochs", EPOCHS, "--seed", "3", "--hparam", "hidden=32", "--option", "checkpoint_every=10"]


def _train(folder: Path, out: str, *extra: str, recipe: bool = True) -> subprocess.Popen:
    """`dyncore train` with the recipe (or, ``recipe=False``, bare as the Ctrl-C message suggests) plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYNCORE_")}
    return subprocess.Popen(
        [sys.executable, "-m", "dyncore", "train", "node", "lorenz.npz", "-o", out, *(ARGS if recipe else []), *extra],
        cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def _losses(run: Path) -> list[str]:
    with open(run / "history.csv", newline="") as f:
        return [row["loss"] for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("interrupt")
    dyncore.systems.create("lorenz").simulate(t=torch.linspace(0, 2, 200, dtype=torch.float64)).save(folder / "lorenz.npz")
    full = _train(folder, "full")
    _, err = full.communicate(timeout=300)
    assert full.returncode == 0, err
    return folder


def _interrupt_when_checkpointed(process: subprocess.Popen, checkpoint: Path, sig: int) -> None:
    deadline = time.monotonic() + 120
    while not checkpoint.exists():
        assert process.poll() is None, "training finished before it could be interrupted"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    time.sleep(0.05)
    process.send_signal(sig)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "sigterm", "kill-9"])
def test_an_interrupted_run_resumes_to_the_same_loss_history(folder, sig):
    name = f"part_{sig.name}"
    process = _train(folder, name)
    _interrupt_when_checkpointed(process, folder / name / "checkpoint.pt", sig)
    _, err = process.communicate(timeout=120)
    if sig != signal.SIGKILL:  # SIGTERM (a scheduler's stop) is handled like Ctrl-C, with the shell's exit code
        assert process.returncode == 128 + sig, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "--resume" in lines[0] and "Traceback" not in err, err
        assert len(_losses(folder / name)) < int(EPOCHS)
    else:
        assert process.returncode == -signal.SIGKILL
    # after Ctrl-C or SIGTERM resume as the message says; after kill -9 repeat the whole command with --resume
    resumed = _train(folder, name, "--resume", recipe=sig == signal.SIGKILL)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert _losses(folder / name) == _losses(folder / "full")


#: The chaotic-systems trainers (300 epochs), interrupted in their Adam epochs and in their L-BFGS polish.
NEW_TRAINERS = {
    "multistep-mid-adam": (signal.SIGINT, ["--epochs", "300", "--trainer", "multistep", "--option", "curriculum=1,2,4",
                                           "--option", "noise=0.01", "--option", "lbfgs_epochs=20"]),
    "multistep-mid-lbfgs": (signal.SIGTERM, ["--epochs", "300", "--trainer", "multistep", "--option", "curriculum=1,2",
                                             "--option", "lbfgs_epochs=295"]),
    "shooting-learned": (signal.SIGKILL, ["--epochs", "300", "--trainer", "shooting", "--option", "segment_steps=5",
                                          "--option", "lbfgs_epochs=100"]),
}


@pytest.mark.parametrize("case", list(NEW_TRAINERS))
def test_the_chaotic_trainers_resume_to_the_same_loss_history(folder, case):
    sig, extra = NEW_TRAINERS[case]
    full = _train(folder, f"{case}_full", *extra)
    _, err = full.communicate(timeout=300)
    assert full.returncode == 0, err
    process = _train(folder, case, *extra)
    _interrupt_when_checkpointed(process, folder / case / "checkpoint.pt", sig)
    _, err = process.communicate(timeout=120)
    assert process.returncode == (-sig if sig == signal.SIGKILL else 128 + sig), err
    resumed = _train(folder, case, "--resume", *(extra if sig == signal.SIGKILL else []), recipe=sig == signal.SIGKILL)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert _losses(folder / case) == _losses(folder / f"{case}_full")
