"""Small training recipes shared by CPU tests and tests/test_cuda.py, so a GPU test's premise is checked on every CPU run."""

from __future__ import annotations

from typing import Any

import numpy as np

import dyncore

#: Evaluation settings of the small-model evaluation tests (short: seconds, not minutes).
SMALL_EVALUATION: dict[str, Any] = {"n_tests": 3, "lyapunov_steps": 50, "long_time": 10.0}


def attractor_covering_lorenz() -> dyncore.Trajectory:
    """Four settled Lorenz trajectories of 5 time units: data that cover the attractor.

    A NODE trained on one 2-unit stretch (the old GPU test) learns a field that is wrong off that
    stretch: its long free run blows up, so evaluate rightly gives it no learned exponents.
    """
    return dyncore.simulate("lorenz", t=np.linspace(0.0, 5.0, 500), batch=4, seed=0, transient=5.0)


def small_run(model: str, data: dyncore.Trajectory, device: str = "cpu", epochs: int = 60) -> dyncore.Run:
    """A NODE (RK4 rollout) or RNN of 32 hidden units, trained ``epochs`` full-batch epochs with seed 0."""
    hparams: dict[str, Any] = {"hidden": 32, **({"rollout_solver": "rk4"} if model == "node" else {})}
    return dyncore.train(model, data, device=device, epochs=epochs, hparams=hparams, seed=0, progress=False)
