"""dyncore.train and Run: run directories, Run.load, resume, refusals, corrupt checkpoints, predict."""

from __future__ import annotations

import json
import os
import pickle
import signal
import socket
import subprocess

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dyncore
from dyncore.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    DyncoreError,
    OutputExistsError,
    RunLockedError,
    TrainingDiverged,
)
from dyncore.run import CHECKPOINT, CONFIG, HISTORY, LOCK, RUN_FORMAT, SNAPSHOTS, WEIGHTS, Run, train
from dyncore.testing.models import decaying_rotation
from dyncore.trajectory import Trajectory

SMALL = {"hidden": 16}



@pytest.fixture
def data():
    return decaying_rotation(n=40)


def run_files(path):
    return {name: (path / name).read_bytes() for name in sorted(os.listdir(path))}


def test_train_writes_a_complete_run_that_loads_back(tmp_path, data):
    out = tmp_path / "run"
    run = train("node", data, hparams=SMALL, out=out, epochs=10, snapshot_every=5, progress=False)
    assert sorted(os.listdir(out)) == sorted([CONFIG, WEIGHTS, HISTORY, SNAPSHOTS, CHECKPOINT])
    assert run.status == "complete" and len(run.history) == 10
    config = run.config
    assert config["model"]["hparams"]["hidden"] == 16 and config["trainer"]["name"] == "full_batch"
    assert config["data"]["hash"] == data.content_hash() and set(config["versions"]) >= {"dyncore", "torch"}
    loaded = Run.load(out)
    assert loaded.history.loss == run.history.loss and sorted(loaded.history.snapshots) == [5, 10]
    np.testing.assert_array_equal(loaded.snapshot_t, data.t)
    t = torch.as_tensor(data.t[:15])
    with torch.no_grad():
        assert torch.equal(run.model.rollout(torch.as_tensor(data.x[:1]), t), loaded.model.rollout(torch.as_tensor(data.x[:1]), t))


def test_weights_are_a_plain_state_dict(tmp_path, data):
    train("rnn", data, hparams=SMALL, out=tmp_path / "r", epochs=2, progress=False)
    state = torch.load(tmp_path / "r" / WEIGHTS, weights_only=True)
    assert "norm.mean" in state and "dt" in state and float(state["dt"]) == pytest.approx(0.1)


def test_existing_run_is_refused_and_left_alone(tmp_path, data):
    out = tmp_path / "run"
    train("node", data, hparams=SMALL, out=out, epochs=3, progress=False)
    before = run_files(out)
    with pytest.raises(OutputExistsError, match="--resume.*--force"):
        train("node", data, hparams=SMALL, out=out, epochs=3, progress=False)
    assert run_files(out) == before
    train("node", data, hparams={"hidden": 8}, out=out, epochs=2, force=True, progress=False)
    assert Run.load(out).model.hparams["hidden"] == 8 and len(Run.load(out).history) == 2


def test_force_replaces_only_a_run_never_other_files(tmp_path, data):
    """--force into a folder that holds no dyncore run (here the user's own config.json) is refused."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text('{"my": "settings"}')
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(OutputExistsError, match=r"holds files that are not a dyncore run \(config.json, notes.txt\)"):
        train("node", data, hparams=SMALL, out=mine, epochs=2, force=True, progress=False)
    assert run_files(mine) == {"config.json": b'{"my": "settings"}', "notes.txt": b"keep"}
    out = tmp_path / "run"
    train("node", data, hparams=SMALL, out=out, epochs=2, progress=False)
    (out / "notes.txt").write_text("keep")
    train("node", data, hparams=SMALL, out=out, epochs=3, force=True, progress=False)  # a run (and a user's note in it)
    assert len(Run.load(out).history) == 3 and (out / "notes.txt").read_text() == "keep"


def test_a_run_directory_is_locked_while_training(tmp_path, data):
    """A second trainer into the same directory gets one line naming the holder; nothing is written."""
    out = tmp_path / "run"
    seen = []

    class Second(dyncore.Callback):
        def on_epoch_end(self, trainer, model, state):
            if state.epoch == 1:
                with pytest.raises(RunLockedError, match=rf"{out} is in use: dyncore process {os.getpid()} on \S+ is training"):
                    train("node", data, hparams=SMALL, out=out, epochs=2, force=True, progress=False)
                seen.append(sorted(os.listdir(out)))

    train("node", data, hparams=SMALL, out=out, epochs=2, callbacks=[Second()], progress=False)
    assert seen == [[LOCK]]  # the refused trainer wrote (and removed) nothing
    assert LOCK not in os.listdir(out) and len(Run.load(out).history) == 2


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path, data):
    out = tmp_path / "run"
    out.mkdir()
    finished = subprocess.Popen(["true"])
    finished.wait()
    (out / LOCK).write_text(f"{finished.pid} {socket.gethostname()}\n")  # left by a killed run
    train("node", data, hparams=SMALL, out=out, epochs=2, progress=False)
    assert LOCK not in os.listdir(out) and len(Run.load(out).history) == 2


def test_an_unwritable_run_directory_is_refused_before_training(tmp_path, data):
    class Started(dyncore.Callback):
        def on_train_begin(self, trainer, model, state):
            raise AssertionError("training started")

    (tmp_path / "blocker").write_text("a file")
    with pytest.raises(DyncoreError, match="blocker is a file, not a directory"):
        train("node", data, hparams=SMALL, out=tmp_path / "blocker" / "run", callbacks=[Started()], progress=False)
    with pytest.raises(DataError, match="at least"):  # bad input: the directory the lock made is gone again
        train("rnn", decaying_rotation(n=3), out=tmp_path / "new" / "run", epochs=2)
    assert not (tmp_path / "new").exists()


def test_bad_input_writes_nothing(tmp_path, data):
    out = tmp_path / "run"
    with pytest.raises(DataError, match="at least"):
        train("rnn", decaying_rotation(n=3), out=out, epochs=2)
    with pytest.raises(ConfigError, match="did you mean 'hidden'"):
        train("node", data, hparams={"hiden": 3}, out=out)
    with pytest.raises(ConfigError, match="did you mean 'node'"):
        train("nodes", data, out=out)
    assert not out.exists()


@pytest.mark.parametrize("model", ["node", "rnn"])
def test_resume_reproduces_an_uninterrupted_run(tmp_path, data, model):
    whole = train(model, data, hparams=SMALL, out=tmp_path / "a", epochs=12, snapshot_every=4, progress=False)

    class StopAt5(dyncore.Callback):
        def on_epoch_end(self, trainer, model, state):
            return state.epoch == 5

    part = train(model, data, hparams=SMALL, out=tmp_path / "b", epochs=12, snapshot_every=4, callbacks=[StopAt5()], progress=False)
    assert part.status == "stopped" and len(part.history) == 5
    resumed = train(model, data, out=tmp_path / "b", resume=True)
    assert resumed.history.loss == whole.history.loss
    assert sorted(resumed.history.snapshots) == [4, 8, 12]
    assert Run.load(tmp_path / "b").history.loss == whole.history.loss


def test_ctrl_c_saves_a_resumable_run(tmp_path, data):
    whole = train("node", data, hparams=SMALL, epochs=8, progress=False)

    class CtrlC(dyncore.Callback):
        def on_epoch_end(self, trainer, model, state):
            if state.epoch == 3:
                os.kill(os.getpid(), signal.SIGINT)

    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train("node", data, hparams=SMALL, out=out, epochs=8, callbacks=[CtrlC()], progress=False)
    assert Run.load(out).status == "interrupted" and len(Run.load(out).history) == 3
    assert train("node", data, out=out, resume=True).history.loss == whole.history.loss


def test_resume_can_extend_the_epochs(tmp_path, data):
    train("node", data, hparams=SMALL, out=tmp_path / "r", epochs=4, progress=False)
    assert len(train("node", data, out=tmp_path / "r", resume=True, epochs=6).history) == 6


def test_resume_refuses_other_data_and_missing_checkpoints(tmp_path, data):
    with pytest.raises(CheckpointError, match="not a run directory"):
        train("node", data, out=tmp_path / "none", resume=True)
    train("node", data, hparams=SMALL, out=tmp_path / "r", epochs=2, progress=False)
    with pytest.raises(CheckpointError, match="other data"):
        train("node", decaying_rotation(n=41), out=tmp_path / "r", resume=True)
    with pytest.raises(ConfigError, match="trained model 'node'"):
        train("rnn", data, out=tmp_path / "r", resume=True)


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "corrupt"),
        (b"not a zip file at all", "corrupt"),
        ("foreign", "not a dyncore checkpoint"),
        ("pickle", "corrupt"),
    ],
)
def test_corrupt_or_foreign_checkpoints_are_one_line_errors(tmp_path, data, content, match):
    out = tmp_path / "r"
    train("node", data, hparams=SMALL, out=out, epochs=2, progress=False)
    if content == "foreign":
        torch.save({"state_dict": {"w": torch.zeros(2)}}, out / CHECKPOINT)
    elif content == "pickle":  # arbitrary objects must not be unpickled
        (out / CHECKPOINT).write_bytes(pickle.dumps(Trajectory(data.t, data.x), protocol=2))
    else:
        (out / CHECKPOINT).write_bytes(content)
    with pytest.raises(CheckpointError, match=match) as info:
        train("node", data, out=out, resume=True)
    assert "\n" not in str(info.value)


def test_load_refuses_damaged_runs(tmp_path, data):
    out = tmp_path / "r"
    train("node", data, hparams=SMALL, out=out, epochs=2, progress=False)
    torch.save({"layer.weight": torch.zeros(3)}, out / WEIGHTS)
    with pytest.raises(CheckpointError, match="does not match"):
        Run.load(out)
    (out / CONFIG).write_text("{}")
    with pytest.raises(CheckpointError, match="not a dyncore run config"):
        Run.load(out)


def test_divergence_saves_the_run_then_raises(tmp_path, data):
    out = tmp_path / "r"
    with pytest.raises(TrainingDiverged):
        train("node", Trajectory(data.t, data.x), hparams={**SMALL, "normalize": False}, out=out, epochs=50, lr=1e9, lr_final=None, progress=False)
    run = Run.load(out)
    assert run.status == "diverged" and all(torch.isfinite(p).all() for p in run.model.parameters())


def test_predict_defaults_to_the_training_start_and_grid(tmp_path, data):
    run = train("rnn", data, hparams=SMALL, out=tmp_path / "r", epochs=3, progress=False)
    prediction = Run.load(tmp_path / "r").predict()
    assert prediction.n == data.n and np.allclose(prediction.t, data.t) and np.allclose(prediction.x[:3], data.x[:3])
    assert run.predict(list(data.x[:3].ravel()), t_end=2.0).n == 21
    with pytest.raises(ConfigError, match="needs 6 numbers"):
        run.predict([1.0, 0.0])
    with pytest.raises(DataError, match="trained with dt = 0.1"):
        run.predict(t_end=2.0, dt=0.05)
    from_data = run.predict(data=decaying_rotation(n=20))
    assert from_data.n == 20 and from_data.meta["start"] == "trajectory"


def test_resume_accepts_the_same_hyperparameters_and_refuses_changed_ones(tmp_path, data):
    dyncore.train("node", data, out=tmp_path / "run", epochs=3, hparams={"hidden": 16})
    resumed = dyncore.train("node", data, out=tmp_path / "run", resume=True, epochs=4, hparams={"hidden": 16})
    assert len(resumed.history) == 4
    with pytest.raises(ConfigError, match=r"fixed by the run being resumed \(hidden differ\)"):
        dyncore.train("node", data, out=tmp_path / "run", resume=True, epochs=5, hparams={"hidden": 32})


def test_a_saved_run_checkpoints_periodically_by_default(tmp_path, data):
    run = dyncore.train("node", data, out=tmp_path / "run", epochs=2, hparams={"hidden": 8})
    assert run.config["trainer"]["options"]["checkpoint_every"] == 100


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                         st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                                      max_leaves=10).map(lambda v: json.dumps(v).encode())),
       model=st.one_of(st.none(), st.text(max_size=5), st.fixed_dictionaries(
           {"model": st.sampled_from(["node", "rnn", "nope", 3])},
           optional={"hparams": st.one_of(st.integers(), st.dictionaries(st.sampled_from(["hidden", "window", "bogus"]),
                                                                        st.one_of(st.integers(-1, 4), st.text(max_size=3)))),
                     "dim": st.one_of(st.integers(-2, 4), st.text(max_size=3), st.none())})))
def test_any_config_file_is_read_or_refused_in_one_line(tmp_path, content, model):
    """Random bytes, random JSON, and run-like envelopes around random model specs: loaded or one CheckpointError."""
    if model is not None:
        content = json.dumps({"format": RUN_FORMAT, "version": 1, "model": model}).encode()
    run = tmp_path / "fuzzed"
    run.mkdir(exist_ok=True)
    (run / CONFIG).write_bytes(content)
    try:
        Run.load(run)
    except CheckpointError as exc:
        assert "\n" not in str(exc)
