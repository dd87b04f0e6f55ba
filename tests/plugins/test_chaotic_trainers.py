"""The multistep and shooting trainers: curriculum, regularisers, L-BFGS polish, segments, exact resume."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import torch
from dyncore_training.regularisers import JacobianPairs

import dyncore
from dyncore.checkpoint import Checkpoint
from dyncore.errors import ConfigError
from dyncore.testing import parametrize_with_checks
from dyncore.testing.trainers import LinearStepModel, rotation_data


def trainer(name="multistep", **options):
    return dyncore.trainers.create(name, **{"progress": False, **options})


def small_node():
    return dyncore.models.create("node", hidden=16, activation="tanh")


@parametrize_with_checks(["trainers:multistep"])
def test_conformance(component, check):
    check(component)


def test_multistep_without_options_is_full_batch():
    plain = trainer("full_batch", epochs=6, lookahead=2).fit(small_node(), rotation_data())
    assert trainer(epochs=6, lookahead=2).fit(small_node(), rotation_data()).loss == plain.loss


def test_the_curriculum_cuts_the_adam_epochs_into_equal_stages():
    t = trainer(epochs=9, lbfgs_epochs=3, curriculum="1,2,4")
    assert [t.lookahead_at(e) for e in range(9)] == [1, 1, 2, 2, 4, 4, 4, 4, 4]
    assert trainer(curriculum=[1, 3]).stages == (1, 3)
    one_stage = trainer(epochs=5, curriculum="3").fit(small_node(), rotation_data())
    assert one_stage.loss == trainer("full_batch", epochs=5, lookahead=3).fit(small_node(), rotation_data()).loss


@pytest.mark.parametrize(("options", "match"), [
    ({"curriculum": "1,x"}, "curriculum is a list of lookaheads >= 1"),
    ({"curriculum": [1, 0]}, "curriculum is a list of lookaheads >= 1"),
    ({"curriculum": "1,2", "lookahead": 2}, "either curriculum or lookahead"),
    ({"epochs": 5, "lbfgs_epochs": 6}, "lbfgs_epochs .6. are the last of the 5 epochs"),
    ({"noise": -1.0}, "noise must be a non-negative number"),
])
def test_bad_options_are_refused(options, match):
    with pytest.raises(ConfigError, match=match):
        trainer(**options)


def test_a_curriculum_longer_than_the_data_is_refused_before_training():
    model = small_node()
    with pytest.raises(ConfigError, match="curriculum goes up to lookahead 80, which needs at least 81 time points, but the data have 60"):
        trainer(curriculum="1,80").fit(model, rotation_data())
    assert model.dim is None  # refused before anything was built


def test_input_noise_is_seeded_and_changes_the_training():
    noisy = [trainer(epochs=4, noise=0.05, seed=s).fit(small_node(), rotation_data()).loss for s in (1, 1, 2)]
    clean = trainer(epochs=4, seed=1).fit(small_node(), rotation_data()).loss
    assert noisy[0] == noisy[1] and noisy[0] != noisy[2] and noisy[0] != clean


class _LinearField:
    """A stand-in model whose vector field is ``A x``: Jacobian matching only calls ``vector_field``."""

    def __init__(self, a):
        self.a = torch.as_tensor(a, dtype=torch.float64)

    def vector_field(self, t, x):
        return x @ self.a.T


def test_jacobian_targets_are_the_datas_own_derivatives():
    """On data of dx/dt = A x (derivatives by finite differences only) the true field scores ~0, a wrong one ~1."""
    a = np.array([[-0.05, -1.0], [1.0, -0.05]])
    t = np.arange(400) * 0.05
    data = dyncore.Trajectory(t, np.exp(-0.05 * t)[:, None] * np.stack([np.cos(t), np.sin(t)], axis=-1))
    pairs = JacobianPairs.from_data(data, 4, torch.float64, torch.device("cpu"))
    assert len(pairs.mid) > 100
    assert float(pairs.loss(_LinearField(a))) < 1e-4
    assert float(pairs.loss(_LinearField(a.T))) > 0.5


def test_jacobian_matching_trains_and_needs_a_vector_field():
    history = trainer(epochs=3, jacobian=0.1, jacobian_neighbours=2).fit(small_node(), rotation_data(200))
    assert history.loss != trainer(epochs=3).fit(small_node(), rotation_data(200)).loss
    with pytest.raises(ConfigError, match="jacobian matching needs a model with a vector field"):
        trainer(epochs=3, jacobian=0.1).fit(dyncore.models.create("rnn", hidden=8), rotation_data(200))


def test_the_lbfgs_polish_lowers_the_loss_further():
    history = trainer(epochs=40, lbfgs_epochs=10).fit(small_node(), rotation_data())
    assert history.loss[-1] < history.loss[29] and history.lr[-1] == 1.0


def test_the_lbfgs_polish_keeps_going_at_tiny_losses():
    """torch's default gradient tolerance (1e-7) would stop L-BFGS at once here: the polish is for exactly these losses."""
    history = trainer(epochs=300, lbfgs_epochs=5).fit(LinearStepModel(), rotation_data())
    assert history.loss[294] < 1e-10 and history.loss[-1] < history.loss[294] / 10


def test_lbfgs_on_a_minibatch_trainer_is_refused():
    with pytest.raises(ConfigError, match="L-BFGS needs the full batch.*trainer 'multistep'"):
        trainer("minibatch", lbfgs_epochs=10)


class _CtrlCAt(dyncore.Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, trainer, model, state):
        if state.epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGINT)


def _resumed(name, path, data):
    checkpoint = Checkpoint.read(path)
    return trainer(name, **checkpoint.options).fit(small_node(), data, resume=checkpoint)


CASES = {  # trainer, options, data; interrupted in the Adam epochs and in the L-BFGS epochs
    "curriculum+noise+lbfgs": ("multistep", {"epochs": 16, "lbfgs_epochs": 6, "curriculum": "1,2", "noise": 0.01}, rotation_data()),
    "shooting-learned+lbfgs": ("shooting", {"epochs": 16, "lbfgs_epochs": 6, "segment_steps": 5}, rotation_data()),
}


@pytest.mark.parametrize("stop", [4, 13], ids=["mid-adam", "mid-lbfgs"])
@pytest.mark.parametrize("case", list(CASES))
def test_interrupted_and_resumed_is_bit_identical(tmp_path, case, stop):
    name, options, data = CASES[case]
    path = tmp_path / "checkpoint.pt"
    whole = trainer(name, **options).fit(small_node(), data)
    with pytest.raises(KeyboardInterrupt, match=f"after epoch {stop}"):
        trainer(name, checkpoint_path=str(path), **options).fit(small_node(), data, callbacks=[_CtrlCAt(stop)])
    assert Checkpoint.read(path).epoch == stop
    assert _resumed(name, path, data).loss == whole.loss


@pytest.mark.parametrize("case", list(CASES))
def test_a_second_signal_in_an_lbfgs_epoch_rolls_it_back_exactly(tmp_path, case, monkeypatch):
    """Two signals inside the line search of L-BFGS epoch 13: the checkpoint holds epoch 12, L-BFGS memory included."""
    name, options, data = CASES[case]
    path = tmp_path / "checkpoint.pt"
    whole = trainer(name, **options).fit(small_node(), data)
    t = trainer(name, checkpoint_path=str(path), **options)
    calls = {"n": 0}
    objective = t.objective

    def signalling(model, batch, state, noisy):
        if state.epoch == 12:
            calls["n"] += 1
            if calls["n"] in (1, 2):  # the step's first evaluation, then inside its line search
                os.kill(os.getpid(), signal.SIGINT)
        return objective(model, batch, state, noisy)

    monkeypatch.setattr(t, "objective", signalling)
    with pytest.raises(KeyboardInterrupt, match="during epoch 13, which a second signal abandoned"):
        t.fit(small_node(), data)
    assert Checkpoint.read(path).epoch == 12
    assert _resumed(name, path, data).loss == whole.loss


def test_shooting_segments_must_fit_the_data_twice():
    with pytest.raises(ConfigError, match="segments of 30 steps do not fit the data twice .60 time points give 1 segment.s..; "
                                          "multiple shooting needs at least 2, so use segment_steps <= 29"):
        trainer("shooting", segment_steps=30).fit(small_node(), rotation_data())
    with pytest.raises(ConfigError, match="drop curriculum"):
        trainer("shooting", curriculum="1,2")


def test_shooting_starts_move_from_the_data_only_when_learned(tmp_path):
    for starts in ("learned", "data"):
        path = tmp_path / f"{starts}.pt"
        trainer("shooting", epochs=10, segment_steps=5, starts=starts, checkpoint_path=str(path)).fit(small_node(), rotation_data())
        extra = Checkpoint.read(path).extra
        if starts == "data":
            assert "starts" not in extra
            continue
        data = torch.as_tensor(rotation_data().x[0:55:5])
        mean, scale = data.new_tensor(rotation_data().x.mean(0)), data.new_tensor(rotation_data().x.std(0))
        moved = (extra["starts"].double() * scale + mean - data).abs().max()
        assert 0 < moved < 0.5



def test_the_chaotic_recipe_trains_a_smooth_node_with_multistep():
    run = dyncore.train("node", rotation_data(), recipe="chaotic", epochs=2, hparams={"hidden": 8}, progress=False)
    assert run.config["recipe"] == "chaotic" and run.config["trainer"]["name"] == "multistep"
    assert (run.model.hparams["activation"], run.model.hparams["depth"]) == ("gelu", 2)
