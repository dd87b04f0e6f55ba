"""Runs: train a model into a directory that holds everything needed to use, judge or continue it.

A run directory contains::

    config.json     model config, trainer and options, data hash and first states, versions, status
    weights.pt      the model's state_dict (torch.save; read back with weights_only=True)
    history.csv     loss, lr, wall time and function evaluations per epoch
    snapshots.npz   t (n,), epoch (k,), x (k, n, [batch,] dim): free rollouts during training
    checkpoint.pt   weights, optimizer and RNG state, epoch: what ``resume`` continues from

Every file is written atomically. ``train`` refuses an existing run directory unless told to
``resume`` or ``force`` (which replaces only a dyncore run, never other files), and locks the
directory while it trains (``.lock``, naming the PID); a checkpoint that is corrupt or not dyncore's
is a one-line :class:`~dyncore.errors.CheckpointError`.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import platform
import signal
import socket
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import dyncore
from dyncore.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    DyncoreError,
    OutputExistsError,
    RunLockedError,
    SolverError,
    TrainingDiverged,
    TrainingInterrupted,
)
from dyncore.io import atomic_write, check_output
from dyncore.limits import check_size, format_bytes
from dyncore.model import Model
from dyncore.params import resolve_device
from dyncore.recipe import Recipe
from dyncore.threads import env_threads, model_work, parse_threads, threads_for, with_threads
from dyncore.trainer import Callback, History, Trainer
from dyncore.trajectory import Trajectory

CONFIG, WEIGHTS, HISTORY, SNAPSHOTS, CHECKPOINT = "config.json", "weights.pt", "history.csv", "snapshots.npz", "checkpoint.pt"
RUN_FILES = (CONFIG, WEIGHTS, HISTORY, SNAPSHOTS, CHECKPOINT)
LOCK = ".lock"  # held by the process training into the directory
RUN_FORMAT = "dyncore-run"
CHECKPOINT_FORMAT = "dyncore-checkpoint"
CHECKPOINT_VERSION = 1
_CHECKPOINT_KEYS = ("model", "trainer", "data_hash", "epoch", "model_state", "optimizer_state", "rng", "history", "snapshots")


# -- checkpoints ---------------------------------------------------------------------------------
def write_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Save a checkpoint payload (tensors, dicts, lists, numbers, strings) atomically."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_write(path) as f:
        f.write(buffer.getvalue())
    return Path(path)


def load_tensors(path: Path, fix: str) -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain containers only, so no code can run.

    Raises:
        CheckpointError: one line saying whether the file carries a pickled object (refused) or is corrupt.
    """
    stored_bytes(path, fix)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or unsafe files
        text = str(exc)
        if "GLOBAL" in text:  # the unpickler met a reference to a Python object: "... GLOBAL posix.system ..."
            name = text.split("GLOBAL", 1)[1].split()[0]
            raise CheckpointError(
                f"{path} carries a pickled Python object ({name}), which could run code on load; dyncore refuses it: {fix}"
            ) from None
        raise CheckpointError(f"{path} is corrupt or not a torch file ({type(exc).__name__}); {fix}") from None


def stored_bytes(path: Path, fix: str) -> float:
    """The bytes a torch file expands to (its zip entries' declared sizes), refused above the memory cap.

    torch writes its zip entries uncompressed; a deflate-compressed file can expand a few megabytes
    into gigabytes, so the declared sizes are checked before ``torch.load`` reads anything.
    Raises:
        CheckpointError: not a regular file, or larger uncompressed than the cap.
    """
    if path.exists() and not path.is_file():
        raise CheckpointError(f"{path} is not a regular file (a FIFO, socket or device); {fix}")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        return float(path.stat().st_size) if path.is_file() else 0.0  # legacy format or corrupt: torch.load says which
    total = float(sum(info.file_size for info in infos))
    check_size(f"{path}, uncompressed,", total, fix, CheckpointError)
    return total


def _meta_model(cls: type[Model], spec: dict[str, Any]) -> Model | None:
    """The model ``spec`` declares, built on torch's meta device (nothing allocated).

    ``None`` when the model cannot be built there (a third-party model that computes with its tensors).
    """
    try:
        with torch.device("meta"):
            return cls.from_config(spec)
    except DyncoreError:
        raise
    except Exception:
        return None


def _model_bytes(cls: type[Model], spec: dict[str, Any]) -> float | None:
    """Bytes of the parameters and buffers ``spec`` declares, measured on the meta device; ``None`` as :func:`_meta_model`."""
    model = _meta_model(cls, spec)
    if model is None:
        return None
    return float(sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()]))


def _training_work(model: Model, trainer: Trainer, trajectory: Trajectory) -> float | None:
    """Multiply-adds of the biggest op of one training step: the examples of a step times the biggest weight matrix."""
    rows = trajectory.batch * max(1, trajectory.n - model.context_length)
    batch_size = trainer.options.get("batch_size")
    if isinstance(batch_size, int) and batch_size >= 1:
        rows = min(rows, batch_size)
    built = model if model.dim is not None else _meta_model(type(model), {**model.config(), "dim": trajectory.dim})
    return model_work(built, rows) if built is not None else None


def state_mismatch(model: Model, state: Any) -> str:
    """How ``state`` differs from ``model.state_dict()`` (names and shapes), or ``""`` if it fits."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return "not a state_dict of tensors"
    expected = model.state_dict()
    missing, unexpected = sorted(expected.keys() - state.keys()), sorted(state.keys() - expected.keys())
    if missing or unexpected:
        parts = ([f"missing {', '.join(missing[:3])}"] if missing else []) + ([f"unexpected {', '.join(unexpected[:3])}"] if unexpected else [])
        return "; ".join(parts)
    for name, tensor in expected.items():
        if tuple(state[name].shape) != tuple(tensor.shape):
            return f"{name} has shape {tuple(state[name].shape)}, the model needs {tuple(tensor.shape)}"
    return ""


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (no code runs) and check that it is dyncore's.

    Raises:
        CheckpointError: missing, unreadable, corrupt, foreign or from an incompatible version.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; train without --resume (add --force to replace the run)")
    payload = load_tensors(path, "train again with --force")
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a dyncore checkpoint (foreign file); train again with --force")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} has checkpoint version {payload.get('version')!r}, this dyncore reads {CHECKPOINT_VERSION}; train again with --force")
    missing = [k for k in _CHECKPOINT_KEYS if k not in payload]
    if missing:
        raise CheckpointError(f"{path} is an incomplete checkpoint (no {', '.join(missing)}); train again with --force")
    epoch = payload["epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise CheckpointError(f"{path}: its epoch must be an integer >= 0, got {epoch!r}; the checkpoint is damaged: train again with --force")
    trainer = payload["trainer"]
    if not isinstance(payload["model"], dict) or not isinstance(trainer, dict) or not isinstance(trainer.get("name"), str) \
            or not isinstance(trainer.get("options"), dict):
        raise CheckpointError(f"{path}: its model or trainer record is malformed; the checkpoint is damaged: train again with --force")
    return payload


#: Checkpoint period of a run saved to a directory, unless the trainer options set one.
DEFAULT_CHECKPOINT_EVERY = 100


# -- the run -------------------------------------------------------------------------------------
@dataclass
class Run:
    """A trained model with its history, snapshots and the facts needed to reproduce it.

    Attributes:
        model: the trained model (on the device it was loaded to).
        history: per-epoch record; ``history.snapshots`` maps epochs to free rollouts.
        config: the contents of ``config.json``.
        path: the run directory, or None for a run kept in memory.
        snapshot_t: the times of the snapshots' states (the training data's grid).
    """

    model: Model
    history: History
    config: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    snapshot_t: np.ndarray | None = None

    @property
    def status(self) -> str:
        """``complete``, ``stopped`` (early stopping), ``interrupted`` or ``diverged``."""
        return self.config.get("status", "")

    # -- files -----------------------------------------------------------------------------
    def save(self, path: str | Path | None = None) -> Path:
        """Write config, weights, history and snapshots into ``path`` (default: :attr:`path`), atomically."""
        path = Path(path or self.path or "")
        if not str(path):
            raise ConfigError("this run has no directory; pass one to save()")
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        with atomic_write(path / CONFIG, "w") as f:
            f.write(json.dumps(self.config, indent=2, default=_json_default) + "\n")
        buffer = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in self.model.state_dict().items()}, buffer)
        with atomic_write(path / WEIGHTS) as f:
            f.write(buffer.getvalue())
        self.history.to_csv(path / HISTORY)
        epochs = sorted(self.history.snapshots)
        snap = io.BytesIO()
        np.savez(
            snap,
            t=np.asarray(self.snapshot_t if self.snapshot_t is not None else [], dtype=np.float64),
            epoch=np.array(epochs, dtype=np.int64),
            x=np.stack([self.history.snapshots[e] for e in epochs]) if epochs else np.zeros((0,), dtype=np.float32),
        )
        with atomic_write(path / SNAPSHOTS) as f:
            f.write(snap.getvalue())
        return path

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> Run:
        """Restore a run directory written by :func:`train`: model with weights, history, snapshots.

        Raises:
            CheckpointError: not a run directory, or a file in it is corrupt or does not match.
        """
        path = Path(path)
        target = resolve_device(device)
        config = read_run_config(path)
        spec = config["model"]
        if not (path / WEIGHTS).exists():
            raise CheckpointError(f"{path} has no {WEIGHTS}; the run never finished an epoch: train again with --force")
        stored = stored_bytes(path / WEIGHTS, "train again with --force")
        try:
            model_cls = dyncore.models.get(spec["model"])
            declared = _model_bytes(model_cls, spec)
            if declared is not None:
                check_size(f"the model that {path / CONFIG} declares", declared, "train again with --force", CheckpointError)
                if stored > 2 * declared + 2**20 or declared > 2 * stored + 2**20:  # float32 and float64 both fit
                    raise CheckpointError(
                        f"{path / WEIGHTS} holds {format_bytes(stored)} of data but the model in {CONFIG} declares "
                        f"{format_bytes(declared)}: the files do not belong together; train again with --force"
                    )
            model = model_cls.from_config(spec)
        except (KeyError, TypeError, ValueError) as exc:  # ValueError includes ConfigError (bad hyperparameters)
            raise CheckpointError(f"{path / CONFIG} has an unusable model config ({exc}); train again with --force") from None
        state = load_tensors(path / WEIGHTS, "train again with --force")
        mismatch = state_mismatch(model, state)
        if mismatch:
            raise CheckpointError(
                f"{path / WEIGHTS} does not match the model in {CONFIG} ({mismatch}): it comes from another model or "
                "dimension; train again with --force"
            )
        model.load_state_dict(state)
        model.to(target)
        history = History()
        if (path / HISTORY).is_file():
            try:
                history = History.from_csv(path / HISTORY)
            except DataError as exc:
                raise CheckpointError(f"{exc}; the run directory is damaged") from None
        history.stopped = config.get("stopped", "")
        history.snapshots, snapshot_t = _read_snapshots(path / SNAPSHOTS)
        return cls(model=model, history=history, config=config, path=path, snapshot_t=snapshot_t)

    # -- prediction ------------------------------------------------------------------------
    @with_threads
    def predict(
        self,
        x0: Any = None,
        *,
        data: Trajectory | str | Path | None = None,
        t_end: float | None = None,
        dt: float | None = None,
    ) -> Trajectory:
        """Free rollout of the trained model.

        Args:
            x0: the starting context: ``context_length * dim`` numbers (one state for a NODE,
                ``window`` states for an RNN, row after row), or an array ``(context_length, dim)``.
            data: a trajectory (or file) whose first states are the context; without ``t_end`` and
                ``dt`` the prediction is on its time grid.
            t_end, dt: the output grid from the context's first time; default the training data's.
            Neither ``x0`` nor ``data``: start from the training data's first states.
        Returns:
            A trajectory on the output grid; its first ``context_length`` states are the context.
        """
        model = self.model
        info = self.config.get("data", {})
        k = model.context_length
        if x0 is not None and data is not None:
            raise ConfigError("give either --x0 or --data, not both")
        grid = None
        if data is not None:
            traj = data if isinstance(data, Trajectory) else Trajectory.load(data)
            if traj.dim != model.dim:
                raise DataError(f"the data have dimension {traj.dim} but the model was trained on dimension {model.dim}")
            if traj.n < k:
                raise DataError(f"the data have {traj.n} points; the {model.name} model needs {k} to start from")
            context, t_context = traj.x[:k], traj.t[:k]
            if t_end is None and dt is None:
                grid = traj.t
            dt = dt if dt is not None else (float(np.median(np.diff(traj.t))) if traj.n > 1 else None)
            t_end = t_end if t_end is not None else float(traj.t[-1])
            source = str(data) if not isinstance(data, Trajectory) else "trajectory"
        else:
            if x0 is not None:
                values = np.asarray(x0, dtype=np.float64)
                if values.size != k * model.dim:
                    raise ConfigError(
                        f"--x0 needs {k * model.dim} numbers for the {model.name} model "
                        f"({k} state{'s' if k > 1 else ''} of dimension {model.dim}), got {values.size}"
                    )
                if not np.all(np.isfinite(values)):
                    raise ConfigError("--x0 contains NaN or Inf; give finite numbers")
                context = values.reshape(k, model.dim)
                source = "x0"
            else:
                context = _saved_context(self, k)
                source = "training data"
            dt = dt if dt is not None else info.get("dt")
            t_end = t_end if t_end is not None else info.get("t_end")
            t_context = float(info.get("t0", 0.0)) + float(dt or 0.0) * np.arange(k)
        if grid is None:
            grid = _grid(float(t_context[0]), t_end, dt, k, model.dim)
            if k > 1 and not np.allclose(grid[:k], t_context, rtol=1e-6, atol=1e-12 * max(1.0, abs(grid[-1]))):
                raise DataError(f"the context's times are not spaced by dt = {dt:g}; give --dt equal to the data's step")
        with torch.no_grad():
            try:
                x = model.rollout(torch.as_tensor(context, dtype=torch.float64), torch.as_tensor(grid, dtype=torch.float64))
            except SolverError as exc:  # the model's own integrator gave up: the model diverged, the input is fine
                raise SolverError(f"the {model.name} model's rollout diverged (start: {source}): {exc}") from None
        _check_rollout_finite(model, x.cpu().numpy(), grid, source)
        meta = {
            "model": model.name,
            "run": str(self.path) if self.path else None,
            "start": source,
            "dyncore_version": dyncore.__version__,
        }
        return Trajectory(grid, x.cpu().numpy(), meta)


def _check_rollout_finite(model: Model, x: np.ndarray, grid: np.ndarray, source: str) -> None:
    """Raise :class:`SolverError` naming the time where the model's own rollout left the finite numbers.

    The context was finite (data files and ``x0`` are checked), so NaN/Inf here is the model diverging, not bad data.
    """
    finite = np.isfinite(x.reshape(len(grid), -1)).all(axis=1)
    if finite.all():
        return
    i = int(np.argmin(finite))
    last = f" (finite up to t = {grid[i - 1]:g})" if i > 0 else ""
    raise SolverError(
        f"the {model.name} model's rollout diverged (start: {source}): its states became NaN/Inf at t = {grid[i]:g}{last}; "
        "the trained model is unstable there, not the input: predict a shorter span (--t-end), start elsewhere, or "
        "train it longer or with a smaller lr"
    )


def _grid(t0: float, t_end: Any, dt: Any, k: int, dim: int) -> np.ndarray:
    """The prediction grid from ``t0`` to ``t_end`` by ``dt`` (at least ``k`` points), refused if it would not fit."""
    if dt is None or t_end is None:
        raise ConfigError("the output grid is unknown: give --t-end and --dt")
    dt, t_end = float(dt), float(t_end)
    if not (math.isfinite(dt) and dt > 0):
        raise ConfigError(f"--dt must be a positive number, got {dt:g}")
    if not (math.isfinite(t_end) and t_end > t0):
        raise ConfigError(f"--t-end must be after the start time {t0:g}, got {t_end:g}")
    check_size(f"a prediction of {(t_end - t0) / dt + 1:.4g} times", 8.0 * ((t_end - t0) / dt + 1) * (dim + 1),
               "use a larger --dt or a shorter --t-end (or fewer --steps)")
    n = int(math.floor((t_end - t0) / dt * (1 + 1e-12))) + 1
    return t0 + dt * np.arange(max(n, k))


def _saved_context(run: Run, k: int) -> np.ndarray:
    """The training data's first ``k`` states from ``config.json``, checked: ``(k, dim)`` finite numbers."""
    where = f"{run.path / CONFIG}" if run.path else "the run's config"
    info = run.config.get("data")
    if not isinstance(info, dict) or "context" not in info:
        raise CheckpointError(f"{where} records no training data to start from; give --x0 or --data")
    try:
        context = np.asarray(info["context"], dtype=np.float64)
    except (TypeError, ValueError):
        raise CheckpointError(f"{where}: data.context must be {k} state(s) of {run.model.dim} numbers; give --x0 or --data") from None
    if context.shape != (k, run.model.dim) or not np.all(np.isfinite(context)):
        raise CheckpointError(
            f"{where}: data.context has shape {context.shape}, the model needs ({k}, {run.model.dim}) finite numbers; "
            "give --x0 or --data"
        )
    return context


def read_run_config(path: Path) -> dict[str, Any]:
    """``config.json`` of a run directory, checked; :class:`CheckpointError` if absent or foreign."""
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a run directory; create one with `dyncore train ... -o {path}`")
    if (path / CONFIG).exists() and not (path / CONFIG).is_file():
        raise CheckpointError(f"{path / CONFIG} is not a regular file (a FIFO, socket or device); the run directory is damaged")
    try:
        config = json.loads((path / CONFIG).read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path} has no {CONFIG}; it is not a dyncore run directory") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path / CONFIG} is unreadable ({exc}); the run directory is damaged") from None
    except RecursionError:
        raise CheckpointError(f"{path / CONFIG} is nested too deeply to read; the run directory is damaged") from None
    if not isinstance(config, dict) or config.get("format") != RUN_FORMAT or "model" not in config:
        raise CheckpointError(f"{path / CONFIG} is not a dyncore run config (foreign file)")
    _check_data_info(config, path / CONFIG)
    return config


def _check_data_info(config: dict[str, Any], where: Path) -> None:
    """The ``data`` section, when present, is an object whose times are finite numbers (or null)."""
    info = config.get("data", {})
    if not isinstance(info, dict):
        raise CheckpointError(f"{where}: 'data' must be an object, got {type(info).__name__}; the run directory is damaged")
    for key in ("t0", "t_end", "dt"):
        value = info.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
            raise CheckpointError(f"{where}: data.{key} must be a finite number, got {value!r}; the run directory is damaged")
    if info.get("dt") is not None and not info["dt"] > 0:
        raise CheckpointError(f"{where}: data.dt must be positive, got {info['dt']!r}; the run directory is damaged")


def _read_snapshots(path: Path) -> tuple[dict[int, np.ndarray], np.ndarray | None]:
    if not path.is_file():
        return {}, None
    try:
        with np.load(path, allow_pickle=False) as f:
            return {int(e): x for e, x in zip(f["epoch"], f["x"])}, f["t"]
    except Exception as exc:
        raise CheckpointError(f"{path} is unreadable ({type(exc).__name__}); the run directory is damaged") from None


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


# -- training ------------------------------------------------------------------------------------
def train(
    model: str | Model,
    data: Trajectory | str | Path,
    trainer: str | Trainer | None = None,
    *,
    hparams: dict[str, Any] | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    callbacks: list[Callback] | tuple = (),
    threads: int | str | None = None,
    recipe: str | Recipe | None = None,
    **options: Any,
) -> Run:
    """Train ``model`` on ``data`` and return the :class:`Run` (saved in ``out`` when given).

    Args:
        model: a model name (built with ``hparams``) or a :class:`~dyncore.Model` instance.
        data: a :class:`~dyncore.Trajectory` or a data file (.npz, .csv).
        trainer: a trainer name (built with ``options``) or instance; default the model's
            ``default_trainer`` (``full_batch``; when resuming: the run's own trainer).
        out: the run directory; it must not exist (or be empty) unless ``resume`` or ``force``.
        resume: continue the run in ``out`` from its checkpoint; ``options`` given here override
            the saved ones (e.g. more ``epochs``).
        force: replace the run ``out`` holds (its files go when training starts); a folder with
            other files and no run is refused.
        callbacks: extra :class:`~dyncore.Callback` objects.
        threads: torch's intra-op threads for this run: a count, ``"auto"``, or ``None`` for the
            default (one unless the model and batch are large; see :mod:`dyncore.threads`). The
            choice is recorded in ``config.json`` under ``threads``.
        recipe: a recipe name (``dyncore list recipes``) or :class:`~dyncore.Recipe`: its trainer,
            options and hyperparameters, each overridden by the ones given here; recorded in
            ``config.json`` under ``recipe``.
        **options: trainer options: epochs, lr, lookahead, seed, device, snapshot_every,
            checkpoint_every, ...
    Returns:
        The run; ``run.status`` says whether it completed or stopped early.
    Raises:
        ConfigError, DataError: bad names, hyperparameters, options or data (nothing written).
        OutputExistsError: ``out`` holds a run and neither ``resume`` nor ``force`` was given.
        CheckpointError: ``resume`` with a missing, corrupt or foreign checkpoint.
        TrainingDiverged: a non-finite loss (the run is saved with the last good weights first).
        RunLockedError: another process is training into ``out``.
        TrainingInterrupted: Ctrl-C or SIGTERM, a ``KeyboardInterrupt`` (the run and a checkpoint are
            saved first; resume continues it).
    """
    if resume and force:
        raise ConfigError("resume and force exclude each other: continue the run or replace it")
    if threads is not None:
        parse_threads(threads, "threads")
    env_threads()  # a bad DYNCORE_THREADS is refused before anything is written
    recipe_name = None
    if recipe is not None:
        trainer, hparams, options, recipe_name = _apply_recipe(recipe, model, trainer, hparams, options, resume)
    if out is None:
        if resume:
            raise ConfigError("resume needs the run directory (out=...)")
        return _train(model, data, trainer, hparams, None, resume, force, callbacks, threads, options, recipe_name)
    if resume and not Path(out).is_dir():
        read_run_config(Path(out))  # "not a run directory", before the lock would create it
    with RunLock(out):
        return _train(model, data, trainer, hparams, Path(out), resume, force, callbacks, threads, options, recipe_name)


def _apply_recipe(recipe: str | Recipe, model: str | Model, trainer: str | Trainer | None, hparams: dict[str, Any] | None,
                  options: dict[str, Any], resume: bool) -> tuple[str | Trainer | None, dict[str, Any], dict[str, Any], str]:
    """The trainer, hyperparameters and options of ``recipe``, overridden by the given ones, and its name."""
    if resume:
        raise ConfigError("a resumed run keeps the recipe it was trained with; drop the recipe")
    chosen = dyncore.recipes.resolve(recipe)
    model_name = model if isinstance(model, str) else model.name
    new_trainer, new_hparams, new_options = chosen.settings(model_name, trainer if isinstance(trainer, str) or trainer is None else trainer.name, hparams, options)
    if not isinstance(model, str) and new_hparams != (hparams or {}):
        raise ConfigError(f"recipe {chosen.name!r} sets hyperparameters of {model_name!r}; pass the model by name, not as an instance")
    if isinstance(trainer, Trainer):
        if new_options != options:
            raise ConfigError(f"recipe {chosen.name!r} sets trainer options; pass the trainer by name, not as an instance")
        new_trainer = trainer
    return new_trainer, new_hparams, new_options, chosen.name


def _train(model: str | Model, data: Trajectory | str | Path, trainer: str | Trainer | None, hparams: dict[str, Any] | None,
           out: Path | None, resume: bool, force: bool, callbacks: list[Callback] | tuple, threads: int | str | None,
           options: dict[str, Any], recipe_name: str | None = None) -> Run:
    trajectory = data if isinstance(data, Trajectory) else Trajectory.load(data)
    source = None if isinstance(data, Trajectory) else str(data)
    payload = None
    if resume and out is not None:
        if (out / CONFIG).exists() or not (out / CHECKPOINT).exists():
            recipe_name = read_run_config(out).get("recipe")  # a run killed before its first save has only its checkpoint
        payload = read_checkpoint(out / CHECKPOINT)
        saved = payload["model"]
        changed = sorted(k for k, v in (hparams or {}).items() if saved.get("hparams", {}).get(k) != v)
        if changed:
            raise ConfigError(
                f"hyperparameters are fixed by the run being resumed ({', '.join(changed)} differ); "
                "drop them or train anew with --force"
            )
        if isinstance(model, str) and model != saved.get("model"):
            raise ConfigError(f"the run in {out} trained model {saved.get('model')!r}, not {model!r}; resume with the same model")
        model = dyncore.models.get(saved["model"]).from_config(saved)
        if trainer is not None and getattr(trainer, "name", trainer) != payload["trainer"]["name"]:
            raise ConfigError(f"the run in {out} used trainer {payload['trainer']['name']!r}; resume with the same trainer")
        trainer, options = payload["trainer"]["name"], {**payload["trainer"]["options"], **options}
    else:
        if out is not None:
            _check_replaceable(out, force)
        model = dyncore.models.resolve(model, **(hparams or {})) if isinstance(model, str) else _instance(model, hparams)
        if model.dim is None:  # not built yet: measure what prepare() will allocate, on the meta device
            declared = _model_bytes(type(model), {**model.config(), "dim": trajectory.dim})
            if declared is not None:  # weights, gradients and two optimizer moments
                check_size(f"training model {model.name!r} with these hyperparameters", 4 * declared,
                           "use a smaller network (hidden, depth, layers)")
        trainer = model.default_trainer if trainer is None else trainer
    if not isinstance(trainer, str) and options:
        raise ConfigError("options can only be given with a trainer name, not with a trainer instance")
    if isinstance(trainer, str):
        cls = dyncore.trainers.get(trainer)
        if out is not None and "checkpoint_path" in cls.default_options:
            options["checkpoint_path"] = str(out / CHECKPOINT)
            if "checkpoint_every" not in options:  # so that a kill -9 loses at most this many epochs
                options["checkpoint_every"] = DEFAULT_CHECKPOINT_EVERY
        trainer = cls(**options)
    if payload is not None and "checkpoint_path" not in trainer.default_options:
        raise ConfigError(f"trainer {trainer.name!r} cannot resume from a checkpoint; train anew with --force")
    recorder = _Recorder(out, clean=force and not resume)
    status, error = "complete", None
    try:
        with threads_for(_training_work(model, trainer, trajectory), threads) as choice:
            if payload is not None:
                trainer.fit(model, trajectory, [*callbacks, recorder], resume=payload)
            else:
                trainer.fit(model, trajectory, [*callbacks, recorder])
    except TrainingDiverged as exc:
        status, error = "diverged", exc
    except KeyboardInterrupt as exc:
        status, error = "interrupted", exc
    if recorder.state is None:  # failed before training started: nothing was written
        if error is not None:
            raise error
        raise ConfigError(f"trainer {trainer.name!r} never started training")
    history = recorder.state.get("history") or History()
    if status == "complete" and history.stopped:
        status = "stopped"
    config = _run_config(model, trainer, trajectory, source, history, status)
    config["threads"] = choice.as_dict()
    if recipe_name is not None:
        config["recipe"] = recipe_name
    run = Run(model=model, history=history, config=config, path=out, snapshot_t=trajectory.t)
    with _signals_held() as held:  # a Ctrl-C now would leave the run's files from two different epochs
        if out is not None:
            run.save(out)
    if error is not None:
        if isinstance(error, KeyboardInterrupt) and not isinstance(error, TrainingInterrupted):
            raise TrainingInterrupted(f"interrupted after epoch {len(history)}") from None  # a trainer's own Ctrl-C
        raise error
    if held:
        raise TrainingInterrupted(f"interrupted after the last epoch ({len(history)}); the run is complete", held[0])
    return run


@contextlib.contextmanager
def _signals_held() -> Iterator[list[int]]:
    """SIGINT and SIGTERM wait until the block is done; yields the list of those that came meanwhile."""
    held: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    previous = {signum: signal.signal(signum, lambda signum, frame: held.append(signum)) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield held
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _check_replaceable(out: Path, force: bool) -> None:
    """A new run may go into ``out`` if it is absent or empty, or, with ``force``, if it holds a dyncore run."""
    names = sorted(p.name for p in out.iterdir() if p.name != LOCK) if out.is_dir() else []
    if not names:
        return
    if not force:
        raise OutputExistsError(f"{out} exists; pass --resume to continue that run or --force to replace it")
    if not _holds_run(out):
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        raise OutputExistsError(
            f"{out} holds files that are not a dyncore run ({shown}); --force replaces only a run, never other files: "
            "choose another -o or empty the folder yourself"
        )


def _holds_run(out: Path) -> bool:
    """Whether ``out`` has a dyncore run config or a dyncore checkpoint (a run killed before its first save)."""
    for check in (lambda: read_run_config(out), lambda: read_checkpoint(out / CHECKPOINT)):
        try:
            check()
            return True
        except CheckpointError:
            pass
    return False


class RunLock:
    """An exclusive lock on a run directory, held while a process trains into it.

    The lock is an ``flock`` on ``DIR/.lock``, which also holds the holder's PID and host for the
    message a second process gets. The kernel drops an ``flock`` when its process dies, so the file
    left by a killed run (a stale lock) is simply taken over. On exit the lock file goes, and so do
    the folders the lock created if nothing was written into them (a refused run leaves no trace).

    Raises:
        RunLockedError: another live process holds the lock (on ``__enter__``).
        DyncoreError: the directory cannot be created (a parent is a file, no permission).
    """

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        self.path = self.out / LOCK
        self._fd: int | None = None
        self._created: list[Path] = []

    def __enter__(self) -> RunLock:
        import fcntl

        check_output(self.out, directory=True)
        self._created = [p for p in (self.out, *self.out.parents) if not p.exists()]
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            while True:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = os.read(fd, 200).decode(errors="replace").split()
                    os.close(fd)
                    pid = f"process {holder[0]} on {holder[1]}" if len(holder) >= 2 else "another process"
                    raise RunLockedError(
                        f"{self.out} is in use: dyncore {pid} is training into it; wait for it to finish or choose another -o"
                    ) from None
                try:
                    same = os.path.samestat(os.fstat(fd), os.stat(self.path))
                except FileNotFoundError:
                    same = False
                if same:  # else the holder removed the file between our open and flock: try again
                    break
                os.close(fd)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        except OSError as exc:
            self._remove_created()
            raise DyncoreError(f"cannot lock {self.out}: {exc.strerror or exc}; choose a writable location") from exc
        except BaseException:
            self._remove_created()
            raise
        self._fd = fd
        return self

    def __exit__(self, *exc: Any) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._remove_created()

    def _remove_created(self) -> None:
        for folder in self._created:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty


class _Recorder(Callback):
    """Keeps a handle on the trainer's state (for the history after an exception) and cleans ``out``."""

    def __init__(self, out: Path | None, clean: bool) -> None:
        self.out, self.clean = out, clean
        self.state: dict[str, Any] | None = None

    def on_train_begin(self, trainer: Trainer, model: Model, state: dict[str, Any]) -> None:
        self.state = state
        if self.clean and self.out is not None and self.out.is_dir():
            for name in RUN_FILES:
                (self.out / name).unlink(missing_ok=True)


def _instance(model: Model, hparams: dict[str, Any] | None) -> Model:
    if hparams:
        raise ConfigError("hyperparameters can only be given with a model name, not with a model instance")
    if not isinstance(model, Model):
        raise ConfigError(f"model must be a name or a dyncore Model, got {type(model).__name__}")
    return model


def _run_config(model: Model, trainer: Trainer, trajectory: Trajectory, source: str | None, history: History, status: str) -> dict[str, Any]:
    k = model.context_length
    steps = np.diff(trajectory.t)
    first = trajectory.x[:k, 0] if trajectory.batched else trajectory.x[:k]
    return {
        "format": RUN_FORMAT,
        "version": 1,
        "model": model.config(),
        "trainer": {"name": trainer.name, "options": {k2: v for k2, v in trainer.options.items() if k2 not in ("checkpoint_path", "progress")}},
        "data": {
            "hash": trajectory.content_hash(),
            "source": source,
            "n": trajectory.n,
            "dim": trajectory.dim,
            "batch": trajectory.batch,
            "t0": float(trajectory.t[0]),
            "t_end": float(trajectory.t[-1]),
            "dt": float(np.median(steps)) if len(steps) else None,
            "context": first.tolist(),
            "meta": {key: trajectory.meta[key] for key in ("system", "params", "solver") if key in trajectory.meta},
        },
        "status": status,
        "epochs_completed": len(history),
        "stopped": history.stopped,
        "final_loss": history.loss[-1] if history else None,
        "versions": {
            "dyncore": dyncore.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }


__all__ = ["Run", "RunLock", "train", "read_checkpoint", "write_checkpoint"]
