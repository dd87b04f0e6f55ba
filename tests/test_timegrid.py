"""dyncore.timegrid: one rule for the points of a span, shared by simulate, evaluate and chaos-test."""

from __future__ import annotations

import numpy as np
import pytest

import dyncore
from dyncore.evaluation import _grid
from dyncore.simulation import time_grid
from dyncore.timegrid import uniform_grid, uniform_step


def test_an_end_on_the_grid_is_kept_and_a_grid_never_passes_its_end():
    assert len(uniform_grid(0.0, 10.0, 0.1)) == 101 and uniform_grid(0.0, 10.0, 0.1)[-1] == pytest.approx(10.0)
    assert len(uniform_grid(0.0, 1.05, 0.1)) == 11  # 10.5 steps: rounded down, never past the end
    assert len(uniform_grid(2.0, 2.5, 1.0, min_points=3)) == 3  # a model's context may need more
    assert len(uniform_grid(0.0, 1e5 * 0.01, 0.01)) == 100_001  # float rounding of a long span does not drop the end


def test_evaluate_and_simulate_build_the_same_grid():
    # evaluate used to round to the nearest step and could run past the requested length by half a step
    length, dt = 25.0, 0.01001
    grid = _grid(length, dt)
    assert grid[-1] <= length and length - grid[-1] < dt
    lorenz = dyncore.systems.create("lorenz")
    np.testing.assert_array_equal(grid, time_grid(lorenz, t_end=length, dt=dt))


def test_uniform_step():
    assert uniform_step(np.arange(5) * 0.5) == pytest.approx(0.5)
    assert uniform_step(np.array([0.0, 1.0, 2.5])) is None
    assert uniform_step(np.array([1.0])) is None
