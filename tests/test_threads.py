"""Torch's intra-op threads: dyncore's default by problem size, and who wins when several choose."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import dyncore
from dyncore import threads
from dyncore.cli import cli
from dyncore.errors import ConfigError


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    """No thread variables from the outside, torch at a count that is its default here, no set_threads left over."""
    for name in (threads.VARIABLE, *threads.USER_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "_torch_defaults", lambda: {torch.get_num_threads()})
    monkeypatch.setattr(threads, "available_cpus", lambda: 4)
    yield
    threads.set_threads(None)


def test_small_work_gets_one_thread_and_large_work_more_up_to_the_cpus():
    assert threads.auto_threads(None) == 1
    assert threads.auto_threads(999 * 768) == 1  # the default NODE on the reference Lorenz data
    assert threads.auto_threads(999 * 128 * 128) == 1  # the default RNN (its 128 x 128 recurrent matrix)
    assert threads.auto_threads(2 * threads.WORK_PER_THREAD) == 2
    assert threads.auto_threads(100 * threads.WORK_PER_THREAD) == 4


def test_precedence_explicit_then_variable_then_the_users_torch_setting_then_auto(monkeypatch):
    big = 100 * threads.WORK_PER_THREAD
    assert threads.choose_threads(big) == threads.ThreadChoice(4, "auto", big)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.choose_threads(big).source == "OMP_NUM_THREADS"
    monkeypatch.setenv("DYNCORE_THREADS", "3")
    assert threads.choose_threads(big).threads == 3 and threads.choose_threads(big).source == "DYNCORE_THREADS"
    monkeypatch.setenv("DYNCORE_THREADS", "auto")  # auto even over the user's OpenMP setting
    assert threads.choose_threads(big).source == "auto"
    threads.set_threads(2)
    assert threads.choose_threads(big) == threads.ThreadChoice(2, "explicit", big)
    assert threads.choose_threads(big, threads=1).threads == 1  # a call's own argument first


def test_a_users_torch_set_num_threads_is_kept_and_a_scope_restores_torch(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "_torch_defaults", lambda: {before + 1})  # so `before` reads as the user's choice
    with threads.threads_for(100 * threads.WORK_PER_THREAD) as outer:
        assert outer.source == "torch.set_num_threads" and torch.get_num_threads() == before
        with threads.threads_for(None) as inner:  # a nested dyncore call keeps the user's count too
            assert inner.source == "torch.set_num_threads" and torch.get_num_threads() == before
    monkeypatch.setattr(threads, "_torch_defaults", lambda: {before})
    with threads.threads_for(None, threads=before + 1) as choice:
        assert choice.threads == torch.get_num_threads() == before + 1
        assert threads.choose_threads(None).threads == before + 1  # explicit holds for calls inside
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "many", ""])
def test_bad_settings_are_refused(bad, monkeypatch):
    with pytest.raises(ConfigError, match="must be a positive number of threads or auto"):
        threads.set_threads(bad)
    monkeypatch.setenv("DYNCORE_THREADS", str(bad))
    if str(bad):
        with pytest.raises(ConfigError, match="DYNCORE_THREADS must be a positive number"):
            threads.env_threads()


def test_train_records_its_choice_and_runs_on_it(tmp_path):
    data = dyncore.simulate("lorenz", t=np.linspace(0, 2, 101))
    seen = []

    class Spy(dyncore.Callback):
        def on_epoch_end(self, trainer, model, state):
            seen.append(torch.get_num_threads())

    run = dyncore.train("node", data, out=tmp_path / "run", epochs=2, hparams={"hidden": 8}, threads=2, callbacks=[Spy()])
    assert seen == [2, 2] and run.config["threads"] == {"threads": 2, "source": "explicit", "work": 100 * 24.0}
    assert json.loads((tmp_path / "run" / "config.json").read_text())["threads"]["threads"] == 2
    assert dyncore.train("node", data, epochs=1, hparams={"hidden": 8}).config["threads"]["source"] == "auto"


@pytest.mark.parametrize("where", ["before", "after"])
def test_the_threads_option_works_on_every_command_and_is_printed(tmp_path, where):
    dyncore.simulate("lorenz", t=np.linspace(0, 2, 101)).save(tmp_path / "d.npz")
    train = ["train", "node", str(tmp_path / "d.npz"), "-o", str(tmp_path / "r"), "--epochs", "2", "--hparam", "hidden=8"]
    args = ["--threads", "2", *train] if where == "before" else [*train, "--threads", "2"]
    result = CliRunner().invoke(cli, args, prog_name="dyncore")
    assert result.exit_code == 0, result.output
    assert "on 2 threads (explicit)" in result.output
    assert threads._explicit is None  # the option held for that command only
    for command in ("simulate", "evaluate", "predict", "chaos-test", "demo", "plot", "list"):
        help_text = CliRunner().invoke(cli, [command, "--help"], prog_name="dyncore").output
        assert "--threads" in help_text, command


def test_small_calls_run_on_one_thread_and_give_torch_its_count_back():
    @threads.with_threads
    def work() -> int:
        return torch.get_num_threads()

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert work() == 1 and torch.get_num_threads() == 2
        dyncore.set_threads(2)
        assert work() == 2
    finally:
        torch.set_num_threads(before)
    for function in (dyncore.simulate, dyncore.evaluate, dyncore.Run.predict):
        assert function.__wrapped__  # the public calls are wrapped


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_prints_the_thread_choice_of_each_command(tmp_path, where):
    """--verbose (before or after the command) prints dyncore's own choices on stderr; without it nothing is printed."""
    data = tmp_path / "d.npz"
    cases = [
        ["simulate", "lorenz", "-o", str(data), "--t-end", "1"],
        ["train", "node", str(data), "-o", str(tmp_path / "r"), "--epochs", "2", "--hparam", "hidden=8"],
        ["predict", str(tmp_path / "r"), "-o", str(tmp_path / "p.npz")],
    ]
    for args in cases:
        full = ["--verbose", *args] if where == "before" else [*args, "--verbose"]
        result = CliRunner().invoke(cli, full, prog_name="dyncore")
        assert result.exit_code == 0, result.output
        assert "dyncore: torch threads: 1 thread (auto)" in result.stderr, (args, result.stderr)
    quiet = CliRunner().invoke(cli, ["simulate", "lorenz", "-o", str(tmp_path / "quiet.npz"), "--t-end", "1"], prog_name="dyncore")
    assert quiet.exit_code == 0 and "torch threads" not in quiet.stderr
