"""Uniform time grids: one rule for how many points a span holds, and one test for a uniform grid.

``simulate``/``dyncore simulate`` (:func:`dyncore.simulation.time_grid`), ``Run.predict`` and
``evaluate`` build their grids here, so the same ``(start, end, step)`` gives the same points
everywhere: ``start + step * k`` for ``k = 0 .. n``, the last point the largest not past ``end``
(an end meant to lie on the grid, such as 10 at a step of 0.1, is kept despite float rounding).
"""

from __future__ import annotations

import math

import numpy as np

#: Relative slack on ``(end - start) / step`` before it is rounded down: absorbs float rounding only.
GRID_RTOL = 1e-9
#: Relative spread of the steps below which a grid counts as uniform.
UNIFORM_RTOL = 1e-6


def grid_intervals(length: float, step: float) -> int:
    """How many whole steps of ``step`` fit in ``length`` (rounded down, with :data:`GRID_RTOL` slack)."""
    ratio = float(length) / float(step)
    return int(math.floor(ratio + GRID_RTOL * max(1.0, abs(ratio))))


def uniform_grid(start: float, end: float, step: float, *, min_points: int = 0) -> np.ndarray:
    """``start, start + step, ...`` up to ``end`` (see the module docstring), float64, at least ``min_points`` long.

    Args:
        start, end: the span; ``end`` is kept when it lies on the grid.
        step: the spacing, positive.
        min_points: extend the grid past ``end`` to this many points (a model's context).
    Returns:
        Times ``(n,)``.
    """
    count = grid_intervals(float(end) - float(start), step) + 1
    return float(start) + float(step) * np.arange(max(count, int(min_points)))


def uniform_step(t: np.ndarray, rtol: float = UNIFORM_RTOL) -> float | None:
    """The sampling interval of ``t`` if every step is within ``rtol`` (relative) of their mean, else ``None``."""
    t = np.asarray(t, dtype=np.float64)
    if len(t) < 2:
        return None
    steps = np.diff(t)
    step = float(np.mean(steps))
    return step if np.max(np.abs(steps - step)) <= rtol * abs(step) else None
