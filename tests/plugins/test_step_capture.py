"""The full-batch step runner: graph capture and replay (by a stand-in graph on CPU), its check and fallback, compile."""

from __future__ import annotations

import logging

import pytest
import torch
from dyncore_training.loop import make_adam
from dyncore_training.step_capture import StepRunner

import dyncore
from dyncore.errors import ConfigError
from dyncore.testing.trainers import rotation_data


class ReplayByCalling:
    """A CPU stand-in for a CUDA graph: capture runs the step once (a real capture runs nothing) and
    replay runs it again, refilling the captured output in place, as a graph refills its static tensors."""

    captures = 0

    def capture(self, fn):
        ReplayByCalling.captures += 1
        self.fn = fn
        self.out = fn()
        return self.out

    def replay(self):
        self.out.copy_(self.fn())


class FailsToCapture(ReplayByCalling):
    def capture(self, fn):
        fn()  # a capture that fails half-way, after running part of the step
        raise RuntimeError("operation not permitted when stream is capturing")


class WrongReplay(ReplayByCalling):
    """Replays something else than the step (as a model with host-side state that changes would)."""

    def replay(self):
        super().replay()
        with torch.no_grad():
            for p in self.params:
                p.add_(1e-3)


MODELS = {"node": {"hidden": 16}, "rnn": {"hidden": 8}, "hybrid": {"known": "spiral", "hidden": 8}}


def fit(epochs=12, model="node", **options):
    data = rotation_data()
    trainer = dyncore.trainers.create("full_batch", epochs=epochs, seed=0, progress=False, **options)
    model = dyncore.models.create(model, **MODELS[model])
    history = trainer.fit(model, data)
    return history, model


def train_with_graph(graph_cls, epochs=12, monkeypatch=None, model="node"):
    """Like :func:`fit`, but every StepRunner gets ``graph_cls`` as its graph factory."""
    import dyncore_training.full_batch as full_batch

    original = full_batch.StepRunner

    def runner(model, examples, optimizer, capture, compile):
        factory = graph_cls
        if graph_cls is WrongReplay:
            def factory():
                g = WrongReplay()
                g.params = [p for group in optimizer.param_groups for p in group["params"]]
                return g
        return original(model, examples, optimizer, capture, compile, graph_factory=factory)

    monkeypatch.setattr(full_batch, "StepRunner", runner)
    trainer = dyncore.trainers.create("full_batch", epochs=epochs, seed=0, progress=False, lr_drop=0.5)
    model = dyncore.models.create(model, **MODELS[model])
    history = trainer.fit(model, rotation_data())
    return history, model, trainer


@pytest.mark.parametrize("name", list(MODELS))
def test_replayed_steps_give_the_eager_losses_and_weights_bit_for_bit(monkeypatch, name):
    """Capture after the warm-up, a second capture at the lr drop, replay in between: the same numbers as eager."""
    eager, eager_model = fit(lr_drop=0.5, model=name)
    ReplayByCalling.captures = 0
    graphed, model, trainer = train_with_graph(ReplayByCalling, monkeypatch=monkeypatch, model=name)
    assert trainer.step_mode == "graph"
    assert ReplayByCalling.captures == 2  # at epoch 3 and again when the lr drops (epoch 7)
    assert graphed.loss == eager.loss and graphed.nfe == eager.nfe
    for a, b in zip(model.parameters(), eager_model.parameters()):
        assert torch.equal(a, b)


def test_a_failed_capture_falls_back_to_eager_with_one_notice(monkeypatch, caplog):
    eager, eager_model = fit(lr_drop=0.5)
    with caplog.at_level(logging.INFO, logger="dyncore"):
        history, model, trainer = train_with_graph(FailsToCapture, monkeypatch=monkeypatch)
    notices = [r.message for r in caplog.records if "captured" in r.message]
    assert len(notices) == 1 and "could not be captured" in notices[0] and "training eagerly" in notices[0]
    assert trainer.step_mode == "eager"
    assert history.loss == eager.loss
    for a, b in zip(model.parameters(), eager_model.parameters()):
        assert torch.equal(a, b)


def test_a_graph_that_does_not_reproduce_the_eager_step_is_dropped(monkeypatch, caplog):
    eager, eager_model = fit(lr_drop=0.5)
    with caplog.at_level(logging.INFO, logger="dyncore"):
        history, model, trainer = train_with_graph(WrongReplay, monkeypatch=monkeypatch)
    assert any("did not reproduce" in r.message for r in caplog.records)
    assert trainer.step_mode == "eager" and history.loss == eager.loss
    for a, b in zip(model.parameters(), eager_model.parameters()):
        assert torch.equal(a, b)


def test_auto_capture_stays_eager_on_cpu_and_for_models_that_do_not_declare_it():
    model = dyncore.models.create("node", hidden=8)
    model.prepare(rotation_data())
    examples = model.examples(rotation_data())
    optimizer = make_adam(list(model.parameters()), 1e-2, 0.0)
    assert not StepRunner(model, examples, optimizer, "auto").use_graph  # CPU
    history, _ = fit(epochs=4)
    assert len(history) == 4


def test_capture_true_needs_cuda_and_bad_options_are_config_errors():
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="capture=true needs a CUDA device"):
            fit(epochs=2, capture=True)
    with pytest.raises(ConfigError, match="capture must be auto, true or false"):
        dyncore.trainers.create("full_batch", capture="yes")
    with pytest.raises(ConfigError, match="compile must be"):
        dyncore.trainers.create("full_batch", compile=3)


@pytest.mark.slow
def test_compiled_loss_tracks_the_eager_one():
    """compile= goes through torch.compile (the NODE's autograd path, which the compiler can trace); the
    'aot_eager' backend traces forward and backward without a C compiler (about 15 s on the 2-core machine)."""
    pytest.importorskip("torch._dynamo")
    eager, _ = fit(epochs=5, lr_drop=1.0)
    history, model = fit(epochs=5, lr_drop=1.0, compile="aot_eager")
    torch.testing.assert_close(torch.tensor(history.loss), torch.tensor(eager.loss), rtol=1e-5, atol=1e-9)


def test_a_compile_that_fails_while_training_falls_back_to_eager(monkeypatch, caplog):
    """A backend that breaks on the first call: one notice, and the eager losses."""
    import dyncore_training.step_capture as step_capture

    def broken(fn, **kwargs):
        def call(*args):
            raise RuntimeError("backend blew up")
        return call

    monkeypatch.setattr(step_capture.torch, "compile", broken)
    eager, _ = fit(epochs=4)
    with caplog.at_level(logging.INFO, logger="dyncore"):
        history, _ = fit(epochs=4, compile=True)
    assert [r.message for r in caplog.records if "compile" in r.message] == [
        "torch.compile of the model's loss failed (RuntimeError: backend blew up); training without it"]
    assert history.loss == eager.loss
