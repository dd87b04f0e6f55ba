"""dyncore.checkpoint: the one owner of the checkpoint layout (write, read, the dict interface kept)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import dyncore
from dyncore.checkpoint import CHECKPOINT_VERSION, Checkpoint, read_checkpoint, write_checkpoint
from dyncore.errors import CheckpointError
from dyncore.run import CHECKPOINT
from dyncore.testing.models import decaying_rotation
from dyncore.trainer import History

#: The payload keys of version 1, as the files written before dyncore.checkpoint existed hold them.
VERSION_1_KEYS = {"format", "version", "model", "trainer", "data_hash", "epoch", "status", "model_state", "optimizer_state",
                  "rng", "callbacks", "guard", "history", "snapshots"}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "run"
    run = dyncore.train("node", decaying_rotation(n=30), hparams={"hidden": 8}, out=out, epochs=4, snapshot_every=2, progress=False)
    return run, out / CHECKPOINT


def test_a_saved_run_checkpoint_reads_back_typed(saved):
    run, path = saved
    checkpoint = Checkpoint.read(path)
    assert (checkpoint.trainer, checkpoint.epoch, checkpoint.status) == ("full_batch", 4, "complete")
    assert checkpoint.model == run.model.config() and checkpoint.options == run.config["trainer"]["options"]
    assert "checkpoint_path" not in checkpoint.options and "progress" not in checkpoint.options
    assert isinstance(checkpoint.history, History) and checkpoint.history.loss == run.history.loss
    assert sorted(checkpoint.history.snapshots) == [2, 4]
    assert set(checkpoint.model_state) == set(run.model.state_dict())


def test_the_file_layout_is_version_1_unchanged(saved):
    """Checkpoints written by earlier releases and by this one hold the same plain payload."""
    _, path = saved
    payload = torch.load(path, weights_only=True)
    assert set(payload) == VERSION_1_KEYS and payload["format"] == "dyncore-checkpoint" and payload["version"] == CHECKPOINT_VERSION == 1
    assert set(payload["trainer"]) == {"name", "options"} and payload["history"]["loss"] == read_checkpoint(path)["history"]["loss"]


def test_write_then_read_round_trips_with_a_trainers_own_entries(saved, tmp_path):
    _, path = saved
    checkpoint = Checkpoint.read(path)
    checkpoint.extra["curriculum"] = {"stage": 3, "weights": torch.ones(2)}
    again = Checkpoint.read(checkpoint.write(tmp_path / "c.pt"))
    assert again.extra["curriculum"]["stage"] == 3 and torch.equal(again.extra["curriculum"]["weights"], torch.ones(2))
    assert again.history.loss == checkpoint.history.loss and again.epoch == checkpoint.epoch
    write_checkpoint(tmp_path / "d.pt", read_checkpoint(path))  # the dict interface of earlier releases
    assert Checkpoint.read(tmp_path / "d.pt").to_payload().keys() == checkpoint.to_payload().keys() - {"curriculum"}


@pytest.mark.parametrize(("change", "match"), [
    ({"version": 2}, r"has checkpoint version 2, this dyncore reads 1; train again with --force"),
    ({"format": "other"}, r"is not a dyncore checkpoint \(foreign file\)"),
    ({"history": {"loss": [1.0]}}, r"its history or snapshots are malformed; the checkpoint is damaged: train again with --force"),
    ({"epoch": -1}, r"its epoch must be an integer >= 0, got -1"),
])
def test_damaged_payloads_are_one_line_errors(saved, tmp_path, change, match):
    _, path = saved
    payload = {**torch.load(path, weights_only=True), **change}
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=match) as info:
        Checkpoint.read(tmp_path / "bad.pt")
    assert "\n" not in str(info.value) and str(tmp_path / "bad.pt") in str(info.value)


def test_only_the_checkpoint_module_spells_the_format():
    """One owner: the format name and version are written nowhere else in the core or the built-in plugins."""
    root = Path(dyncore.__file__).parents[1]
    found = [str(p.relative_to(root)) for folder in ("dyncore", "plugins") for p in sorted((root / folder).rglob("*.py"))
             if "dyncore-checkpoint" in p.read_text() or "CHECKPOINT_VERSION =" in p.read_text()]
    assert found == ["dyncore/checkpoint.py"], found
