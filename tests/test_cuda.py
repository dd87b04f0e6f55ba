"""The same code paths on a GPU (`--device cuda`): run where CUDA is available, skipped elsewhere."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from recipes import SMALL_EVALUATION, attractor_covering_lorenz, small_run

import dyncore
from dyncore.demo import run_demo

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
