"""The example third-party plugin in docs/examples, installed the real way (pip) into a private target."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, run_dyncore

EXAMPLE = REPO / "docs" / "examples" / "dyncore-rossler"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, str]:
    """pip-install the example (no deps, no network) into a folder put on PYTHONPATH."""
    target = tmp_path_factory.mktemp("rossler-site")
    build = tmp_path_factory.mktemp("rossler-build")
    source = build / "src"
    subprocess.run(["cp", "-r", str(EXAMPLE), str(source)], check=True)  # keep build litter out of the repo
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(source)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH", "")]))}


def test_the_example_plugin_appears_in_list_and_plugins(installed):
    rows = json.loads(run_dyncore("list", "systems", "--json", env=installed).stdout)
    rossler = [r for r in rows if r["name"] == "rossler"]
    assert rossler and rossler[0]["plugin"] == "rossler" and rossler[0]["distribution"] == "dyncore-rossler"
    plugins = {p["name"]: p for p in json.loads(run_dyncore("plugins", "--json", env=installed).stdout)}
    assert plugins["rossler"]["state"] == "OK" and plugins["rossler"]["version"] == "1.0.0"


def test_the_example_plugin_passes_its_own_conformance_tests(installed):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        capture_output=True,
        text=True,
        env={**os.environ, **installed},
        cwd=EXAMPLE,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout


def test_the_example_plugin_can_be_simulated(installed, tmp_path: Path):
    out = tmp_path / "rossler.npz"
    result = run_dyncore("simulate", "rossler", "--t-end", "20", "-o", str(out), env=installed)
    assert result.returncode == 0, result.stderr
    with np.load(out) as data:
        x = data["x"]
    assert x.shape[-1] == 3 and np.isfinite(x).all() and np.ptp(x[:, 0]) > 5  # on the attractor, not at rest
