"""``dyncore persistence``: the CLI layer over chaos_persistence (text, JSON, figure)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import dyncore
from dyncore.cli import cli

SHORT = ["--lyapunov-times", "60", "--window-lyapunov-times", "30", "--n-starts", "2", "--no-progress"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("persistence") / "run"
    data = dyncore.simulate("lorenz", t=np.linspace(0.0, 2.0, 201))
    dyncore.train("node", data, epochs=2, out=folder, hparams={"hidden": 16}, progress=False)
    return folder


def test_text_names_every_start_and_the_figure_is_written(run_dir, tmp_path):
    figure = tmp_path / "k.png"
    result = CliRunner().invoke(cli, ["persistence", str(run_dir), *SHORT, "-o", str(figure)], prog_name="dyncore")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("node on lorenz: chaos lasts ") and "Lyapunov times (median of 2 starts" in lines[0]
    assert [line.split(":")[0] for line in lines[1:3]] == ["  start 0", "  start 1"]
    assert figure.stat().st_size > 1000 and f"wrote {figure}" in result.stdout


def test_json_holds_the_windows(run_dir):
    result = CliRunner().invoke(cli, ["persistence", str(run_dir), *SHORT, "--json"], prog_name="dyncore")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["n_starts"] == 2 and len(data["k"]) == 2 and len(data["k"][0]) == 2
    assert data["window_starts"] == [0.0, pytest.approx(30.0, rel=1e-3)] and data["unit"] == "Lyapunov times"
    assert set(data["fates"]) <= {"chaotic", "fixed point", "cycle", "regular", "blow-up"}
