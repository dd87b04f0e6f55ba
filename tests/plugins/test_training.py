"""The full_batch and minibatch trainers: conformance kit, schedule, callbacks, guard, determinism."""

from __future__ import annotations

import io
import math
import os
import signal

import numpy as np
import pytest
import torch
from dyncore_training.callbacks import ProgressBar

import dyncore
from dyncore.checkpoint import Checkpoint
from dyncore.errors import ConfigError, DyncoreWarning, TrainingDiverged, UnknownNameError
from dyncore.run import read_checkpoint
from dyncore.testing import parametrize_with_checks
from dyncore.testing.trainers import LinearStepModel, rotation_data


def trainer(name="full_batch", **options):
    return dyncore.trainers.create(name, **{"progress": False, **options})


def small_node():
    return dyncore.models.create("node", hidden=16)


@parametrize_with_checks(["trainers:full_batch", "trainers:minibatch"])
def test_conformance(component, check):
    check(component)


def test_reference_schedule_is_the_default():
    """lr 1e-2, then 1e-3 for the last 10% of 2000 epochs; the history records it."""
    t = trainer()
    assert (t.options["epochs"], t.options["lookahead"]) == (2000, 1)
    assert [t.lr_at(e) for e in (0, 1799, 1800, 1999)] == [1e-2, 1e-2, 1e-3, 1e-3]
    history = trainer(epochs=10).fit(LinearStepModel(), rotation_data())
    assert history.lr == [1e-2] * 9 + [1e-3]
    assert trainer(epochs=10, lr_final=None).lr_at(9) == 1e-2


def test_final_rate_follows_lr_by_default():
    """A smaller lr must not rise for the last epochs: the default final rate is lr / 10; an explicit one is kept."""
    assert [trainer(epochs=10, lr=1e-4).lr_at(e) for e in (0, 9)] == [1e-4, 1e-5]
    assert trainer(epochs=10, lr=1e-4, lr_final=2e-5).lr_at(9) == 2e-5
    with pytest.warns(DyncoreWarning, match="lr_final 0.001 is above lr 0.0001"):
        assert trainer(epochs=10, lr=1e-4, lr_final=1e-3).lr_at(9) == 1e-3
    with pytest.raises(ConfigError, match="lr_final"):
        trainer(lr_final="fast")


@pytest.mark.parametrize(
    "options, match",
    [({"epochs": 0}, "epochs"), ({"lr": -1.0}, "lr"), ({"lr_drop": 2.0}, "lr_drop"), ({"lookahead": 0}, "lookahead"),
     ({"device": "tpu"}, "device"), ({"progress": "yes"}, "progress")],
)
def test_bad_options_are_config_errors(options, match):
    with pytest.raises(ConfigError, match=match):
        trainer(**options).fit(LinearStepModel(), rotation_data())


def test_unknown_option_suggests_the_right_one():
    with pytest.raises(UnknownNameError, match="did you mean 'epochs'"):
        trainer(epoch=3)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_a_gpu_says_so():
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        trainer(device="cuda", epochs=1).fit(LinearStepModel(), rotation_data())


def test_node_training_is_bit_for_bit_reproducible():
    a = trainer(epochs=15, seed=3).fit(small_node(), rotation_data())
    b = trainer(epochs=15, seed=3).fit(small_node(), rotation_data())
    c = trainer(epochs=15, seed=4).fit(small_node(), rotation_data())
    assert a.loss == b.loss and a.loss != c.loss
    assert a.nfe == [4] * 15  # one fused RK4 step per epoch


def test_minibatch_shuffling_is_seeded_and_weights_batches_by_size():
    data = rotation_data()
    a = trainer("minibatch", epochs=5, batch_size=16, seed=1).fit(LinearStepModel(), data)
    b = trainer("minibatch", epochs=5, batch_size=16, seed=1).fit(LinearStepModel(), data)
    c = trainer("minibatch", epochs=5, batch_size=16, seed=2).fit(LinearStepModel(), data)
    assert a.loss == b.loss and a.loss != c.loss
    torch.manual_seed(0)
    whole = trainer("minibatch", epochs=1, batch_size=1000).fit(LinearStepModel(), data)
    torch.manual_seed(0)
    full = trainer(epochs=1).fit(LinearStepModel(), data)
    assert math.isclose(whole.loss[0], full.loss[0], rel_tol=1e-12)


def test_snapshots_every_k_epochs_are_free_rollouts_on_the_data_grid():
    data = rotation_data()
    history = trainer(epochs=12, snapshot_every=5).fit(small_node(), data)
    assert sorted(history.snapshots) == [5, 10]
    snap = history.snapshots[10]
    assert snap.shape == (data.n, 2) and np.allclose(snap[0], data.x[0], atol=1e-6)


def test_early_stopping_says_why():
    history = trainer(epochs=50, lr=1e-12, lr_final=None, patience=3, min_delta=0.01).fit(LinearStepModel(), rotation_data())
    assert len(history) == 4 and "no improvement" in history.stopped


def test_nan_guard_restores_the_last_good_weights():
    """The loss is NaN from its 4th evaluation: epoch 4 diverges, the weights at the start of epoch 3 come back."""
    model = LinearStepModel(nan_after=4)
    kept = []

    class Keep(dyncore.Callback):
        def on_epoch_end(self, trainer, model, state):
            kept.append(model.step.weight.detach().clone())

    with pytest.raises(TrainingDiverged, match=r"epoch 4; the model holds the weights of epoch 2; try a smaller lr") as info:
        trainer(epochs=10).fit(model, rotation_data(), callbacks=[Keep()])
    assert "\n" not in str(info.value)
    assert torch.equal(model.step.weight, kept[1])  # after 2 epochs = at the start of epoch 3, whose loss was finite


def test_checkpoints_every_k_epochs_and_at_the_end(tmp_path):
    path = tmp_path / "checkpoint.pt"
    written = []

    class Watch(dyncore.Callback):
        def on_epoch_end(self, trainer, model, state):
            if path.exists():
                written.append((state.epoch, read_checkpoint(path)["epoch"]))

    trainer(epochs=7, checkpoint_path=str(path), checkpoint_every=3).fit(small_node(), rotation_data(), callbacks=[Watch()])
    assert written[0] == (3, 3) and written[-1] == (7, 6)
    payload = read_checkpoint(path)
    assert payload["epoch"] == 7 and payload["status"] == "complete" and len(payload["history"]["loss"]) == 7


def test_ctrl_c_finishes_the_epoch_then_raises(tmp_path):
    path = tmp_path / "checkpoint.pt"

    class CtrlC(dyncore.Callback):
        def on_epoch_end(self, trainer, model, state):
            if state.epoch == 2:
                os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt, match="after epoch 2"):
        trainer(epochs=9, checkpoint_path=str(path)).fit(small_node(), rotation_data(), callbacks=[CtrlC()])
    payload = read_checkpoint(path)
    assert payload["epoch"] == 2 and payload["status"] == "interrupted"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _resumed(name, path, **options):
    """Continue from the checkpoint at ``path`` with a fresh model, as ``dyncore train --resume`` does."""
    checkpoint = Checkpoint.read(path)
    return trainer(name, **{**checkpoint.options, **options}).fit(small_node(), rotation_data(), resume=checkpoint)


class _SignalsDuringSteps(dyncore.Callback):
    """Sends ``signals`` to this process right after the given optimizer steps (counted from 1): mid-epoch."""

    def __init__(self, at_steps):
        self.at_steps, self.steps = dict(at_steps), 0

    def on_train_begin(self, trainer, model, state):
        optimizer = state.optimizer
        step = optimizer.step

        def counted(*args, **kwargs):
            out = step(*args, **kwargs)
            self.steps += 1
            if self.steps in self.at_steps:
                os.kill(os.getpid(), self.at_steps[self.steps])
            return out

        optimizer.step = counted


@pytest.mark.parametrize("epoch", [1, 3], ids=["first-epoch", "later-epoch"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_second_signal_abandons_the_epoch_and_the_checkpoint_resumes_exactly(tmp_path, epoch, sig):
    """Two signals inside one epoch (minibatch: 4 steps per epoch): the checkpoint is the state after the
    previous epoch (weights, Adam moments, shuffling RNG), so resuming gives the uninterrupted history."""
    options = {"epochs": 6, "batch_size": 16, "checkpoint_path": str(tmp_path / "checkpoint.pt")}
    whole = trainer("minibatch", **options).fit(small_node(), rotation_data())
    first = 4 * (epoch - 1) + 1
    with pytest.raises(KeyboardInterrupt, match=f"during epoch {epoch}, which a second signal abandoned") as info:
        trainer("minibatch", **options).fit(small_node(), rotation_data(), callbacks=[_SignalsDuringSteps({first: sig, first + 1: sig})])
    assert info.value.exit_code == 128 + sig
    payload = read_checkpoint(tmp_path / "checkpoint.pt")
    assert payload["epoch"] == epoch - 1 and len(payload["history"]["loss"]) == epoch - 1
    assert _resumed("minibatch", tmp_path / "checkpoint.pt").loss == whole.loss
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_sigterm_finishes_the_epoch_like_ctrl_c(tmp_path):
    with pytest.raises(KeyboardInterrupt, match=r"terminated \(SIGTERM\) after epoch 1") as info:
        trainer("minibatch", epochs=6, batch_size=16, checkpoint_path=str(tmp_path / "c.pt")).fit(
            small_node(), rotation_data(), callbacks=[_SignalsDuringSteps({2: signal.SIGTERM})])
    assert info.value.exit_code == 143 and read_checkpoint(tmp_path / "c.pt")["epoch"] == 1


def test_early_stopping_state_round_trips_through_the_checkpoint(tmp_path):
    """The patience counter and the best loss are checkpointed: interrupted and resumed, the run stops
    at the same epoch as an uninterrupted one (recomputing them from the history does not)."""
    options = {"epochs": 200, "patience": 4, "min_delta": 0.5, "checkpoint_path": str(tmp_path / "checkpoint.pt")}
    whole = trainer(**options).fit(small_node(), rotation_data())
    assert whole.stopped.startswith("early stopping") and len(whole) < 200

    class CtrlC(dyncore.Callback):
        def on_epoch_end(self, trainer, model, state):
            if state.epoch == len(whole) - 2:  # the counter is running by then
                os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        trainer(**options).fit(small_node(), rotation_data(), callbacks=[CtrlC()])
    waited = read_checkpoint(tmp_path / "checkpoint.pt").get("callbacks", {}).get("EarlyStopping", {}).get("wait")
    resumed = _resumed("full_batch", tmp_path / "checkpoint.pt")
    assert (resumed.loss, resumed.stopped) == (whole.loss, whole.stopped)
    assert waited > 0


def test_the_nan_guard_state_round_trips_through_the_checkpoint(tmp_path):
    """A loss that turns NaN in the first epoch after a resume restores the same weights, and names the
    same epoch, as in an uninterrupted run (the guard's last good weights are checkpointed)."""
    path = tmp_path / "checkpoint.pt"
    whole = LinearStepModel(nan_after=5)
    with pytest.raises(TrainingDiverged) as uninterrupted:
        trainer(epochs=8).fit(whole, rotation_data())
    trainer(epochs=4, checkpoint_path=str(path)).fit(LinearStepModel(), rotation_data())
    resumed = LinearStepModel(nan_after=1)
    with pytest.raises(TrainingDiverged) as after_resume:
        trainer(epochs=8).fit(resumed, rotation_data(), resume=Checkpoint.read(path))
    assert str(after_resume.value) == str(uninterrupted.value)
    assert torch.equal(resumed.step.weight, whole.step.weight)


def test_a_callbacks_own_state_round_trips_through_the_checkpoint(tmp_path):
    class Count(dyncore.Callback):
        def __init__(self):
            self.seen = 0

        def on_epoch_end(self, trainer, model, state):
            self.seen += 1

        def state_dict(self):
            return {"seen": self.seen}

        def load_state_dict(self, state):
            self.seen = state["seen"]

    path = tmp_path / "checkpoint.pt"
    first, second, later = Count(), Count(), Count()
    trainer(epochs=3, checkpoint_path=str(path)).fit(small_node(), rotation_data(), callbacks=[first, second])
    assert read_checkpoint(path)["callbacks"]["Count#2"] == {"seen": 3}
    trainer(epochs=5, checkpoint_path=str(path)).fit(small_node(), rotation_data(), callbacks=[later], resume=Checkpoint.read(path))
    assert later.seen == 5


def test_progress_bar_shows_epoch_and_loss():
    stream = io.StringIO()
    trainer(epochs=3).fit(LinearStepModel(), rotation_data(), callbacks=[ProgressBar(stream, interval=0.0)])
    text = stream.getvalue()
    assert "epoch 3/3" in text and "loss" in text and text.endswith("\n")


def test_training_uses_torchs_public_fused_adam():
    from dyncore_training.loop import make_adam

    params = [torch.randn(5, 3, requires_grad=True), torch.randn(3, requires_grad=True)]
    optimizer = make_adam(params, 1e-2, 0.1)
    assert type(optimizer) is torch.optim.Adam and optimizer.defaults["fused"] is True
    assert optimizer.defaults["weight_decay"] == 0.1
    mixed = make_adam([torch.randn(2, requires_grad=True), torch.randn(2, dtype=torch.float64, requires_grad=True)], 1e-2, 0.0)
    assert type(mixed) is torch.optim.Adam and not mixed.defaults["fused"]


# -- closed_form: one call of a model's own fit ----------------------------------------------------
class _ClosedFormStep(LinearStepModel):
    """The kit's linear step model with a least-squares fit: x_{k+1} - x_k = A x_k solved exactly."""

    name = "closed_form_test_model"
    default_trainer = "closed_form"
    default_hparams = {"nan_after": 0, "broken": False}

    def fit_closed_form(self, examples):
        x, y = examples["x0"], examples["target"][:, 0] - examples["x0"]
        self.step.weight.copy_(torch.linalg.lstsq(x, y).solution.T)
        return self.loss(examples) * (float("nan") if self.hparams["broken"] else 1.0)


def test_closed_form_fits_once_and_is_the_default_of_such_models():
    run = dyncore.train(_ClosedFormStep(), rotation_data())
    assert run.config["trainer"]["name"] == "closed_form" and len(run.history) == 1
    assert run.history.loss[0] < 1e-20


def test_closed_form_refuses_a_model_without_a_closed_form():
    with pytest.raises(ConfigError, match="no closed-form fit.*full_batch"):
        trainer("closed_form").fit(LinearStepModel(), rotation_data())
    with pytest.raises(ConfigError, match="epochs"):
        trainer("closed_form", epochs=3)


def test_closed_form_nan_keeps_the_untrained_weights():
    model = _ClosedFormStep(broken=True)
    with pytest.raises(TrainingDiverged, match="closed-form fit gave loss nan"):
        trainer("closed_form").fit(model, rotation_data())
    assert torch.isfinite(model.step.weight).all()
