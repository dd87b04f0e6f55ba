"""The checkpoint format: one :class:`Checkpoint` that a trainer writes and ``resume`` reads back.

A checkpoint is a torch file holding plain containers and tensors only, so that it loads with
``weights_only=True`` and no code can run::

    format, version     "dyncore-checkpoint", CHECKPOINT_VERSION
    model               the model's config() (rebuilds it)
    trainer             {"name", "options"} (the recorded options: no checkpoint_path, no progress)
    data_hash, epoch, status
    model_state, optimizer_state, rng {"torch", "generator"}, guard
    callbacks           {state_key: Callback.state_dict()}
    history             {epoch, loss, lr, wall_time, nfe: lists; stopped: str}
    snapshots           {"epoch": (k,) int64, "x": (k, n, [batch,] dim)}

Keys other than these are a trainer's own (:attr:`Checkpoint.extra`) and round-trip unchanged.
This module owns the layout: trainers build a :class:`Checkpoint` and call :meth:`Checkpoint.write`;
runs call :meth:`Checkpoint.read`, which refuses a corrupt, foreign, unsafe or incompatible file with
a one-line :class:`~dyncore.errors.CheckpointError`.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from dyncore.errors import CheckpointError
from dyncore.io import atomic_write
from dyncore.limits import check_size
from dyncore.trainer import HISTORY_COLUMNS, History

CHECKPOINT_FORMAT = "dyncore-checkpoint"
#: Increase when the layout changes incompatibly (a checkpoint of another version is refused).
CHECKPOINT_VERSION = 1
#: What every checkpoint of this version holds.
REQUIRED_KEYS = ("model", "trainer", "data_hash", "epoch", "model_state", "optimizer_state", "rng", "history", "snapshots")
_KNOWN_KEYS = ("format", "version", *REQUIRED_KEYS, "status", "callbacks", "guard")
FIX = "train again with --force"


@dataclass
class Checkpoint:
    """Everything needed to continue training exactly: weights, optimizer, RNG, epoch, history.

    Attributes:
        model: the model's ``config()``.
        trainer: the trainer's registered name; ``options``: its recorded options.
        data_hash: :meth:`~dyncore.Trajectory.content_hash` of the training data (resume refuses other data).
        epoch: epochs completed; ``status``: the loop's status when written.
        model_state, optimizer_state: ``state_dict()`` of the model (on CPU) and the optimizer.
        rng: ``{"torch": torch's global RNG state, "generator": the loop's shuffling generator}``.
        history: the training record so far, with its snapshots.
        callbacks: each callback's ``state_dict()`` by :attr:`~dyncore.Callback.state_key`.
        guard: the NaN guard's state (its last good weights), or None.
        extra: a trainer's own entries, kept as they are (plain containers and tensors).
    """

    model: dict[str, Any]
    trainer: str
    options: dict[str, Any]
    data_hash: str
    epoch: int
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any]
    rng: dict[str, Any]
    history: History = field(default_factory=History)
    status: str = "running"
    callbacks: dict[str, dict[str, Any]] = field(default_factory=dict)
    guard: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    # -- the file ------------------------------------------------------------------------------
    def write(self, path: str | Path) -> Path:
        """Save atomically (a kill mid-write leaves the previous checkpoint whole)."""
        buffer = io.BytesIO()
        torch.save(self.to_payload(), buffer)
        with atomic_write(path) as f:
            f.write(buffer.getvalue())
        return Path(path)

    @classmethod
    def read(cls, path: str | Path) -> Checkpoint:
        """Load ``path`` with ``weights_only=True`` (no code runs) and check that it is a dyncore checkpoint.

        Raises:
            CheckpointError: missing, unreadable, corrupt, foreign or from an incompatible version.
        """
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"no checkpoint at {path}; train without --resume (add --force to replace the run)")
        return cls.from_payload(load_tensors(path, FIX), str(path))

    # -- the payload (what the file holds) -----------------------------------------------------
    def to_payload(self) -> dict[str, Any]:
        """The plain dict that is saved: see the module docstring for its layout."""
        history = self.history
        epochs = sorted(history.snapshots)
        return {
            **self.extra,
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "model": self.model,
            "trainer": {"name": self.trainer, "options": self.options},
            "data_hash": self.data_hash,
            "epoch": self.epoch,
            "status": self.status,
            "model_state": self.model_state,
            "optimizer_state": self.optimizer_state,
            "rng": self.rng,
            "callbacks": self.callbacks,
            "guard": self.guard,
            "history": {c: list(getattr(history, c)) for c in HISTORY_COLUMNS} | {"stopped": history.stopped},
            "snapshots": {
                "epoch": torch.tensor(epochs, dtype=torch.int64),
                "x": torch.stack([torch.as_tensor(history.snapshots[e]) for e in epochs]) if epochs else torch.zeros(0),
            },
        }

    @classmethod
    def from_payload(cls, payload: Any, where: str = "the checkpoint") -> Checkpoint:
        """Check a loaded payload and type it; ``where`` names it in errors (the file's path).

        Raises:
            CheckpointError: foreign, of another version, incomplete or damaged.
        """
        if not isinstance(payload, Mapping) or payload.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{where} is not a dyncore checkpoint (foreign file); {FIX}")
        if payload.get("version") != CHECKPOINT_VERSION:
            raise CheckpointError(f"{where} has checkpoint version {payload.get('version')!r}, this dyncore reads {CHECKPOINT_VERSION}; {FIX}")
        missing = [k for k in REQUIRED_KEYS if k not in payload]
        if missing:
            raise CheckpointError(f"{where} is an incomplete checkpoint (no {', '.join(missing)}); {FIX}")
        epoch = payload["epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise CheckpointError(f"{where}: its epoch must be an integer >= 0, got {epoch!r}; the checkpoint is damaged: {FIX}")
        trainer = payload["trainer"]
        if not isinstance(payload["model"], dict) or not isinstance(trainer, dict) or not isinstance(trainer.get("name"), str) \
                or not isinstance(trainer.get("options"), dict):
            raise CheckpointError(f"{where}: its model or trainer record is malformed; the checkpoint is damaged: {FIX}")
        return cls(
            model=payload["model"], trainer=trainer["name"], options=trainer["options"], data_hash=payload["data_hash"], epoch=epoch,
            model_state=payload["model_state"], optimizer_state=payload["optimizer_state"], rng=payload["rng"],
            history=_history(payload["history"], payload["snapshots"], where), status=payload.get("status", "running"),
            callbacks=payload.get("callbacks") or {}, guard=payload.get("guard"),
            extra={k: v for k, v in payload.items() if k not in _KNOWN_KEYS},
        )


def _history(record: Any, snapshots: Any, where: str) -> History:
    """The :class:`History` a payload records, with its snapshots as numpy arrays."""
    history = History()
    try:
        for row in zip(*(record[c] for c in HISTORY_COLUMNS)):
            history.append(*row)
        history.stopped = str(record.get("stopped", ""))
        for e, x in zip(snapshots["epoch"].tolist(), snapshots["x"]):
            history.snapshots[int(e)] = x.numpy()
    except (KeyError, TypeError, AttributeError, ValueError):
        raise CheckpointError(f"{where}: its history or snapshots are malformed; the checkpoint is damaged: {FIX}") from None
    return history


# -- torch files read safely (checkpoints and run weights) ---------------------------------------
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


# -- the dict interface of earlier releases ------------------------------------------------------
def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checked payload of a checkpoint file as a plain dict (see the module docstring); prefer :meth:`Checkpoint.read`."""
    return Checkpoint.read(path).to_payload()


def write_checkpoint(path: str | Path, payload: Mapping[str, Any] | Checkpoint) -> Path:
    """Save a checkpoint (a :class:`Checkpoint` or its payload dict, checked first) atomically."""
    checkpoint = payload if isinstance(payload, Checkpoint) else Checkpoint.from_payload(payload)
    return checkpoint.write(path)


__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "Checkpoint", "load_tensors", "read_checkpoint", "stored_bytes", "write_checkpoint"]
