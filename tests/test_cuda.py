"""The same code paths on a GPU (`--device cuda`): run where CUDA is available, skipped elsewhere."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from dyncore_demo import run_demo
from recipes import SMALL_EVALUATION, attractor_covering_lorenz, small_run

import dyncore

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def lorenz():
    return dyncore.systems.create("lorenz").simulate(t=torch.linspace(0, 2, 200, dtype=torch.float64))


@pytest.mark.parametrize("system, solver", [("lorenz", "rk4"), ("lorenz", "dopri5"), ("kuramoto_sivashinsky", "etdrk4")])
def test_simulation_on_cuda_matches_cpu(system, solver):
    t = torch.linspace(0, 2, 41, dtype=torch.float64)
    cpu = dyncore.simulate(system, t=t, solver=solver, batch=4, seed=1)
    gpu = dyncore.simulate(system, t=t, solver=solver, batch=4, seed=1, device="cuda")
    np.testing.assert_allclose(gpu.x, cpu.x, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("model", ["node", "rnn"])
def test_training_on_cuda_tracks_cpu_and_the_run_loads_anywhere(tmp_path, lorenz, model):
    options = {"epochs": 30, "seed": 0, "snapshot_every": 10, "hparams": {"hidden": 32}}
    cpu = dyncore.train(model, lorenz, **options)
    gpu = dyncore.train(model, lorenz, device="cuda", out=tmp_path / "run", **options)
    assert next(gpu.model.parameters()).is_cuda
    np.testing.assert_allclose(gpu.history.loss, cpu.history.loss, rtol=2e-2)
    assert all(np.isfinite(s).all() for s in gpu.history.snapshots.values())
    on_cpu = dyncore.Run.load(tmp_path / "run", device="cpu")
    on_gpu = dyncore.Run.load(tmp_path / "run", device="cuda")
    # float32 rounding differs between devices (cuDNN's RNN uses TF32) and grows along a chaotic
    # rollout: compare its start
    np.testing.assert_allclose(on_cpu.predict().x[:20], on_gpu.predict().x[:20], rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("model", ["node", "rnn"])
def test_evaluation_of_a_gpu_model(model):
    # Data that cover the attractor: a model trained on the 2-unit `lorenz` fixture blows up on a long
    # free run (on any device), and a blown-up run rightly has no learned exponents (None).
    run = small_run(model, attractor_covering_lorenz(), device="cuda")
    result = dyncore.evaluate(run, "lorenz", **SMALL_EVALUATION)
    assert result.long_run == "ok", result.notes
    assert np.isfinite(result.vpt[0.5].mean) and len(result.lyapunov.learned) == 3
    assert np.all(np.isfinite(result.lyapunov.learned))
    assert next(run.model.parameters()).is_cuda  # measured on a CPU copy: the model itself stays on the GPU
    json.dumps(result.to_dict())


def test_quick_demo_on_cuda(tmp_path):
    result = run_demo(tmp_path, quick=True, device="cuda", log=lambda message: None)
    assert result["failed"] == {}
    assert (tmp_path / "report.html").exists()


def full_batch(**options):
    return dyncore.trainers.create("full_batch", **{"seed": 0, "device": "cuda", "progress": False, **options})


@pytest.mark.parametrize("model, hparams", [("node", {"hidden": 32}), ("rnn", {"hidden": 32}),
                                            ("hybrid", {"known": "lorenz", "hidden": 32})])
def test_every_gradient_model_trains_on_cuda_with_its_step_in_a_cuda_graph(lorenz, model, hparams):
    """The default on CUDA replays the full-batch step from a CUDA graph; it gives the eager step's losses
    (same kernels, same data), also across the learning-rate drop that captures a second graph."""
    eager = dyncore.train(model, lorenz, full_batch(epochs=12, lr_drop=0.5, capture=False), hparams=hparams)
    trainer = full_batch(epochs=12, lr_drop=0.5)
    graphed = dyncore.train(model, lorenz, trainer, hparams=hparams)
    assert trainer.step_mode == "graph"
    assert all(t.is_cuda for t in (*graphed.model.parameters(), *graphed.model.buffers()))
    np.testing.assert_allclose(graphed.history.loss, eager.history.loss, rtol=1e-5, atol=1e-9)
    assert graphed.history.nfe == eager.history.nfe
    for a, b in zip(graphed.model.parameters(), eager.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_a_resumed_cuda_run_with_a_graph_continues_like_an_uninterrupted_one(tmp_path, lorenz):
    # a constant lr: the 5-epoch run's own schedule would drop it at its epoch 5, the 10-epoch one's at 10
    options = {"seed": 0, "hparams": {"hidden": 32}, "device": "cuda", "progress": False, "lr_final": None}
    whole = dyncore.train("node", lorenz, epochs=10, **options)
    dyncore.train("node", lorenz, epochs=5, out=tmp_path / "run", checkpoint_every=1, **options)
    resumed = dyncore.train("node", lorenz, epochs=10, out=tmp_path / "run", resume=True, **options)
    np.testing.assert_allclose(resumed.history.loss, whole.history.loss, rtol=1e-5, atol=1e-9)


def test_compiled_step_on_cuda_tracks_the_eager_one(lorenz):
    pytest.importorskip("triton")
    eager = dyncore.train("node", lorenz, full_batch(epochs=8, capture=False), hparams={"hidden": 32})
    trainer = full_batch(epochs=8, compile=True)
    compiled = dyncore.train("node", lorenz, trainer, hparams={"hidden": 32})
    assert trainer.step_mode == "compiled+graph"
    np.testing.assert_allclose(compiled.history.loss, eager.history.loss, rtol=1e-3)


def test_cli_train_on_cuda_says_it_captured_and_the_run_predicts_on_cuda(tmp_path, lorenz):
    from click.testing import CliRunner

    from dyncore.cli import cli

    lorenz.save(tmp_path / "l.npz")
    result = CliRunner().invoke(cli, ["--verbose", "train", "node", str(tmp_path / "l.npz"), "-o", str(tmp_path / "r"),
                                      "--epochs", "5", "--hparam", "hidden=16", "--device", "cuda"], prog_name="dyncore")
    assert result.exit_code == 0, result.output
    assert "replayed from a CUDA graph" in result.stderr
    assert dyncore.Run.load(tmp_path / "r", device="cuda").predict(t_end=1.0).x.shape[-1] == 3
