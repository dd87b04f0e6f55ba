"""The Trainer interface, its History, and the callback protocol."""

from __future__ import annotations

import csv
import io
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from dyncore.errors import DataError
from dyncore.io import atomic_write
from dyncore.params import merge_params

if TYPE_CHECKING:
    from dyncore.model import Model
    from dyncore.trajectory import Trajectory

HISTORY_COLUMNS = ("epoch", "loss", "lr", "wall_time", "nfe")


@dataclass
class History:
    """Per-epoch training record: loss, learning rate, wall time (s, cumulative), function evaluations.

    ``snapshots`` maps an epoch count to the model's free rollout after that many epochs, shape
    ``(n, [batch,] dim)`` (the "trajectory during training" figure); empty when none were taken.
    """

    epoch: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    wall_time: list[float] = field(default_factory=list)
    nfe: list[int] = field(default_factory=list)
    stopped: str = ""  # why training ended early ("" when it ran all epochs)
    snapshots: dict[int, Any] = field(default_factory=dict)

    def append(self, epoch: int, loss: float, lr: float, wall_time: float, nfe: int) -> None:
        self.epoch.append(epoch)
        self.loss.append(loss)
        self.lr.append(lr)
        self.wall_time.append(wall_time)
        self.nfe.append(nfe)

    def __len__(self) -> int:
        return len(self.epoch)

    def to_csv(self, path: str | os.PathLike) -> Path:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(HISTORY_COLUMNS)
        for row in zip(*(getattr(self, c) for c in HISTORY_COLUMNS)):
            writer.writerow([repr(v) for v in row])
        with atomic_write(path, "w") as f:
            f.write(text.getvalue())
        return Path(path)

    @classmethod
    def from_csv(cls, path: str | os.PathLike) -> History:
        history = cls()
        try:
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
            for row in rows:
                history.append(int(row["epoch"]), float(row["loss"]), float(row["lr"]), float(row["wall_time"]), int(float(row["nfe"])))
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise DataError(f"{path} is not a training history ({type(exc).__name__}: {exc})") from None
        return history


class Callback:
    """Hooks into a training loop; override what you need. Return True from ``on_epoch_end`` to stop.

    A callback with state that must survive a checkpoint and ``resume`` (a counter, a best value)
    returns it from :meth:`state_dict`; on resume the loop hands it back to :meth:`load_state_dict`
    after ``on_train_begin``. Callbacks are matched by :attr:`state_key` (the class name; the n-th
    callback of the same class gets ``#n``).
    """

    @property
    def state_key(self) -> str:
        return type(self).__name__

    def state_dict(self) -> dict[str, Any]:
        """What to checkpoint: plain numbers, strings, lists, dicts and tensors (loaded with ``weights_only``)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, when training resumes from a checkpoint."""

    def on_train_begin(self, trainer: Trainer, model: Model, state: dict[str, Any]) -> None:
        pass

    def on_epoch_end(self, trainer: Trainer, model: Model, state: dict[str, Any]) -> bool | None:
        pass

    def on_train_end(self, trainer: Trainer, model: Model, state: dict[str, Any]) -> None:
        pass


class Trainer(ABC):
    """A training loop. Options (epochs, lr, lookahead, seed, ...) are checked keyword arguments."""

    name: ClassVar[str] = ""
    default_options: ClassVar[dict[str, Any]] = {}

    def __init__(self, **options: Any) -> None:
        self.options = merge_params(f"trainer {self.name!r}", "option", self.default_options, options)

    @abstractmethod
    def fit(self, model: Model, trajectory: Trajectory, callbacks: list[Callback] | tuple = ()) -> History:
        """Train ``model`` on ``trajectory`` in place and return its :class:`History`.

        Raises:
            TrainingDiverged: the loss became NaN/Inf; the model holds the last good weights.
        """
