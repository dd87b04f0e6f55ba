"""dyncore.cycles: what runs settle onto, their period and amplitude."""

from __future__ import annotations

import numpy as np
import pytest

from dyncore.cycles import limit_cycle
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
