"""The Trainer interface, its History, the state callbacks see (:class:`TrainState`), and the callback protocol."""

from __future__ import annotations

import csv
import io
import os
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from dyncore.errors import DataError
from dyncore.io import atomic_write
from dyncore.params import merge_params

if TYPE_CHECKING:
    from dyncore.checkpoint import Checkpoint
    from dyncore.model import Model
    from dyncore.trajectory import Trajectory

HISTORY_COLUMNS = ("epoch", "loss", "lr", "wall_time", "nfe")
#: Options that say where and how a run is shown or saved, not what it trains: left out of the
#: options recorded in config.json and in checkpoints (a resumed run gets them anew).
UNRECORDED_OPTIONS = ("checkpoint_path", "progress")


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


@dataclass
class TrainState:
    """What a training loop shares with its callbacks while it runs (the same object throughout).

    Attributes:
        trajectory: the training data; ``examples``: the model's examples cut from it.
        history: the record so far (callbacks may add snapshots or set ``stopped``).
        epoch: epochs completed; ``epochs``: the epochs asked for.
        status: ``running``, then ``complete``, ``stopped``, ``interrupted`` or ``diverged``.
        data_hash: the data's content hash (recorded in checkpoints).
        optimizer, generator: the optimizer and the loop's seeded generator (shuffling), if any.
        callbacks: every callback of the run, the trainer's own first (their states are checkpointed).
        guard: the NaN guard, if any.
        extra: a trainer's own entries.

    Item access (``state["epoch"]``), the dict interface of earlier releases, still works with a
    :class:`DeprecationWarning`: use the attributes.
    """

    trajectory: Trajectory
    history: History
    epochs: int
    epoch: int = 0
    status: str = "running"
    data_hash: str = ""
    examples: dict[str, Any] | None = None
    optimizer: Any = None
    generator: Any = None
    callbacks: list[Callback] = field(default_factory=list)
    guard: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def _warn(self, key: str) -> None:
        warnings.warn(f"state[{key!r}] is deprecated: TrainState has attributes, use state.{key}"
                      if self._is_field(key) else f"state[{key!r}] is deprecated: use state.extra[{key!r}]",
                      DeprecationWarning, stacklevel=3)

    @classmethod
    def _is_field(cls, key: str) -> bool:
        return key != "extra" and key in {f.name for f in fields(cls)}

    def __getitem__(self, key: str) -> Any:
        self._warn(key)
        return getattr(self, key) if self._is_field(key) else self.extra[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._warn(key)
        if self._is_field(key):
            setattr(self, key, value)
        else:
            self.extra[key] = value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (self._is_field(key) or key in self.extra)

    def get(self, key: str, default: Any = None) -> Any:
        """``state[key]`` or ``default`` (deprecated like item access)."""
        return self[key] if key in self else default


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

    def on_train_begin(self, trainer: Trainer, model: Model, state: TrainState) -> None:
        pass

    def on_epoch_end(self, trainer: Trainer, model: Model, state: TrainState) -> bool | None:
        pass

    def on_train_end(self, trainer: Trainer, model: Model, state: TrainState) -> None:
        pass


class Trainer(ABC):
    """A training loop. Options (epochs, lr, lookahead, seed, ...) are checked keyword arguments.

    ``supports_resume = True`` declares that the trainer takes the options ``checkpoint_path`` and
    ``checkpoint_every``, writes a :class:`~dyncore.checkpoint.Checkpoint` there, and continues from
    one passed to :meth:`fit` as ``resume``; ``dyncore.train`` then gives a saved run a checkpoint
    and ``--resume`` continues it. A trainer that does not declare it is trained without either.
    """

    name: ClassVar[str] = ""
    default_options: ClassVar[dict[str, Any]] = {}
    supports_resume: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = any("supports_resume" in vars(k) for k in cls.__mro__[:-1] if k is not Trainer)
        if not declared and "checkpoint_path" in cls.default_options:  # written before supports_resume existed
            warnings.warn(f"trainer {cls.__name__}: declare supports_resume = True (its checkpoint_path option "
                          "no longer implies it)", DeprecationWarning, stacklevel=2)
            cls.supports_resume = True

    def __init__(self, **options: Any) -> None:
        self.options = merge_params(f"trainer {self.name!r}", "option", self.default_options, options)

    def recorded_options(self) -> dict[str, Any]:
        """The options that define the training (recorded in config.json and checkpoints): all but :data:`UNRECORDED_OPTIONS`."""
        return {k: v for k, v in self.options.items() if k not in UNRECORDED_OPTIONS}

    @abstractmethod
    def fit(self, model: Model, trajectory: Trajectory, callbacks: list[Callback] | tuple = (),
            resume: Checkpoint | None = None) -> History:
        """Train ``model`` on ``trajectory`` in place and return its :class:`History`.

        Args:
            callbacks: called with a :class:`TrainState` at the start, after every epoch and at the end.
            resume: a checkpoint to continue from; only given to trainers that declare
                :attr:`supports_resume` (others may leave the parameter out).
        Raises:
            TrainingDiverged: the loss became NaN/Inf; the model holds the last good weights.
        """
