"""The gradient-descent training loop both built-in trainers share.

One epoch is whatever :meth:`GradientTrainer.run_epoch` does (one full-batch step, or a pass of
minibatches); around it the loop sets the learning rate, guards against NaN/Inf, records the
:class:`~dyncore.History`, calls the callbacks, and turns Ctrl-C or SIGTERM into a clean stop at
the next epoch boundary (a second one abandons the running epoch and rolls it back, so the
checkpoint is always the state after a completed epoch). It synchronises with the device once per
epoch (the loss value), and on CPU the same seed gives the same loss history bit for bit, also
across a checkpoint and ``resume``.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
import warnings
from abc import abstractmethod
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import torch

from dyncore.checkpoint import Checkpoint
from dyncore.errors import CheckpointError, ConfigError, DyncoreWarning, TrainingDiverged, TrainingInterrupted
from dyncore.model import Model
from dyncore.params import MAX_SEED
from dyncore.trainer import HISTORY_COLUMNS, Callback, History, Trainer, TrainState
from dyncore.trajectory import Trajectory
from dyncore_training.callbacks import Checkpointer, EarlyStopping, ProgressBar, Snapshots
from dyncore_training.guard import EpochRollback, WeightGuard

#: ``lr_final="auto"``: the last epochs train at ``lr`` divided by this (the reference 1e-2 -> 1e-3).
LR_FINAL_DIVISOR = 10.0


class GradientTrainer(Trainer):
    """Adam on a model's :meth:`~dyncore.Model.loss`, the reference schedule, built-in callbacks.

    Options:
        epochs (2000), lr (1e-2), lr_final ("auto": lr / 10, so 1e-3 for the default lr; a number
            sets it; None keeps lr), lr_drop (0.9: the fraction of epochs after which lr_final
            applies), weight_decay (0).
        lookahead (1): predicted steps per example (keep 1 for chaotic systems).
        seed (0): seeds the weight initialisation and any shuffling.
        device ("cpu"; "cuda" or "cuda:N" on a GPU).
        snapshot_every (0: none): free rollout from the first state every k epochs.
        checkpoint_path (None), checkpoint_every (0: only at the end): resumable checkpoints.
        patience (0: off), min_delta (0): early stopping when the loss stops improving.
        progress (None: when stderr is a terminal; True; False): a progress line on stderr.
    """

    supports_resume: ClassVar[bool] = True
    default_options: ClassVar[dict[str, Any]] = {
        "epochs": 2000,
        "lr": 1e-2,
        "lr_final": "auto",
        "lr_drop": 0.9,
        "weight_decay": 0.0,
        "lookahead": 1,
        "seed": 0,
        "device": "cpu",
        "snapshot_every": 0,
        "checkpoint_path": None,
        "checkpoint_every": 0,
        "patience": 0,
        "min_delta": 0.0,
        "progress": None,
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        o = self.options
        for key in ("epochs", "lookahead"):
            _check_int(self.name, key, o[key], minimum=1)
        for key in ("snapshot_every", "checkpoint_every", "patience"):
            _check_int(self.name, key, o[key], minimum=0)
        _check_int(self.name, "seed", o["seed"], minimum=0)
        if o["seed"] > MAX_SEED:
            raise ConfigError(f"trainer {self.name!r}: seed must be at most 2**63 - 1 (torch seeds are 64-bit), got {o['seed']!r}")
        _check_number(self.name, "lr", o["lr"], positive=True)
        if o["lr_final"] not in (None, "auto"):
            _check_number(self.name, "lr_final", o["lr_final"], positive=True)
            if o["lr_final"] > o["lr"]:
                warnings.warn(DyncoreWarning(
                    f"trainer {self.name!r}: lr_final {o['lr_final']:g} is above lr {o['lr']:g}, so the learning rate rises "
                    "for the last epochs; leave lr_final at 'auto' (lr / 10) unless that is what you want"
                ), stacklevel=2)
        _check_number(self.name, "weight_decay", o["weight_decay"])
        _check_number(self.name, "min_delta", o["min_delta"])
        if not 0.0 <= float(o["lr_drop"]) <= 1.0:
            raise ConfigError(f"trainer {self.name!r}: lr_drop is the fraction of epochs before lr_final, in [0, 1]; got {o['lr_drop']!r}")
        if o["progress"] not in (None, True, False):
            raise ConfigError(f"trainer {self.name!r}: progress must be true, false or null, got {o['progress']!r}")

    # -- the pieces a trainer defines --------------------------------------------------------
    @abstractmethod
    def run_epoch(self, model: Model, examples: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer, state: TrainState) -> torch.Tensor:
        """One epoch of optimisation steps.

        Returns:
            A tensor of losses on the model's device, finite only if every step's loss was; its
            mean is the epoch's recorded loss. Read once per epoch (one device synchronisation).
        """

    def lr_at(self, epoch: int) -> float:
        """Learning rate of 0-based ``epoch``: ``lr``, then ``lr_final`` from ``lr_drop * epochs`` on."""
        o = self.options
        if o["lr_final"] is None or epoch < round(float(o["lr_drop"]) * o["epochs"]):
            return float(o["lr"])
        if o["lr_final"] == "auto":
            return float(o["lr"]) / LR_FINAL_DIVISOR
        return float(o["lr_final"])

    # -- the loop ------------------------------------------------------------------------------
    def fit(
        self,
        model: Model,
        trajectory: Trajectory,
        callbacks: list[Callback] | tuple = (),
        resume: Checkpoint | None = None,
    ) -> History:
        """Train ``model`` on ``trajectory``; see :meth:`dyncore.Trainer.fit`.

        Args:
            resume: the :class:`~dyncore.checkpoint.Checkpoint` to continue from (a payload dict,
                as earlier releases took, still works with a DeprecationWarning).
        Raises:
            TrainingDiverged: a non-finite loss; the model holds the last weights with a finite loss.
            TrainingInterrupted: after Ctrl-C or SIGTERM (a ``KeyboardInterrupt``), once the current epoch
                ended, or was rolled back after a second signal, and the callbacks (checkpoint) ran.
        """
        o = self.options
        if isinstance(resume, Mapping):
            warnings.warn("fit(resume=) takes a dyncore.checkpoint.Checkpoint (Checkpoint.read(path)); a payload dict is deprecated",
                          DeprecationWarning, stacklevel=2)
            resume = Checkpoint.from_payload(resume)
        prepare_seeded(model, trajectory, o["seed"], o["device"])
        if resume is not None:  # before examples: the normalisation buffers are part of the state
            _load_model_state(model, resume)
        examples = model.examples(trajectory, o["lookahead"])
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ConfigError(f"model {model.name!r} has no trainable parameters")
        optimizer = make_adam(params, float(o["lr"]), float(o["weight_decay"]))
        history = History()
        state = TrainState(trajectory=trajectory, history=history, epochs=o["epochs"], data_hash=trajectory.content_hash(),
                           examples=examples, optimizer=optimizer, generator=torch.Generator().manual_seed(o["seed"]))
        if resume is not None:
            self._restore(state, resume)
        callbacks = self._builtin_callbacks() + list(callbacks)
        state.callbacks = callbacks
        guard = WeightGuard(params)
        guard.good_epoch = state.epoch
        if resume is not None and resume.guard is not None:
            try:
                guard.load_state_dict(resume.guard)
            except (KeyError, TypeError, ValueError) as exc:
                raise CheckpointError(f"the checkpoint's NaN-guard weights do not fit the model ({exc})") from None
        state.guard = guard
        rollback = EpochRollback(optimizer, state.generator)
        lr = None
        with _Interrupts() as signals:
            for cb in callbacks:
                cb.on_train_begin(self, model, state)
            if resume is not None:
                _load_callback_states(callbacks, resume.callbacks)
            start = time.perf_counter() - (history.wall_time[-1] if history else 0.0)
            try:
                for epoch in range(state.epoch, o["epochs"]):
                    if signals.received:
                        state.status = "interrupted"
                        history.stopped = f"{signals.verb} after epoch {epoch}"
                        break
                    if self.lr_at(epoch) != lr:
                        lr = self.lr_at(epoch)
                        for group in optimizer.param_groups:
                            group["lr"] = lr
                    nfe = model.nfe
                    rollback.stage()
                    guard.stage()
                    with signals.abortable():  # a second signal abandons the epoch here (undone below)
                        losses = self.run_epoch(model, examples, optimizer, state)
                        values = losses.detach().double().cpu().tolist()  # the one synchronisation per epoch
                    loss = math.fsum(values) / len(values)
                    if not all(math.isfinite(v) for v in values):
                        guard.restore()
                        state.status = "diverged"
                        history.stopped = f"diverged at epoch {epoch + 1}"
                        raise TrainingDiverged(
                            f"the loss became {loss} at epoch {epoch + 1}; the model holds the weights of epoch {guard.good_epoch}; "
                            f"try a smaller lr (now {lr:g}), a smaller lookahead (now {o['lookahead']}) or a smaller network"
                        )
                    guard.accept(epoch)
                    history.append(epoch + 1, loss, lr, time.perf_counter() - start, model.nfe - nfe)
                    state.epoch = epoch + 1
                    stop = False
                    for cb in callbacks:
                        stop = bool(cb.on_epoch_end(self, model, state)) or stop
                    if stop:
                        state.status = "stopped"
                        history.stopped = history.stopped or f"stopped by a callback after epoch {epoch + 1}"
                        break
                if state.status == "running":
                    state.status = "complete"
            except _EpochAbandoned:
                guard.rewind()
                rollback.restore()
                state.status = "interrupted"
                history.stopped = (f"{signals.verb} during epoch {state.epoch + 1}, which a second signal abandoned: "
                                   f"the run holds epoch {state.epoch}")
            finally:
                for cb in callbacks:
                    cb.on_train_end(self, model, state)
        if state.status == "interrupted":
            raise TrainingInterrupted(history.stopped, signals.received)
        return history

    def _builtin_callbacks(self) -> list[Callback]:
        o = self.options
        out: list[Callback] = []
        if o["snapshot_every"]:
            out.append(Snapshots(o["snapshot_every"]))
        if o["patience"]:
            out.append(EarlyStopping(o["patience"], float(o["min_delta"])))
        if o["checkpoint_path"]:
            out.append(Checkpointer(o["checkpoint_path"], o["checkpoint_every"]))
        if o["progress"] or (o["progress"] is None and sys.stderr.isatty()):
            out.append(ProgressBar())
        return out

    # -- checkpoints ---------------------------------------------------------------------------
    def checkpoint(self, model: Model, state: TrainState) -> Checkpoint:
        """Everything needed to continue training exactly: weights, optimizer, RNG, epoch, history."""
        return Checkpoint(
            model=model.config(), trainer=self.name, options=self.recorded_options(), data_hash=state.data_hash,
            epoch=state.epoch, status=state.status,
            model_state={k: v.detach().cpu() for k, v in model.state_dict().items()},
            optimizer_state=state.optimizer.state_dict(),
            rng={"torch": torch.get_rng_state(), "generator": state.generator.get_state()},
            history=state.history, callbacks=_callback_states(state.callbacks), guard=state.guard.state_dict(),
        )

    def _restore(self, state: TrainState, checkpoint: Checkpoint) -> None:
        if checkpoint.data_hash != state.data_hash:
            raise CheckpointError("the checkpoint was trained on other data (its data hash differs); resume with the same data file")
        try:
            state.optimizer.load_state_dict(checkpoint.optimizer_state)
            torch.set_rng_state(checkpoint.rng["torch"])
            state.generator.set_state(checkpoint.rng["generator"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"the checkpoint does not fit this model and trainer ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
        for row in zip(*(getattr(checkpoint.history, c) for c in HISTORY_COLUMNS)):
            state.history.append(*row)
        state.history.snapshots.update(checkpoint.history.snapshots)
        state.epoch = checkpoint.epoch


def _load_model_state(model: Model, checkpoint: Checkpoint) -> None:
    try:
        model.load_state_dict(checkpoint.model_state)
    except (RuntimeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"the checkpoint's weights do not fit the model ({str(exc).splitlines()[0][:160]})") from None


def make_adam(params: list[torch.Tensor], lr: float, weight_decay: float) -> torch.optim.Adam:
    """``torch.optim.Adam(fused=True)`` where the device and dtypes allow it, else torch's default Adam.

    Public API only: a lean step over ``torch._fused_adam_`` saved ~200 us per step but nothing
    measurable per epoch (``benchmarks/train.py --only private-api``, docs/benchmarks.md).
    """
    if len({(p.device, p.dtype) for p in params}) == 1:
        try:
            return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
        except RuntimeError:
            pass
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def prepare_seeded(model: Model, trajectory: Trajectory, seed: int, device: Any) -> None:
    """Build an unbuilt ``model`` on the data under ``seed`` (torch's global RNG restored after) and move it to ``device``."""
    if model.dim is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model.prepare(trajectory)
    model.to(resolve_device(device))


def resolve_device(name: Any) -> torch.device:
    """``torch.device`` for ``"cpu"``, ``"cuda"``, ``"cuda:N"``; a one-line ConfigError when unusable."""
    try:
        device = torch.device(str(name))
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda was asked for but no CUDA GPU is available here; use --device cpu")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {name!r} is not supported; use cpu or cuda")
    return device


class _EpochAbandoned(KeyboardInterrupt):
    """A second Ctrl-C or SIGTERM while an epoch runs: the loop undoes the epoch and stops."""


class _Interrupts:
    """Ctrl-C (SIGINT) and SIGTERM during training: the first asks the loop to stop at the next epoch
    boundary; a second one, while an epoch runs, abandons that epoch (the loop rolls it back).

    Outside the main thread no handler can be installed and signals keep their usual effect.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received = 0  # the first signal's number, 0 while none came
        self.count = 0
        self._abortable = False
        self._previous: dict[int, Any] = {}

    @property
    def verb(self) -> str:
        return "terminated (SIGTERM)" if self.received == signal.SIGTERM else "interrupted"

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)

    def _handler(self, signum: int, frame: Any) -> None:
        self.received = self.received or signum
        self.count += 1
        if self.count > 1 and self._abortable:
            self._abortable = False
            raise _EpochAbandoned()

    @contextlib.contextmanager
    def abortable(self) -> Iterator[None]:
        """The stretch of an epoch that a second signal may cut short (before anything is recorded)."""
        self._abortable = True
        try:
            yield
        finally:
            self._abortable = False


def _callback_states(callbacks: list[Callback]) -> dict[str, dict[str, Any]]:
    """Each callback's :meth:`~dyncore.Callback.state_dict` under its key (``Name``, ``Name#2``, ...)."""
    states: dict[str, dict[str, Any]] = {}
    for cb in callbacks:
        key, n = cb.state_key, 1
        while key in states:
            n += 1
            key = f"{cb.state_key}#{n}"
        states[key] = cb.state_dict()
    return states


def _load_callback_states(callbacks: list[Callback], saved: dict[str, Any]) -> None:
    keys = list(_callback_states(callbacks))
    for key, cb in zip(keys, callbacks):
        if key in saved:
            try:
                cb.load_state_dict(saved[key])
            except (KeyError, TypeError, ValueError) as exc:
                raise CheckpointError(f"the checkpoint's state of callback {key} does not fit it ({type(exc).__name__}: {exc})") from None


def _check_int(owner: str, key: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"trainer {owner!r}: {key} must be an integer >= {minimum}, got {value!r}")


def _check_number(owner: str, key: str, value: Any, positive: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        raise ConfigError(f"trainer {owner!r}: {key} must be a {'positive' if positive else 'non-negative'} number, got {value!r}")
