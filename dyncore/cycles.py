"""Limit cycles: what a run settles onto (cycle, fixed point, blow-up), its period and amplitude, model against truth.

:func:`limit_cycle` reads one or a batch of runs on a time grid; :func:`cycle_fidelity` runs a
trained model and its system from the same held-out starts and compares the two. The Van der Pol
rows of ``benchmarks/fidelity.py`` report these numbers (the targets: every start on the learned
cycle, period and amplitude within 2 %).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dyncore.errors import ConfigError

#: A run whose oscillation in the measured component is below this fraction of the reference amplitude
#: (or, without one, of its own level plus one) has settled onto a fixed point.
FIXED_POINT_FRACTION = 1e-2
#: Successive periods spread more than this (relative standard deviation) are no regular cycle.
MAX_PERIOD_SPREAD = 0.05
#: Crossings needed in the measured window for a period (two full periods).
MIN_CROSSINGS = 3


def limit_cycle(t: Any, x: Any, component: int = 0, tail: float = 0.5,
                reference_amplitude: float | None = None) -> list[dict[str, Any]]:
    """What each run settles onto, measured on the last ``tail`` fraction of its times.

    Args:
        t: times ``(n,)``, increasing. x: runs ``(n, dim)`` or ``(n, batch, dim)``.
        component: the state component whose oscillation is measured.
        tail: fraction of the run (at the end) measured; the rest is the transient.
        reference_amplitude: the true cycle's amplitude: a run oscillating by less than 1 % of it
            has reached a fixed point (default: 1 % of the run's own level plus one).
    Returns:
        Per run a dict: ``status`` ("cycle", "fixed point", "blew up", "irregular": crossings too
        unevenly spaced, or "too short": under two periods in the window), ``period`` (mean time
        between upward crossings of the mid level, linearly interpolated; None unless a cycle),
        ``amplitude`` (half the peak-to-peak range; None if it blew up), ``periods`` (crossings - 1).
    """
    t = np.asarray(t, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x[:, None, :]
    if x.ndim != 3 or len(t) != len(x) or len(t) < 4:
        raise ConfigError(f"limit_cycle needs times (n,) and runs (n, [batch,] dim) with n >= 4; got {t.shape} and {x.shape}")
    if not 0 <= component < x.shape[-1]:
        raise ConfigError(f"component {component} is out of range 0..{x.shape[-1] - 1}")
    if not 0 < tail <= 1:
        raise ConfigError(f"tail must be in (0, 1], got {tail!r}")
    start = int(len(t) * (1 - tail))
    tt = t[start:]
    return [_one_run(tt, x[start:, i, component], reference_amplitude) for i in range(x.shape[1])]


def _one_run(t: np.ndarray, s: np.ndarray, reference_amplitude: float | None) -> dict[str, Any]:
    if not np.all(np.isfinite(s)):
        return {"status": "blew up", "period": None, "amplitude": None, "periods": 0}
    hi, lo = float(s.max()), float(s.min())
    amplitude, level = (hi - lo) / 2, (hi + lo) / 2
    floor = FIXED_POINT_FRACTION * (reference_amplitude if reference_amplitude else abs(level) + 1.0)
    if amplitude < floor:
        return {"status": "fixed point", "period": None, "amplitude": amplitude, "periods": 0}
    up = np.nonzero((s[:-1] < level) & (s[1:] >= level))[0]
    crossings = t[up] + (level - s[up]) * (t[up + 1] - t[up]) / (s[up + 1] - s[up])
    if len(crossings) < MIN_CROSSINGS:
        return {"status": "too short", "period": None, "amplitude": amplitude, "periods": max(len(crossings) - 1, 0)}
    gaps = np.diff(crossings)
    if gaps.std() > MAX_PERIOD_SPREAD * gaps.mean():
        return {"status": "irregular", "period": None, "amplitude": amplitude, "periods": len(gaps)}
    return {"status": "cycle", "period": float((crossings[-1] - crossings[0]) / len(gaps)), "amplitude": amplitude,
            "periods": len(gaps)}


def cycle_fidelity(model: Any, system: Any, n_tests: int = 10, seed: int = 1, periods: float = 6.0,
                   points_per_period: int = 1000, component: int = 0) -> dict[str, Any]:
    """Run ``model`` and ``system`` from the same held-out starts and compare the cycles they settle onto.

    Two kinds of starts, both seeded by ``seed`` (never the training seed): ``settled``, the starts
    :func:`dyncore.evaluate` uses (random states integrated 5 periods onto the true cycle), and
    ``random``, the raw random states (``system.random_x0``), which test convergence from the region
    the training data cover.

    Args:
        model: a trained model. system: a System with a published ``period`` at its parameters.
        n_tests: starts of each kind. periods: length of the runs in true periods (the second half
            is measured). points_per_period: output grid density.
        component: the component measured.
    Returns:
        ``true_period``, ``true_amplitude`` (measured on the truth's runs), and per kind of start
        ``statuses`` (of the model's runs), ``converged`` (fraction on a cycle), ``period_error``
        and ``amplitude_error`` (median and max of ``|model / truth - 1|`` over the runs on a cycle).
    """
    import torch

    period = system.reference().get("period")
    if not period:
        raise ConfigError(f"system {system.name!r} publishes no limit-cycle period at these parameters")
    grid = np.linspace(0.0, periods * period, int(periods * points_per_period) + 1)
    settled = system.simulate(None, np.array([0.0, period / points_per_period]), batch=n_tests, seed=seed,
                              transient=5 * period).x[0]
    starts = {"settled": settled, "random": system.random_x0(n_tests, seed).numpy()}
    result: dict[str, Any] = {}
    for kind, x0 in starts.items():
        # one start at a time: a batch integrated as one system steps as finely as its fastest member
        truth_runs = np.stack([system.simulate(start, grid).x for start in x0], axis=1)
        truth = limit_cycle(grid, truth_runs, component)
        amp_true = float(np.median([r["amplitude"] for r in truth]))
        per_true = float(np.median([r["period"] for r in truth if r["period"]]))
        try:
            runs = model.rollout(torch.as_tensor(x0)[None], torch.as_tensor(grid)).detach().cpu().numpy()
        except Exception as exc:  # noqa: BLE001 - the model's solver gave up: a finding, reported per kind
            result[kind] = {"statuses": ["failed"] * len(x0), "converged": 0.0, "error": str(exc),
                            "period_error": None, "amplitude_error": None}
            continue
        learned = limit_cycle(grid, runs, component, reference_amplitude=amp_true)
        on_cycle = [r for r in learned if r["status"] == "cycle"]
        p_err = [abs(r["period"] / per_true - 1) for r in on_cycle]
        a_err = [abs(r["amplitude"] / amp_true - 1) for r in on_cycle]
        result[kind] = {
            "statuses": [r["status"] for r in learned],
            "converged": len(on_cycle) / len(learned),
            "period_error": {"median": float(np.median(p_err)), "max": float(np.max(p_err))} if p_err else None,
            "amplitude_error": {"median": float(np.median(a_err)), "max": float(np.max(a_err))} if a_err else None,
            "periods": [r["period"] for r in learned],
        }
        result.setdefault("true_period", per_true)
        result.setdefault("true_amplitude", amp_true)
    return result
