"""Runs: train a model into a directory that holds everything needed to use, judge or continue it.

A run directory contains::

    config.json     model config, trainer and options, data hash and first states, versions, status
    weights.pt      the model's state_dict (torch.save; read back with weights_only=True)
    history.csv     loss, lr, wall time and function evaluations per epoch
    snapshots.npz   t (n,), epoch (k,), x (k, n, [batch,] dim): free rollouts during training
    checkpoint.pt   weights, optimizer and RNG state, epoch: what ``resume`` continues from

Every file is written atomically. ``train`` refuses an existing run directory unless told to
``resume`` or ``force``; a checkpoint that is corrupt or not dyncore's is a one-line
:class:`~dyncore.errors.CheckpointError`.
"""

from __future__ import annotations

import io
import json
import math
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import dyncore
from dyncore.errors import CheckpointError, ConfigError, DataError, OutputExistsError, SolverError, TrainingDiverged
from dyncore.io import atomic_write
from dyncore.model import Model
from dyncore.trainer import Callback, History, Trainer
from dyncore.trajectory import Trajectory

CONFIG, WEIGHTS, HISTORY, SNAPSHOTS, CHECKPOINT = "config.json", "weights.pt", "history.csv", "snapshots.npz", "checkpoint.pt"
RUN_FILES = (CONFIG, WEIGHTS, HISTORY, SNAPSHOTS, CHECKPOINT)
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
        config = read_run_config(path)
        spec = config["model"]
        try:
            model = dyncore.models.get(spec["model"]).from_config(spec)
        except (KeyError, TypeError, ValueError) as exc:  # ValueError includes ConfigError (bad hyperparameters)
            raise CheckpointError(f"{path / CONFIG} has an unusable model config ({exc}); train again with --force") from None
        if not (path / WEIGHTS).is_file():
            raise CheckpointError(f"{path} has no {WEIGHTS}; the run never finished an epoch: train again with --force")
        state = load_tensors(path / WEIGHTS, "train again with --force")
        mismatch = state_mismatch(model, state)
        if mismatch:
            raise CheckpointError(
                f"{path / WEIGHTS} does not match the model in {CONFIG} ({mismatch}): it comes from another model or "
                "dimension; train again with --force"
            )
        model.load_state_dict(state)
        model.to(_device(device))
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
                context = values.reshape(k, model.dim)
                source = "x0"
            else:
                context = np.asarray(info["context"], dtype=np.float64)
                source = "training data"
            dt = dt if dt is not None else info.get("dt")
            t_end = t_end if t_end is not None else info.get("t_end")
            t_context = float(info.get("t0", 0.0)) + float(dt or 0.0) * np.arange(k)
        if grid is None:
            grid = _grid(float(t_context[0]), t_end, dt, k)
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


def _grid(t0: float, t_end: Any, dt: Any, k: int) -> np.ndarray:
    if dt is None or t_end is None:
        raise ConfigError("the output grid is unknown: give --t-end and --dt")
    dt, t_end = float(dt), float(t_end)
    if not (math.isfinite(dt) and dt > 0):
        raise ConfigError(f"--dt must be a positive number, got {dt:g}")
    if not (math.isfinite(t_end) and t_end > t0):
        raise ConfigError(f"--t-end must be after the start time {t0:g}, got {t_end:g}")
    n = int(math.floor((t_end - t0) / dt * (1 + 1e-12))) + 1
    return t0 + dt * np.arange(max(n, k))


def read_run_config(path: Path) -> dict[str, Any]:
    """``config.json`` of a run directory, checked; :class:`CheckpointError` if absent or foreign."""
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a run directory; create one with `dyncore train ... -o {path}`")
    try:
        config = json.loads((path / CONFIG).read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path} has no {CONFIG}; it is not a dyncore run directory") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path / CONFIG} is unreadable ({exc}); the run directory is damaged") from None
    if not isinstance(config, dict) or config.get("format") != RUN_FORMAT or "model" not in config:
        raise CheckpointError(f"{path / CONFIG} is not a dyncore run config (foreign file)")
    return config


def _read_snapshots(path: Path) -> tuple[dict[int, np.ndarray], np.ndarray | None]:
    if not path.is_file():
        return {}, None
    try:
        with np.load(path, allow_pickle=False) as f:
            return {int(e): x for e, x in zip(f["epoch"], f["x"])}, f["t"]
    except Exception as exc:
        raise CheckpointError(f"{path} is unreadable ({type(exc).__name__}); the run directory is damaged") from None


def _device(name: str) -> torch.device:
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda was asked for but no CUDA GPU is available here; use --device cpu")
    return device


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
        force: replace whatever run ``out`` holds (old files go when training starts).
        callbacks: extra :class:`~dyncore.Callback` objects.
        **options: trainer options: epochs, lr, lookahead, seed, device, snapshot_every,
            checkpoint_every, ...
    Returns:
        The run; ``run.status`` says whether it completed or stopped early.
    Raises:
        ConfigError, DataError: bad names, hyperparameters, options or data (nothing written).
        OutputExistsError: ``out`` holds a run and neither ``resume`` nor ``force`` was given.
        CheckpointError: ``resume`` with a missing, corrupt or foreign checkpoint.
        TrainingDiverged: a non-finite loss (the run is saved with the last good weights first).
        KeyboardInterrupt: Ctrl-C (the run and a checkpoint are saved first; resume continues it).
    """
    trajectory = data if isinstance(data, Trajectory) else Trajectory.load(data)
    source = None if isinstance(data, Trajectory) else str(data)
    out = Path(out) if out is not None else None
    payload = None
    if resume:
        if out is None:
            raise ConfigError("resume needs the run directory (out=...)")
        if (out / CONFIG).exists() or not (out / CHECKPOINT).exists():
            read_run_config(out)  # a run killed before its first save has only its checkpoint
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
        if out is not None and out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
            raise OutputExistsError(f"{out} exists; pass --resume to continue that run or --force to replace it")
        model = dyncore.models.resolve(model, **(hparams or {})) if isinstance(model, str) else _instance(model, hparams)
        trainer = getattr(model, "default_trainer", "full_batch") if trainer is None else trainer
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
    run = Run(model=model, history=history, config=config, path=out, snapshot_t=trajectory.t)
    if out is not None:
        run.save(out)
    if error is not None:
        raise error
    return run


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


__all__ = ["Run", "train", "read_checkpoint", "write_checkpoint"]
