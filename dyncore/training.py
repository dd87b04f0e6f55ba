"""Training into a run directory: :func:`train`, what ``dyncore train`` calls.

``train`` refuses an existing run directory unless told to ``resume`` or ``force`` (which replaces
only a dyncore run, never other files), and locks the directory while it trains (``.lock``, naming
the PID); a checkpoint that is corrupt or not dyncore's is a one-line
:class:`~dyncore.errors.CheckpointError`. The files it writes are those of :mod:`dyncore.runs`;
the checkpoint's layout is :mod:`dyncore.checkpoint`'s.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dyncore
from dyncore.checkpoint import Checkpoint
from dyncore.errors import ConfigError, OutputExistsError, TrainingDiverged, TrainingInterrupted
from dyncore.limits import check_size
from dyncore.model import Model
from dyncore.recipe import Recipe
from dyncore.runs import (
    CHECKPOINT,
    CONFIG,
    LOCK,
    RUN_FILES,
    Run,
    RunLock,
    holds_run,
    meta_model,
    model_bytes,
    read_run_config,
    run_config,
)
from dyncore.threads import env_threads, model_work, parse_threads, threads_for
from dyncore.trainer import Callback, History, Trainer, TrainState
from dyncore.trajectory import Trajectory

#: Checkpoint period of a run saved to a directory, unless the trainer options set one.
DEFAULT_CHECKPOINT_EVERY = 100


def _training_work(model: Model, trainer: Trainer, trajectory: Trajectory) -> float | None:
    """Multiply-adds of the biggest op of one training step: the examples of a step times the biggest weight matrix."""
    rows = trajectory.batch * max(1, trajectory.n - model.context_length)
    batch_size = trainer.options.get("batch_size")
    if isinstance(batch_size, int) and batch_size >= 1:
        rows = min(rows, batch_size)
    built = model if model.dim is not None else meta_model(type(model), {**model.config(), "dim": trajectory.dim})
    return model_work(built, rows) if built is not None else None


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
    checkpoint = None
    if resume and out is not None:
        if (out / CONFIG).exists() or not (out / CHECKPOINT).exists():
            recipe_name = read_run_config(out).get("recipe")  # a run killed before its first save has only its checkpoint
        checkpoint = Checkpoint.read(out / CHECKPOINT)
        saved = checkpoint.model
        changed = sorted(k for k, v in (hparams or {}).items() if saved.get("hparams", {}).get(k) != v)
        if changed:
            raise ConfigError(
                f"hyperparameters are fixed by the run being resumed ({', '.join(changed)} differ); "
                "drop them or train anew with --force"
            )
        if isinstance(model, str) and model != saved.get("model"):
            raise ConfigError(f"the run in {out} trained model {saved.get('model')!r}, not {model!r}; resume with the same model")
        model = dyncore.models.get(saved["model"]).from_config(saved)
        if trainer is not None and (trainer.name if isinstance(trainer, Trainer) else trainer) != checkpoint.trainer:
            raise ConfigError(f"the run in {out} used trainer {checkpoint.trainer!r}; resume with the same trainer")
        trainer, options = checkpoint.trainer, {**checkpoint.options, **options}
    else:
        if out is not None:
            _check_replaceable(out, force)
        model = dyncore.models.resolve(model, **(hparams or {})) if isinstance(model, str) else _instance(model, hparams)
        if model.dim is None:  # not built yet: measure what prepare() will allocate, on the meta device
            declared = model_bytes(type(model), {**model.config(), "dim": trajectory.dim})
            if declared is not None:  # weights, gradients and two optimizer moments
                check_size(f"training model {model.name!r} with these hyperparameters", 4 * declared,
                           "use a smaller network (hidden, depth, layers)")
        trainer = model.default_trainer if trainer is None else trainer
    if not isinstance(trainer, str) and options:
        raise ConfigError("options can only be given with a trainer name, not with a trainer instance")
    if isinstance(trainer, str):
        cls = dyncore.trainers.get(trainer)
        if out is not None and cls.supports_resume:
            options["checkpoint_path"] = str(out / CHECKPOINT)
            if "checkpoint_every" not in options:  # so that a kill -9 loses at most this many epochs
                options["checkpoint_every"] = DEFAULT_CHECKPOINT_EVERY
        trainer = cls(**options)
    if checkpoint is not None and not trainer.supports_resume:
        raise ConfigError(f"trainer {trainer.name!r} cannot resume from a checkpoint; train anew with --force")
    recorder = _Recorder(out, clean=force and not resume)
    status, error = "complete", None
    try:
        with threads_for(_training_work(model, trainer, trajectory), threads) as choice:
            if checkpoint is not None:
                trainer.fit(model, trajectory, [*callbacks, recorder], resume=checkpoint)
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
    history = recorder.history()
    if status == "complete" and history.stopped:
        status = "stopped"
    config = run_config(model, trainer, trajectory, source, history, status)
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
    if not holds_run(out):
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        raise OutputExistsError(
            f"{out} holds files that are not a dyncore run ({shown}); --force replaces only a run, never other files: "
            "choose another -o or empty the folder yourself"
        )


class _Recorder(Callback):
    """Keeps a handle on the trainer's state (for the history after an exception) and cleans ``out``."""

    def __init__(self, out: Path | None, clean: bool) -> None:
        self.out, self.clean = out, clean
        self.state: TrainState | dict[str, Any] | None = None

    def on_train_begin(self, trainer: Trainer, model: Model, state: TrainState) -> None:
        self.state = state
        if self.clean and self.out is not None and self.out.is_dir():
            for name in RUN_FILES:
                (self.out / name).unlink(missing_ok=True)

    def history(self) -> History:
        """The history the trainer recorded (a third-party trainer may share a plain dict instead of a TrainState)."""
        state = self.state
        history = state.history if isinstance(state, TrainState) else (state or {}).get("history")
        return history if isinstance(history, History) else History()


def _instance(model: Model, hparams: dict[str, Any] | None) -> Model:
    if hparams:
        raise ConfigError("hyperparameters can only be given with a model name, not with a model instance")
    if not isinstance(model, Model):
        raise ConfigError(f"model must be a name or a dyncore Model, got {type(model).__name__}")
    return model


__all__ = ["DEFAULT_CHECKPOINT_EVERY", "train"]
