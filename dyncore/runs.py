"""Run directories: the :class:`Run` object (a trained model with its record) and the files it is saved in.

A run directory contains::

    config.json     model config, trainer and options, data hash and first states, versions, status
    weights.pt      the model's state_dict (torch.save; read back with weights_only=True)
    history.csv     loss, lr, wall time and function evaluations per epoch
    snapshots.npz   t (n,), epoch (k,), x (k, n, [batch,] dim): free rollouts during training
    checkpoint.pt   what ``resume`` continues from: a :class:`~dyncore.checkpoint.Checkpoint`

Every file is written atomically. :func:`dyncore.train` (:mod:`dyncore.training`) writes them
while it holds :class:`RunLock`; :meth:`Run.load` reads them back and refuses a damaged or foreign
directory with a one-line :class:`~dyncore.errors.CheckpointError`.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import platform
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import dyncore
from dyncore.checkpoint import Checkpoint, load_tensors, stored_bytes
from dyncore.errors import CheckpointError, ConfigError, DataError, DyncoreError, RunLockedError, SolverError
from dyncore.io import atomic_write, check_output
from dyncore.limits import check_size, format_bytes
from dyncore.model import Model
from dyncore.params import resolve_device
from dyncore.threads import with_threads
from dyncore.trainer import History, Trainer
from dyncore.trajectory import Trajectory

CONFIG, WEIGHTS, HISTORY, SNAPSHOTS, CHECKPOINT = "config.json", "weights.pt", "history.csv", "snapshots.npz", "checkpoint.pt"
RUN_FILES = (CONFIG, WEIGHTS, HISTORY, SNAPSHOTS, CHECKPOINT)
LOCK = ".lock"  # held by the process training into the directory
RUN_FORMAT = "dyncore-run"


def meta_model(cls: type[Model], spec: dict[str, Any]) -> Model | None:
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


def model_bytes(cls: type[Model], spec: dict[str, Any]) -> float | None:
    """Bytes of the parameters and buffers ``spec`` declares, measured on the meta device; ``None`` as :func:`meta_model`."""
    model = meta_model(cls, spec)
    if model is None:
        return None
    return float(sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()]))


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
            declared = model_bytes(model_cls, spec)
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


def run_config(model: Model, trainer: Trainer, trajectory: Trajectory, source: str | None, history: History, status: str) -> dict[str, Any]:
    """The contents of ``config.json`` for ``model`` trained by ``trainer`` on ``trajectory`` (what :func:`read_run_config` checks)."""
    k = model.context_length
    steps = np.diff(trajectory.t)
    first = trajectory.x[:k, 0] if trajectory.batched else trajectory.x[:k]
    return {
        "format": RUN_FORMAT,
        "version": 1,
        "model": model.config(),
        "trainer": {"name": trainer.name, "options": trainer.recorded_options()},
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


def holds_run(out: Path) -> bool:
    """Whether ``out`` has a dyncore run config or a dyncore checkpoint (a run killed before its first save)."""
    for check in (lambda: read_run_config(out), lambda: Checkpoint.read(out / CHECKPOINT)):
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


__all__ = ["CHECKPOINT", "CONFIG", "HISTORY", "LOCK", "RUN_FILES", "RUN_FORMAT", "SNAPSHOTS", "WEIGHTS", "Run", "RunLock", "read_run_config", "run_config"]
