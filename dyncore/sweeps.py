"""Sweeps: a grid of systems x models x hyperparameters x seeds, each cell trained and evaluated, on any executor.

A sweep specification (TOML, see docs/sweeps.md) is read and checked in full before anything runs
(:func:`load_spec`): unknown keys get did-you-mean suggestions, unknown component, parameter,
hyperparameter and option names are refused, an empty grid or one of more than
:data:`MAX_CELLS` cells (without ``yes``) is one line. Each cell is a directory named by a content
hash of its configuration under ``OUT/cells/``; its ``result.json`` is written last, so a cell that
has one is finished and is never redone. A cell runs :func:`run_cell` (``dyncore.simulate``,
``dyncore.train``, ``dyncore.evaluate``) in a worker of an executor (:mod:`dyncore.executors`) and
returns its files and numbers; only the driver writes into ``OUT``. The results are one tidy table
(``results.csv``, ``results.json``: one row per cell, every metric a column), a summary over seeds
(``summary.md``: mean, sd, n) and one figure per reported metric (``figures/``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dyncore
from dyncore.defaults import DEFAULT_TRAINER
from dyncore.errors import CheckpointError, ConfigError, DyncoreError, OutputExistsError, UnknownNameError
from dyncore.executors import failed_result, make_executor  # noqa: F401 (failed_result: kept importable from here)
from dyncore.io import atomic_write

#: A grid larger than this needs ``yes=True`` (``--yes``): a typo in a grid can ask for years of compute.
MAX_CELLS = 10_000
SPEC_FORMAT = "dyncore-sweep"
CELLS, RESULT, CELL_CONFIG, RUN_DIR = "cells", "result.json", "cell.json", "run"
#: Files of a cell's run directory shipped back from the worker (the checkpoint is only for resuming a training).
SHIPPED_RUN_FILES = ("config.json", "weights.pt", "history.csv", "snapshots.npz")
#: Reported (summary and figures) when the spec's [report] names no metrics, where the table has them.
DEFAULT_METRICS = ("vpt/0.5/mean", "lyapunov/learned/0", "distances/histogram", "distances/power_spectrum", "final_loss")

_TOP_KEYS = ("seeds", "systems", "models", "trainer", "evaluate", "report")
_SYSTEM_KEYS = ("name", "params", "grid", "data", "hparams")
_MODEL_KEYS = ("name", "hparams", "grid")
_TRAINER_KEYS = ("name", "options", "grid")
_DATA_KEYS = ("t_end", "dt", "n_points", "solver", "rtol", "atol", "solver_options", "batch", "seed", "noise",
              "irregular", "transient", "dtype")
_EVALUATE_KEYS = ("enabled", "n_tests", "seed", "dt", "horizon", "long_time", "transient", "thresholds",
                  "lyapunov_steps", "n_exponents")
_REPORT_KEYS = ("metrics",)
#: Trainer options a sweep sets itself (one run directory per cell, no progress bars in workers).
_RESERVED_OPTIONS = ("seed", "checkpoint_path", "progress")


# -- the specification ---------------------------------------------------------------------------
@dataclass
class Cell:
    """One point of the grid: everything :func:`run_cell` needs, and the hash that names its directory."""

    config: dict[str, Any]
    key: str = ""
    group: str = ""

    def __post_init__(self) -> None:
        self.key = self.key or content_hash(self.config)
        self.group = self.group or content_hash({k: v for k, v in self.config.items() if k != "seed"})

    @property
    def label(self) -> str:
        """``system / model seed s``: how progress lines name the cell."""
        c = self.config
        return f"{c['system']['name']} / {c['model']['name']} seed {c['seed']}"


@dataclass
class SweepSpec:
    """A checked sweep specification and its cells, in grid order."""

    raw: dict[str, Any]
    cells: list[Cell]
    metrics: list[str] = field(default_factory=list)
    source: str = "spec"

    @property
    def gpu_cells(self) -> int:
        """How many cells train on a CUDA device (an executor gives each of them a GPU)."""
        return sum(1 for c in self.cells if str(c.config["trainer"]["options"].get("device", "cpu")).startswith("cuda"))


def content_hash(obj: Any) -> str:
    """First 16 hex digits of the SHA-256 of ``obj`` as canonical JSON (sorted keys): names a cell's directory."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a TOML file (``tomllib``, or ``tomli`` before Python 3.11); a syntax error is one :class:`ConfigError` line."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sweep spec {path} does not exist" + (" (it is a directory)" if path.is_dir() else "")
                          + "; give a .toml file (see docs/sweeps.md)")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"sweep spec {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"sweep spec {path} is not a text file; give a .toml file") from None


def load_spec(spec: str | os.PathLike | Mapping[str, Any], *, seeds: int | None = None, yes: bool = False) -> SweepSpec:
    """Read and check a sweep specification and expand its grid into cells, before anything runs.

    Args:
        spec: a TOML file or the same structure as a dict.
        seeds: replace the spec's seeds by ``0 .. seeds - 1``.
        yes: accept a grid of more than :data:`MAX_CELLS` cells.
    Returns:
        The checked spec with its cells in grid order (systems, then models, then settings, then seeds).
    Raises:
        ConfigError, UnknownNameError: the first problem found, one line (nothing is written).
    """
    source = "spec"
    if not isinstance(spec, Mapping):
        source = Path(spec).name
        spec = read_toml(spec)
    raw = dict(spec)
    where = f"in {source}"
    _check_keys(raw, _TOP_KEYS, f"{where} (top level)")
    seed_list = list(range(seeds)) if seeds is not None else _seeds(raw.get("seeds", [0]), where)
    if seeds is not None and seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    systems = _entries(raw, "systems", _SYSTEM_KEYS, dyncore.systems, where)
    models = _entries(raw, "models", _MODEL_KEYS, dyncore.models, where)
    trainer = _trainer(raw.get("trainer", {}), where)
    evaluation = _evaluate(raw.get("evaluate", {}), where)
    report = _table(raw.get("report", {}), "[report]", where)
    _check_keys(report, _REPORT_KEYS, f"{where} [report]")
    metrics = report.get("metrics", [])
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise ConfigError(f"[report] metrics must be a list of column names, e.g. [\"vpt/0.5/mean\"] ({where})")

    model_names = [m["name"] for m in models]
    for system in systems:
        for name, hparams in system["hparams"].items():
            if name not in model_names:
                raise UnknownNameError("model", name, model_names, f"[systems] {system['name']!r} hparams names a model the sweep does not train, {where}")
            _check_names(dyncore.models.get(name).default_hparams, hparams, "hyperparameter", f"model {name!r} on system {system['name']!r}")
    count = (sum(_grid_size(s["grid"]) for s in systems) * sum(_grid_size(m["grid"]) for m in models)
             * _grid_size(trainer["grid"]) * len(seed_list))
    if count == 0:
        raise ConfigError(f"the sweep grid is empty ({where}): every list in seeds and grid must have at least one value")
    if count > MAX_CELLS and not yes:
        raise ConfigError(f"the sweep grid has {count:,} cells, more than {MAX_CELLS:,}; check the grid or pass --yes (yes=True) to run it")

    cells: list[Cell] = []
    seen: dict[str, Cell] = {}
    for system in systems:
        for params in _expand(system["params"], system["grid"]):
            for model in models:
                base = {**model["hparams"], **system["hparams"].get(model["name"], {})}
                for hparams in _expand(base, model["grid"]):
                    for options in _expand(trainer["options"], trainer["grid"]):
                        for seed in seed_list:
                            cell = Cell({
                                "system": {"name": system["name"], "params": params},
                                "data": system["data"],
                                "model": {"name": model["name"], "hparams": hparams},
                                "trainer": {"name": trainer["name"], "options": options},
                                "seed": seed,
                                "evaluate": evaluation,
                            })
                            if cell.key in seen:
                                raise ConfigError(f"two cells of the grid are the same ({cell.label}, {where}): list each system and model setting once")
                            seen[cell.key] = cell
                            cells.append(cell)
    return SweepSpec(raw=raw, cells=cells, metrics=metrics, source=source)


def _check_keys(table: Mapping[str, Any], known: Iterable[str], where: str) -> None:
    for key in table:
        if key not in known:
            raise UnknownNameError("key", key, known, where)


def _table(value: Any, name: str, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name} must be a table ({where}), got {type(value).__name__} {value!r}")
    return dict(value)


def _seeds(value: Any, where: str) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value):
        raise ConfigError(f"seeds must be a list of non-negative integers, e.g. seeds = [0, 1, 2] ({where}), got {value!r}")
    if len(set(value)) != len(value):
        raise ConfigError(f"seeds lists a seed twice ({where}): {value}")
    return value


def _entries(raw: Mapping[str, Any], key: str, known: tuple[str, ...], registry: Any, where: str) -> list[dict[str, Any]]:
    """The ``[[systems]]`` or ``[[models]]`` entries, each a name or a table, with names and parameters checked."""
    value = raw.get(key)
    if value is None:
        raise ConfigError(f"the sweep spec lists no {key} ({where}); add e.g. {key} = [\"{'lorenz' if key == 'systems' else 'node'}\"]")
    if not isinstance(value, list):
        raise ConfigError(f"{key} must be a list of names or [[{key}]] tables ({where}), got {type(value).__name__}")
    entries = []
    for item in value:
        entry = {"name": item} if isinstance(item, str) else _table(item, f"each of [[{key}]]", where)
        _check_keys(entry, known, f"{where} [[{key}]]")
        name = entry.get("name")
        if not isinstance(name, str):
            raise ConfigError(f"each of [[{key}]] needs a name ({where}), e.g. name = \"{'lorenz' if key == 'systems' else 'node'}\"")
        cls = registry.get(name)  # UnknownNameError with did-you-mean
        entry_where = f"{where} [[{key}]] {name!r}"
        if key == "systems":
            params = _table(entry.get("params", {}), "params", entry_where)
            grid = _grid(entry.get("grid", {}), entry_where)
            _check_names(cls.default_params, {**params, **grid}, "parameter", f"system {name!r}")
            data = _table(entry.get("data", {}), "data", entry_where)
            _check_keys(data, _DATA_KEYS, f"{entry_where} data")
            per_model = _table(entry.get("hparams", {}), "hparams", entry_where)
            per_model = {m: _table(h, f"hparams.{m}", entry_where) for m, h in per_model.items()}
            entries.append({"name": name, "params": params, "grid": grid, "data": data, "hparams": per_model})
        else:
            hparams = _table(entry.get("hparams", {}), "hparams", entry_where)
            grid = _grid(entry.get("grid", {}), entry_where)
            _check_names(cls.default_hparams, {**hparams, **grid}, "hyperparameter", f"model {name!r}")
            entries.append({"name": name, "hparams": hparams, "grid": grid})
    if not entries:
        raise ConfigError(f"the sweep grid is empty ({where}): {key} lists nothing")
    return entries


def _check_names(defaults: Mapping[str, Any], given: Mapping[str, Any], kind: str, owner: str) -> None:
    for name in given:
        if name not in defaults:
            raise UnknownNameError(kind, name, defaults, f"for {owner}")


def _grid(value: Any, where: str) -> dict[str, list[Any]]:
    grid = _table(value, "grid", where)
    for key, values in grid.items():
        if not isinstance(values, list):
            raise ConfigError(f"grid.{key} must be a list of values to sweep ({where}), got {values!r}; put a fixed value outside grid")
    return grid


def _trainer(value: Any, where: str) -> dict[str, Any]:
    table = _table(value, "[trainer]", where)
    name = table.pop("name", DEFAULT_TRAINER)
    if not isinstance(name, str):
        raise ConfigError(f"[trainer] name must be a trainer name ({where}), got {name!r}")
    cls = dyncore.trainers.get(name)
    grid = _grid(table.pop("grid", {}), f"{where} [trainer]")
    options = table.pop("options", {})
    options = {**_table(options, "[trainer] options", where), **table}  # options may be given flat in [trainer]
    for key in {**options, **grid}:
        if key in _RESERVED_OPTIONS:
            raise ConfigError(f"[trainer] {key} is set by the sweep itself ({where}): "
                              + ("list training seeds in seeds = [...]" if key == "seed" else "remove it"))
    _check_names(cls.default_options, {**options, **grid}, "option", f"trainer {name!r}")
    return {"name": name, "options": options, "grid": grid}


def _evaluate(value: Any, where: str) -> dict[str, Any] | None:
    table = _table(value, "[evaluate]", where)
    _check_keys(table, _EVALUATE_KEYS, f"{where} [evaluate]")
    enabled = table.pop("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"[evaluate] enabled must be true or false ({where}), got {enabled!r}")
    if "thresholds" in table:
        table["thresholds"] = list(table["thresholds"])
    return table if enabled else None


def _grid_size(grid: Mapping[str, list[Any]]) -> int:
    return math.prod(len(v) for v in grid.values())


def _expand(base: Mapping[str, Any], grid: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """``base`` updated with every combination of the grid's values (the grid's keys in their order)."""
    keys = list(grid)
    return [{**base, **dict(zip(keys, combo))} for combo in itertools.product(*(grid[k] for k in keys))]


# -- one cell ------------------------------------------------------------------------------------
def run_cell(config: Mapping[str, Any], threads: int = 1) -> dict[str, Any]:
    """Simulate, train and evaluate one cell in this process; never raises for a failing cell.

    Args:
        config: a :class:`Cell`'s ``config``.
        threads: torch threads of this worker (1: the cells, not the threads, run in parallel).
    Returns:
        ``status`` ("ok" or "failed"), ``error`` (one line, or None), ``metrics`` (the evaluation,
        or {}), ``final_loss``, ``epochs``, ``train_s``, ``eval_s``, ``wall_s``, and ``files``:
        the run directory's files as bytes (the driver writes them; a cluster node's disk may not
        be the driver's).
    """
    import torch

    torch.set_num_threads(threads)
    start = time.perf_counter()
    out: dict[str, Any] = {"status": "failed", "error": None, "metrics": {}, "final_loss": None, "epochs": None,
                           "train_s": None, "eval_s": None, "files": {}, "pid": os.getpid()}
    with tempfile.TemporaryDirectory(prefix="dyncore-cell-") as tmp:
        run_path = Path(tmp) / RUN_DIR
        try:
            system = dyncore.systems.create(config["system"]["name"], **config["system"]["params"])
            data_options = dict(config["data"])
            grid_keys = {k: data_options.pop(k) for k in ("t_end", "dt", "n_points") if k in data_options}
            times = None
            if grid_keys:
                from dyncore.simulation import time_grid

                times = time_grid(system, **grid_keys)
            data = dyncore.simulate(system, t=times, progress=False, **data_options)
            trainer = config["trainer"]
            t0 = time.perf_counter()
            try:
                run = dyncore.train(config["model"]["name"], data, trainer["name"], hparams=config["model"]["hparams"],
                                    out=run_path, seed=config["seed"], progress=False, **trainer["options"])
            finally:
                out["train_s"] = time.perf_counter() - t0
            out["final_loss"] = run.history.loss[-1] if run.history else None
            out["epochs"] = len(run.history)
            if config.get("evaluate") is not None:
                t0 = time.perf_counter()
                out["metrics"] = dyncore.evaluate(run, system, **config["evaluate"]).to_dict()
                out["eval_s"] = time.perf_counter() - t0
            out["status"] = "ok"
        except DyncoreError as exc:
            out["error"] = _one_line(str(exc))
        except Exception as exc:  # a plugin's bug: recorded, and the sweep goes on
            from dyncore.faults import plugin_fault

            out["error"] = _one_line(plugin_fault(exc) or f"{type(exc).__name__}: {exc}")
        if run_path.is_dir():
            out["files"] = {p.name: p.read_bytes() for p in sorted(run_path.iterdir()) if p.name in SHIPPED_RUN_FILES}
    out["wall_s"] = time.perf_counter() - start
    return out


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "failed without a message"


# -- the sweep -----------------------------------------------------------------------------------
@dataclass
class SweepResult:
    """What :func:`sweep` returns: the rows of the results table and where everything was written."""

    out: Path
    rows: list[dict[str, Any]]
    ran: int = 0
    skipped: int = 0

    @property
    def failed(self) -> int:
        """How many cells of the grid failed."""
        return sum(1 for r in self.rows if r["status"] != "ok")


def sweep(
    spec: str | os.PathLike | Mapping[str, Any],
    out: str | os.PathLike,
    *,
    executor: str = "local",
    address: str | None = None,
    workers: int | None = None,
    resume: bool = False,
    yes: bool = False,
    seeds: int | None = None,
    retries: int = 3,
    progress: bool | None = None,
) -> SweepResult:
    """Run every cell of a sweep specification and write the results table, summary and figures into ``out``.

    Args:
        spec: a TOML file (see docs/sweeps.md) or the same structure as a dict.
        out: the sweep directory; it must be new (or empty) unless ``resume``.
        executor: ``"local"`` (a process pool on this machine) or ``"ray"`` (the ``dyncore[ray]`` extra).
        address: with ``"ray"``: the cluster to join (``ray.init(address=...)``); None starts a local one.
        workers: parallel cells (default: this machine's cores; for a joined Ray cluster, its CPUs).
        resume: continue the sweep in ``out``: finished cells are kept, the others (unfinished or failed) run.
        yes: accept a grid of more than :data:`MAX_CELLS` cells.
        seeds: replace the spec's seeds by ``0 .. seeds - 1``.
        retries: how often a cell whose worker process died is started again.
        progress: print progress on stderr (None: when stderr is a terminal).
    Returns:
        The :class:`SweepResult`; ``result.failed`` counts failing cells (each row has its one-line error).
    Raises:
        ConfigError: a bad spec or argument (nothing written).
        OutputExistsError: ``out`` holds files and ``resume`` was not given.
        KeyboardInterrupt: Ctrl-C; finished cells are kept and ``resume`` runs the rest.
    """
    checked = load_spec(spec, seeds=seeds, yes=yes)
    out = Path(out)
    marker = out / "sweep.json"
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} is a file; give a directory for the sweep")
    if out.is_dir() and any(out.iterdir()):
        if not resume:
            raise OutputExistsError(f"{out} exists; pass --resume to continue that sweep or choose another directory")
        if not marker.is_file():
            raise CheckpointError(f"{out} is not a sweep directory (no sweep.json); choose another directory")
    pool = make_executor(executor, function=run_cell, workers=workers, address=address, retries=retries, gpus=checked.gpu_cells > 0)

    todo, skipped = [], 0
    for cell in checked.cells:
        if _finished(out / CELLS / cell.key):
            skipped += 1
        else:
            todo.append(cell)
    with atomic_write(marker, "w") as f:
        f.write(json.dumps({"format": SPEC_FORMAT, "version": 1, "spec": checked.raw, "dyncore": dyncore.__version__,
                            "cells": {c.key: c.config for c in checked.cells}}, indent=1, default=str) + "\n")
    meter = Progress(len(checked.cells), skipped, progress)
    by_key = {c.key: c for c in todo}
    ran = 0
    try:
        if todo:
            with pool:
                meter.start(pool.workers)
                for key, result in pool.run([(c.key, c.config) for c in todo]):
                    cell = by_key[key]
                    write_cell(out / CELLS / key, cell, result)
                    ran += 1
                    meter.update(cell, result)
    except KeyboardInterrupt:
        meter.interrupted(out)
        write_reports(out, checked)
        raise
    rows = write_reports(out, checked)
    return SweepResult(out=out, rows=rows, ran=ran, skipped=skipped)


def _finished(cell_dir: Path) -> bool:
    """True when the cell's result is on disk and it succeeded (failed and unfinished cells run again)."""
    try:
        return json.loads((cell_dir / RESULT).read_text()).get("status") == "ok"
    except (OSError, ValueError, AttributeError):
        return False


def write_cell(cell_dir: Path, cell: Cell, result: Mapping[str, Any]) -> None:
    """Write a finished cell: its config, its run files, then ``result.json`` last (the mark of a finished cell)."""
    (cell_dir / RESULT).unlink(missing_ok=True)
    with atomic_write(cell_dir / CELL_CONFIG, "w") as f:
        f.write(json.dumps(cell.config, indent=1, default=str) + "\n")
    for name, payload in result.get("files", {}).items():
        with atomic_write(cell_dir / RUN_DIR / name) as f:
            f.write(payload)
    record = {k: v for k, v in result.items() if k not in ("files", "pid")}
    with atomic_write(cell_dir / RESULT, "w") as f:
        f.write(json.dumps(record, indent=1, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    try:
        return float(obj)
    except (TypeError, ValueError):
        return str(obj)


class Progress:
    """Cells done / running / failed with an estimate of the time left, one line per finished cell on stderr."""

    def __init__(self, total: int, skipped: int, enabled: bool | None) -> None:
        self.total, self.skipped = total, skipped
        self.done = self.failed = 0
        self.workers = 1
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.started = time.perf_counter()

    def start(self, workers: int) -> None:
        self.workers, self.started = workers, time.perf_counter()
        self._print(f"sweep: {self.total} cells, {self.skipped} already finished, {self.total - self.skipped} to run "
                    f"on {workers} worker{'s' if workers != 1 else ''}")

    def update(self, cell: Cell, result: Mapping[str, Any]) -> None:
        self.done += 1
        self.failed += result["status"] != "ok"
        left = self.total - self.skipped - self.done
        elapsed = time.perf_counter() - self.started
        eta = f", ~{_duration(elapsed / self.done * left)} left" if left else ""
        what = "ok" if result["status"] == "ok" else f"FAILED: {result['error']}"
        self._print(f"[{self.skipped + self.done}/{self.total}] {cell.label} {what}; "
                    f"done {self.skipped + self.done - self.failed}, running {min(self.workers, left)}, failed {self.failed}{eta}")

    def interrupted(self, out: Path) -> None:
        self._print(f"sweep interrupted: {self.skipped + self.done} of {self.total} cells finished; "
                    f"the others run with `dyncore sweep SPEC -o {out} --resume`", force=True)

    def _print(self, line: str, force: bool = False) -> None:
        if self.enabled or force:
            print(line, file=sys.stderr, flush=True)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


# -- results -------------------------------------------------------------------------------------
#: Evaluation entries left out of the table's columns (per-start lists, setup echo, notes: in results.json).
_SKIPPED_TOP = ("setup", "notes", "model", "system")
_SKIPPED_METRICS = ("per_start", "model_per_run", "truth_per_run")


def flatten_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"vpt": {"0.5": {"mean": 1.2}}}`` -> ``{"vpt/0.5/mean": 1.2}``; lists of numbers become ``name/0``, ``name/1``..."""
    flat: dict[str, Any] = {}
    for key, value in metrics.items():
        if key in _SKIPPED_METRICS or (not prefix and key in _SKIPPED_TOP):
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_metrics(value, name + "/"))
        elif isinstance(value, (list, tuple)):
            flat.update({f"{name}/{i}": v for i, v in enumerate(value)})
        else:
            flat[name] = value
    return flat


def result_rows(out: Path, spec: SweepSpec) -> list[dict[str, Any]]:
    """One row per cell of the grid, in grid order: settings, status, error, timings and every metric."""
    varying = _varying_settings(spec.cells)
    rows = []
    for cell in spec.cells:
        c = cell.config
        try:
            result = json.loads((out / CELLS / cell.key / RESULT).read_text())
        except (OSError, ValueError):
            result = {"status": "not run", "error": "unfinished (interrupted); rerun with --resume"}
        row = {
            "cell": cell.key,
            "group": cell.group,
            "system": c["system"]["name"],
            "model": c["model"]["name"],
            "variant": _variant(c, varying),
            "seed": c["seed"],
            "params": json.dumps(c["system"]["params"], sort_keys=True),
            "hparams": json.dumps(c["model"]["hparams"], sort_keys=True),
            "trainer": c["trainer"]["name"],
            "options": json.dumps(c["trainer"]["options"], sort_keys=True),
            "status": result.get("status"),
            "error": result.get("error"),
            "final_loss": result.get("final_loss"),
            "epochs": result.get("epochs"),
            "train_s": result.get("train_s"),
            "eval_s": result.get("eval_s"),
            "wall_s": result.get("wall_s"),
        }
        row.update(flatten_metrics(result.get("metrics") or {}))
        row["notes"] = (result.get("metrics") or {}).get("notes", [])
        rows.append(row)
    return rows


def _varying_settings(cells: list[Cell]) -> list[tuple[str, str]]:
    """(section, key) of the parameters, hyperparameters and options that differ between cells of one system and model."""
    groups: dict[tuple[str, str], list[Cell]] = {}
    for cell in cells:
        groups.setdefault((cell.config["system"]["name"], cell.config["model"]["name"]), []).append(cell)
    varying = set()
    for group in groups.values():
        keys = {(s, k) for cell in group for s in _SECTIONS for k in _section(cell.config, s)}
        for section, key in keys:
            seen = {json.dumps(_section(c.config, section).get(key, "<absent>"), sort_keys=True) for c in group}
            if len(seen) > 1:
                varying.add((section, key))
    return sorted(varying)


_SECTIONS = ("params", "hparams", "options")


def _section(config: Mapping[str, Any], section: str) -> Mapping[str, Any]:
    return {"params": config["system"]["params"], "hparams": config["model"]["hparams"], "options": config["trainer"]["options"]}[section]


def _variant(config: Mapping[str, Any], varying: list[tuple[str, str]]) -> str:
    """The model's name and the settings that vary across the grid, e.g. ``node hidden=64 lr=0.01``."""
    parts = [config["model"]["name"]]
    for section, key in varying:
        table = _section(config, section)
        if key in table and section != "params":
            parts.append(f"{key}={table[key]}")
    system = [f"{key}={config['system']['params'][key]}" for section, key in varying if section == "params" and key in config["system"]["params"]]
    return " ".join(parts + system)


def write_reports(out: Path, spec: SweepSpec) -> list[dict[str, Any]]:
    """Write ``results.csv``, ``results.json``, ``summary.md`` and ``figures/*.png`` for the cells finished so far."""
    rows = result_rows(out, spec)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns and k != "notes"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    with atomic_write(out / "results.csv", "w") as f:
        f.write(buffer.getvalue())
    with atomic_write(out / "results.json", "w") as f:
        f.write(json.dumps(rows, indent=1, default=_json_default) + "\n")
    metrics = spec.metrics or [m for m in DEFAULT_METRICS if m in columns]
    groups = summarize(rows, metrics)
    text = summary_markdown(groups, metrics, spec)
    absent = [m for m in metrics if m not in columns]
    if absent and any(r["status"] == "ok" for r in rows):
        text += f"\n\nNo column of results.csv is called {', '.join(absent)}: check [report] metrics against its header."
    with atomic_write(out / "summary.md", "w") as f:
        f.write(text + "\n")
    if any(r["status"] == "ok" for r in rows):
        from dyncore import plotting

        for metric in metrics:
            if any(_number(r.get(metric)) is not None for r in rows):
                plotting.save(sweep_figure(rows, metric), out / "figures" / f"{_file_name(metric)}.png")
    return rows


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def summarize(rows: list[dict[str, Any]], metrics: list[str]) -> list[dict[str, Any]]:
    """Group the rows over seeds: per group and metric the mean, sd (n - 1), median and n of the finite values."""
    groups: dict[str, dict[str, Any]] = {}
    for row in rows:
        g = groups.setdefault(row["group"], {"system": row["system"], "variant": row["variant"], "cells": 0, "ok": 0,
                                             "values": {m: [] for m in metrics}})
        g["cells"] += 1
        if row["status"] == "ok":
            g["ok"] += 1
            for m in metrics:
                v = _number(row.get(m))
                if v is not None:
                    g["values"][m].append(v)
    summary = []
    for g in groups.values():
        stats = {}
        for m, vs in g.pop("values").items():
            n = len(vs)
            mean = sum(vs) / n if n else None
            sd = math.sqrt(sum((v - mean) ** 2 for v in vs) / (n - 1)) if n > 1 else None
            median = sorted(vs)[n // 2] if n % 2 else (sum(sorted(vs)[n // 2 - 1 : n // 2 + 1]) / 2 if n else None)
            stats[m] = {"mean": mean, "sd": sd, "median": median, "n": n}
        summary.append({**g, "stats": stats})
    return summary


def summary_markdown(groups: list[dict[str, Any]], metrics: list[str], spec: SweepSpec) -> str:
    """The summary as a markdown table: per system and model setting, each metric as mean ± sd (n)."""
    seeds = sorted({c.config["seed"] for c in spec.cells})
    lines = [
        f"Sweep {spec.source}: {len(spec.cells)} cells, seeds {', '.join(map(str, seeds))}. "
        "Each metric: mean ± sd over the seeds whose cell succeeded and gave a finite value (n of them).",
        "",
        "| system | model | cells ok | " + " | ".join(metrics) + " |",
        "|---|---|---|" + "---|" * len(metrics),
    ]
    for g in groups:
        cells = [_stat(g["stats"][m]) for m in metrics]
        lines.append(f"| {g['system']} | {g['variant']} | {g['ok']}/{g['cells']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _stat(s: Mapping[str, Any]) -> str:
    if not s["n"]:
        return "-"
    sd = f" ± {s['sd']:.3g}" if s["sd"] is not None else ""
    return f"{s['mean']:.3g}{sd} ({s['n']})"


def _file_name(metric: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in metric)


def sweep_figure(rows: list[dict[str, Any]], metric: str) -> Any:
    """``metric`` by model setting, one panel per system: every seed as a dot, the mean with a ± sd bar."""
    from dyncore.plotting import MODEL_COLORS, _figure

    systems = list(dict.fromkeys(r["system"] for r in rows))
    fig = _figure(max(3.5, 3.2 * len(systems)), 3.2)
    axes = fig.subplots(1, len(systems), squeeze=False)[0]
    for ax, system in zip(axes, systems):
        variants = list(dict.fromkeys(r["variant"] for r in rows if r["system"] == system))
        shown = [v for r in rows if r["system"] == system and r["status"] == "ok" for v in [_number(r.get(metric))] if v is not None]
        if shown and min(shown) > 0 and max(shown) / min(shown) > 100:  # losses, distances over decades
            ax.set_yscale("log")
        for i, variant in enumerate(variants):
            values = [v for r in rows if r["system"] == system and r["variant"] == variant and r["status"] == "ok"
                      for v in [_number(r.get(metric))] if v is not None]
            color = MODEL_COLORS[i % len(MODEL_COLORS)]
            if not values:
                continue
            ax.scatter([i] * len(values), values, s=14, color=color, alpha=0.6, zorder=2)
            mean = sum(values) / len(values)
            sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
            ax.errorbar([i + 0.15], [mean], yerr=[sd], fmt="s", color=color, capsize=3, zorder=3)
        ax.set_xticks(range(len(variants)), variants, rotation=20, fontsize=8)
        ax.set_xlim(-0.5, len(variants) - 0.5)
        ax.set_title(system)
        ax.set_ylabel(metric)
    fig.suptitle(f"{metric}: seeds (dots), mean ± sd (squares)", fontsize=9)
    return fig


__all__ = ["Cell", "SweepSpec", "SweepResult", "load_spec", "read_toml", "run_cell", "sweep", "MAX_CELLS"]
