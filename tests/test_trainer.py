"""dyncore.trainer: the fit contract (resume, supports_resume), TrainState, and trainers written before them."""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import pytest

import dyncore
from dyncore.checkpoint import Checkpoint
from dyncore.errors import ConfigError
from dyncore.run import CHECKPOINT
from dyncore.testing.trainers import LinearStepModel, rotation_data
from dyncore.trainer import History, Trainer, TrainState


class OldStyleTrainer(Trainer):
    """A third-party trainer as the docs described one before the resume contract: no resume, no supports_resume."""

    name = "old_style"
    default_options: ClassVar[dict[str, Any]] = {"epochs": 2, "seed": 0}

    def fit(self, model, trajectory, callbacks=()):
        model.prepare(trajectory)
        history = History()
        state = {"history": history, "epoch": 0}  # a plain dict, as such trainers share
        for cb in callbacks:
            cb.on_train_begin(self, model, state)
        for epoch in range(self.options["epochs"]):
            history.append(epoch + 1, 1.0 / (epoch + 1), 0.0, 0.0, 0)
            state["epoch"] = epoch + 1
            for cb in callbacks:
                cb.on_epoch_end(self, model, state)
        for cb in callbacks:
            cb.on_train_end(self, model, state)
        return history


def _registered(monkeypatch, cls):
    real = dyncore.trainers.get
    monkeypatch.setattr(dyncore.trainers, "get", lambda name: cls if name == cls.name else real(name))


def test_a_trainer_written_before_the_resume_contract_still_trains_into_a_run(tmp_path, monkeypatch):
    _registered(monkeypatch, OldStyleTrainer)
    assert OldStyleTrainer.supports_resume is False
    run = dyncore.train(LinearStepModel(), rotation_data(), "old_style", out=tmp_path / "run", epochs=3)
    assert run.history.loss == [1.0, 0.5, 1.0 / 3] and not (tmp_path / "run" / CHECKPOINT).exists()
    assert run.config["trainer"] == {"name": "old_style", "options": {"epochs": 3, "seed": 0}} and run.status == "complete"


def test_resume_asks_the_declared_capability(tmp_path, monkeypatch):
    assert dyncore.trainers.get("full_batch").supports_resume and dyncore.trainers.get("minibatch").supports_resume
    assert not dyncore.trainers.get("closed_form").supports_resume and not Trainer.supports_resume
    dyncore.train("node", rotation_data(), hparams={"hidden": 8}, out=tmp_path / "run", epochs=2, progress=False)

    class NoLongerResumable(dyncore.trainers.get("full_batch")):
        supports_resume = False

    _registered(monkeypatch, NoLongerResumable)
    with pytest.raises(ConfigError, match="trainer 'full_batch' cannot resume from a checkpoint; train anew with --force"):
        dyncore.train("node", rotation_data(), out=tmp_path / "run", resume=True)


def test_a_trainer_declaring_resume_gets_the_checkpoint_path_and_a_typed_checkpoint(tmp_path, monkeypatch):
    seen: list[Any] = []
    base = dyncore.trainers.get("full_batch")

    class Watching(base):
        name = "watching"

        def fit(self, model, trajectory, callbacks=(), resume=None):
            seen.append((self.options["checkpoint_path"], resume))
            return super().fit(model, trajectory, callbacks, resume=resume)

    _registered(monkeypatch, Watching)
    out = tmp_path / "run"
    dyncore.train("node", rotation_data(), "watching", hparams={"hidden": 8}, out=out, epochs=2, progress=False)
    dyncore.train("node", rotation_data(), out=out, resume=True, epochs=3)
    assert seen[0] == (str(out / CHECKPOINT), None)
    assert seen[1][0] == str(out / CHECKPOINT) and isinstance(seen[1][1], Checkpoint) and seen[1][1].epoch == 2


def test_a_trainer_with_a_checkpoint_option_but_no_declaration_is_resumable_with_a_warning():
    with pytest.warns(DeprecationWarning, match="declare supports_resume = True"):
        class Legacy(OldStyleTrainer):
            default_options: ClassVar[dict[str, Any]] = {"epochs": 2, "checkpoint_path": None, "checkpoint_every": 0}
    assert Legacy.supports_resume
    with warnings.catch_warnings():
        warnings.simplefilter("error")

        class Declared(OldStyleTrainer):
            supports_resume = False
            default_options: ClassVar[dict[str, Any]] = {"checkpoint_path": None}
    assert not Declared.supports_resume


def test_callbacks_get_a_train_state_whose_item_access_is_deprecated():
    seen: list[TrainState] = []

    class Look(dyncore.Callback):
        def on_epoch_end(self, trainer, model, state):
            seen.append(state)
            with pytest.warns(DeprecationWarning, match=r"state\['epoch'\] is deprecated: TrainState has attributes, use state.epoch"):
                assert state["epoch"] == state.epoch
            with pytest.warns(DeprecationWarning, match=r"use state.extra\['mine'\]"):
                state["mine"] = state.get("mine", 0) + 1
            assert "mine" in state and "history" in state and "nothing" not in state

    for name in ("full_batch", "closed_form"):
        model = LinearStepModel() if name == "full_batch" else _closed_form_model()
        dyncore.trainers.create(name, **({"epochs": 2, "progress": False} if name == "full_batch" else {})).fit(model, rotation_data(), [Look()])
    assert all(isinstance(s, TrainState) for s in seen) and seen[1].extra["mine"] == 2
    assert seen[-1].status == "complete" and seen[-1].epoch == 1 and seen[-1].epochs == 1


def test_resume_from_a_payload_dict_still_works_with_a_warning(tmp_path):
    path = tmp_path / "c.pt"
    full = dyncore.trainers.create("full_batch", epochs=2, checkpoint_path=str(path), progress=False)
    full.fit(LinearStepModel(), rotation_data())
    payload = Checkpoint.read(path).to_payload()
    with pytest.warns(DeprecationWarning, match="payload dict is deprecated"):
        history = dyncore.trainers.create("full_batch", epochs=3, progress=False).fit(LinearStepModel(), rotation_data(), resume=payload)
    assert len(history) == 3 and history.loss[:2] == Checkpoint.read(path).history.loss


def _closed_form_model():
    import torch

    class Closed(LinearStepModel):
        def fit_closed_form(self, examples):
            x, y = examples["x0"], examples["target"][:, 0] - examples["x0"]
            self.step.weight.copy_(torch.linalg.lstsq(x, y).solution.T)
            return self.loss(examples)

    return Closed()
