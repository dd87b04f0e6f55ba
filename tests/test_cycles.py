"""dyncore.cycles: what runs settle onto, their period and amplitude."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dyncore
from dyncore.cycles import cycle_fidelity, limit_cycle
from dyncore.errors import ConfigError


def test_a_cycle_gives_its_period_and_amplitude():
    t = np.linspace(0.0, 100.0, 5001)
    x = np.stack([3.0 * np.sin(2 * np.pi * t / 7.0) + 1.0, np.cos(t)], axis=-1)
    (run,) = limit_cycle(t, x)
    assert run["status"] == "cycle" and run["period"] == pytest.approx(7.0, rel=1e-4)
    assert run["amplitude"] == pytest.approx(3.0, rel=1e-3) and run["periods"] >= 6


def test_fixed_points_blow_ups_and_short_runs_are_told_apart():
    t = np.linspace(0.0, 50.0, 2001)
    runs = np.stack([
        np.exp(-t) * np.sin(t),  # decays onto a fixed point
        np.where(t > 40, np.nan, np.sin(t)),  # blows up
        np.sin(2 * np.pi * t / 40.0),  # under two periods in the measured half
        np.sin(t + 0.5 * np.sin(0.2 * t) * t),  # crossings unevenly spaced
    ], axis=1)[..., None]
    statuses = [r["status"] for r in limit_cycle(t, runs, reference_amplitude=1.0)]
    assert statuses == ["fixed point", "blew up", "too short", "irregular"]


@pytest.mark.parametrize("args, message", [
    ((np.arange(3.0), np.zeros((3, 2))), "n >= 4"),
    ((np.arange(10.0), np.zeros((10, 2)), 5), "component 5 is out of range 0..1"),
    ((np.arange(10.0), np.zeros((10, 2)), 0, 0.0), "tail must be in"),
])
def test_bad_arguments_are_one_line_errors(args, message):
    with pytest.raises(ConfigError, match=message):
        limit_cycle(*args)


class _SlowerVanDerPol:
    """A "model" that is Van der Pol at mu = 1 with time running 1 % slow: its period is 1 % longer."""

    def __init__(self, system):
        self.system = system

    def rollout(self, context, t):
        return torch.as_tensor(self.system.simulate(context[0].numpy(), t.numpy() / 1.01).x)


def test_cycle_fidelity_compares_the_model_with_the_truth_from_the_same_starts():
    system = dyncore.systems.create("van_der_pol")
    result = cycle_fidelity(_SlowerVanDerPol(system), system, n_tests=2, periods=6.0, points_per_period=200)
    assert result["true_period"] == pytest.approx(6.6633, rel=1e-3)
    for kind in ("settled", "random"):
        assert result[kind]["statuses"] == ["cycle", "cycle"] and result[kind]["converged"] == 1.0
        assert result[kind]["period_error"]["median"] == pytest.approx(0.01, abs=2e-3)
        assert result[kind]["amplitude_error"]["max"] < 2e-3
