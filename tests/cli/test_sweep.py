"""`dyncore sweep`: Ctrl-C keeps the finished cells and --resume runs only the others; failing cells set the exit status."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import dyncore
from dyncore.cli import cli

SLOW = """
seeds = [0, 1, 2]

[[systems]]
name = "spiral"
data = { t_end = 4.0, dt = 0.1 }

[[models]]
name = "rnn"
hparams = { hidden = 16 }

[trainer]
epochs = 500

[evaluate]
enabled = false
"""


def _results(out: Path) -> dict[str, int]:
    return {p.parent.name: p.stat().st_mtime_ns for p in out.glob("cells/*/result.json")}


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_ctrl_c_then_resume_runs_only_the_unfinished_cells(tmp_path, executor):
    if executor == "ray":
        pytest.importorskip("ray")
    spec, out = tmp_path / "slow.toml", tmp_path / "out"
    spec.write_text(SLOW)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYNCORE_")}
    proc = subprocess.Popen([sys.executable, "-m", "dyncore", "sweep", str(spec), "-o", str(out), "--workers", "1",
                             "--executor", executor],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 300
    while not _results(out) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "sweep interrupted:" in stderr and "--resume" in stderr and stderr.rstrip().endswith("dyncore: error: interrupted")
    finished = _results(out)
    assert 1 <= len(finished) < 3, stderr
    rows = json.loads((out / "results.json").read_text())  # the table of what was done is written on the way out
    assert sum(r["status"] == "ok" for r in rows) == len(finished)

    result = dyncore.sweep(spec, out, resume=True, workers=2)  # a sweep directory resumes on any executor
    assert (result.ran, result.skipped, result.failed) == (3 - len(finished), len(finished), 0)
    assert {k: v for k, v in _results(out).items() if k in finished} == finished  # never redone


def test_failing_cells_make_the_exit_status_non_zero(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(SLOW.replace("seeds = [0, 1, 2]", "seeds = [0]").replace("epochs = 500", "epochs = 2")
                    .replace("hparams = { hidden = 16 }", "grid = { hidden = [8, 0] }"))
    result = CliRunner().invoke(cli, ["sweep", str(spec), "-o", str(tmp_path / "out"), "--quiet"], prog_name="dyncore")
    assert result.exit_code == 1, result.output
    assert "1 of 2 cells ok" in result.stdout
    assert result.stderr.strip().splitlines()[-1].startswith("dyncore: error: 1 of 2 cells failed")
