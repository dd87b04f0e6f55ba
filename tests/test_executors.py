"""Executors: a worker process killed during a cell is replaced and the cell retried, on the local pool and on a
real local Ray cluster, and both executors give the same table cell by cell."""

from __future__ import annotations

import csv
import os
import signal
import textwrap
import time
from pathlib import Path

import pytest
from conftest import FakeSite, run_dyncore

#: A model plugin whose worker process is SIGKILLed the first time one is built (while FRAGILE_MARKER is absent).
FRAGILE = """
import os
import signal

import dyncore
from dyncore_models.rnn import WindowRNN


class FragileRNN(WindowRNN):
    \"\"\"The windowed RNN; the first one built kills its own process, as a lost worker would be.\"\"\"

    name = "fragile"

    def __init__(self, **hparams):
        marker = os.environ.get("FRAGILE_MARKER")
        if marker and not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        super().__init__(**hparams)


@dyncore.hookimpl
def register_models(registry):
    registry.add("fragile", FragileRNN)
"""

SPEC = """
seeds = [0]

[[systems]]
name = "spiral"
data = { t_end = 4.0, dt = 0.1 }

[[models]]
name = "fragile"
grid = { hidden = [4, 8] }

[trainer]
epochs = 5

[evaluate]
enabled = false
"""

#: Columns that differ between two runs of the same cells (wall times).
TIMINGS = ("train_s", "eval_s", "wall_s")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[FakeSite, Path]:
    root = tmp_path_factory.mktemp("executors")
    fake = FakeSite(root / "site")
    fake.add("dyncore-fragile", {"fragile": "fragile_plugin"}, {"fragile_plugin": FRAGILE})
    (root / "spec.toml").write_text(textwrap.dedent(SPEC))
    return fake, root


def killed_sweep(site: tuple[FakeSite, Path], name: str, *args: str) -> tuple[list[dict[str, str]], Path]:
    fake, root = site
    marker = root / f"{name}.killed"
    result = run_dyncore("sweep", str(root / "spec.toml"), "-o", str(root / name), "--workers", "2", *args,
                         env={**fake.env, "FRAGILE_MARKER": str(marker)}, timeout=240)
    assert result.returncode == 0, result.stderr
    assert marker.exists(), "no worker was killed"
    return list(csv.DictReader((root / name / "results.csv").open())), marker


def without_timings(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k not in TIMINGS} for row in rows]


@pytest.fixture(scope="module")
def local_table(site) -> list[dict[str, str]]:
    rows, _ = killed_sweep(site, "local")
    return rows


def test_local_executor_retries_a_cell_whose_worker_was_killed(local_table):
    assert len(local_table) == 2 and all(r["status"] == "ok" for r in local_table), local_table
    assert {r["hparams"] for r in local_table} == {'{"hidden": 4}', '{"hidden": 8}'}


def test_ray_cluster_retries_a_killed_worker_and_matches_the_local_table(site, local_table):
    pytest.importorskip("ray")
    rows, _ = killed_sweep(site, "ray", "--executor", "ray")
    assert without_timings(rows) == without_timings(local_table)


def die_on_odd(config, threads):
    """A cell function (module level, so workers can import it) whose odd cells kill their own worker."""
    if config["n"] % 2:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.2)
    return {"status": "ok", "n": config["n"]}


def test_local_pool_charges_a_death_to_its_cell_and_gives_up_after_the_retries():
    from dyncore.executors import LocalExecutor

    results = dict(LocalExecutor(2, retries=1, function=die_on_odd).run([(str(n), {"n": n}) for n in range(4)]))
    assert sorted(results) == [str(n) for n in range(4)]
    assert all(results[str(n)] == {"status": "ok", "n": n} for n in (0, 2)), results  # bystanders are never charged
    for n in (1, 3):
        assert results[str(n)]["status"] == "failed" and "died 2 times" in results[str(n)]["error"]
