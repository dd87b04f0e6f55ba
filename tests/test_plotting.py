"""Every figure function returns a non-empty Figure from small synthetic inputs; saving is atomic and checked."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dyncore import plotting
from dyncore.chaos import ChaosResult
from dyncore.errors import ConfigError
from dyncore.trainer import History
from dyncore.trajectory import Trajectory

T = np.linspace(0, 10, 200)
SPIRAL = Trajectory(T, np.stack([np.cos(T), np.sin(T)], 1) * np.exp(-0.1 * T)[:, None], {"system": "spiral"})
LORENZ_LIKE = Trajectory(T, np.stack([np.cos(T), np.sin(T), T / 10], 1), {"system": "lorenz"})


def _history(scale: float) -> History:
    history = History()
    for epoch in range(50):
        history.append(epoch, scale / (epoch + 1), 1e-2, 0.01 * epoch, 4)
    return history


def _zero_one(k: float) -> ChaosResult:
    rng = np.random.default_rng(0)
    return ChaosResult("zero_one", k, "chaotic" if k > 0.5 else "regular",
                       {"p": rng.normal(size=300).cumsum(), "q": rng.normal(size=300).cumsum(),
                        "c": rng.uniform(0.7, 2.5, 20), "K_c": np.full(20, k)})


FIGURES = {
    "trajectory_2d": lambda: plotting.trajectory(SPIRAL),
    "trajectory_3d": lambda: plotting.trajectory(LORENZ_LIKE),
    "prediction_2d": lambda: plotting.prediction_vs_data(SPIRAL, SPIRAL),
    "prediction_3d": lambda: plotting.prediction_vs_data(LORENZ_LIKE, LORENZ_LIKE),
    "snapshots": lambda: plotting.training_snapshots([0, 10, 20], T, np.stack([LORENZ_LIKE.x] * 3), LORENZ_LIKE),
    "snapshots_with_blow_up": lambda: plotting.training_snapshots([0, 5], T, np.stack([SPIRAL.x, SPIRAL.x * np.nan]), SPIRAL),
    "vector_fields": lambda: plotting.vector_fields(
        {"true": lambda t, x: torch.stack([-x[:, 1], x[:, 0]], 1), "learned": lambda t, x: -x}, (-1, 1, -1, 1), SPIRAL, resolution=10
    ),
    "zero_one": lambda: plotting.zero_one_test({"chaotic": _zero_one(0.99), "regular": _zero_one(0.01)}),
    "space_time": lambda: plotting.space_time(Trajectory(T, np.sin(T[:, None] + np.arange(16)[None])), Trajectory(T, np.zeros((200, 16)))),
    "loss": lambda: plotting.loss_curves({"node": _history(1.0), "rnn": _history(2.0)}),
    "lyapunov": lambda: plotting.lyapunov_spectra({"node": [0.8, 0.0, -14.0]}, [0.906, 0.0, -14.57]),
}


@pytest.mark.parametrize("name", FIGURES)
def test_figure_renders_to_a_non_empty_png(name, tmp_path):
    path = plotting.save(FIGURES[name](), tmp_path / f"{name}.png")
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 5000


@pytest.mark.parametrize("suffix", [".svg", ".pdf"])
def test_vector_formats(suffix, tmp_path):
    assert plotting.save(plotting.loss_curves({"a": _history(1.0)}), tmp_path / f"loss{suffix}").stat().st_size > 1000


def test_unknown_format_and_empty_snapshots_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="use a .png"):
        plotting.save(plotting.loss_curves({"a": _history(1.0)}), tmp_path / "loss.bmp")
    with pytest.raises(ConfigError, match="no training snapshots"):
        plotting.training_snapshots([], T, np.zeros((0, 200, 2)))
