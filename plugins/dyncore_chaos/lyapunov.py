"""A chaos test from the largest Lyapunov exponent of a series (Rosenstein, Collins & De Luca 1993).

The series is the state (``(N, dim)``, used as is) or one observable (``(N,)`` or a chosen
component, delay-embedded in ``embedding_dim`` dimensions with the delay at which its
autocorrelation first falls below 1/e). Each point's nearest neighbour, excluding points closer in
time than one mean period (the Theiler window), is followed forward; the mean log distance of
the pairs against the step grows linearly at rate lambda_1 until it saturates at the attractor's
size. lambda_1 is the least-squares slope between 20 % and 70 % of that rise, divided by ``dt``.

The verdict is dimensionless: "chaotic" when lambda_1 times the mean period (the inverse of the
power-weighted mean frequency) exceeds ``threshold``, else "regular". Like the 0-1 test it cannot
tell chaos from noise, and it overestimates lambda_1 by some 10-30 % on densely sampled flows.
For the exponents of a known vector field or of a trained model use
:func:`dyncore.metrics.lyapunov_spectrum`, which integrates the tangent dynamics and is accurate.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from scipy.spatial import cKDTree

from dyncore.chaos import ChaosResult, ChaosTest
from dyncore.errors import ConfigError, DataError
from dyncore_chaos.series import as_array, check_usable, pick_component


class LyapunovTest(ChaosTest):
    """Largest Lyapunov exponent of a series by Rosenstein's method: chaotic when it is clearly positive.

    Options:
        component: ``None`` uses every column of an ``(N, dim)`` series as the state; an index
            delay-embeds that column alone.
        embedding_dim: embedding dimension for a single observable.
        delay: embedding delay in samples; ``None`` picks the first lag where the autocorrelation
            drops below 1/e.
        theiler: neighbours closer in time than this many samples are skipped; ``None`` uses the
            mean period.
        horizon: how many steps each pair is followed; ``None`` uses ``max(10, min(N / 10, 2 T))``
            with T the mean period in samples.
        fit_range: the part ``[a, b]`` of the rise of the divergence curve the slope is fitted on.
        threshold: lambda_1 times the mean period above which the verdict is "chaotic".
        max_pairs: at most this many reference points (evenly spaced) are followed.
    """

    name: ClassVar[str] = "lyapunov"
    min_length: ClassVar[int] = 200
    default_options: ClassVar[dict[str, Any]] = {
        "component": None,
        "embedding_dim": 3,
        "delay": None,
        "theiler": None,
        "horizon": None,
        "fit_range": [0.2, 0.7],
        "threshold": 0.5,
        "max_pairs": 2000,
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        o = self.options
        a, b = o["fit_range"]
        if not 0 <= a < b <= 1:
            raise ConfigError(f"lyapunov option fit_range must satisfy 0 <= a < b <= 1, got {o['fit_range']!r}")
        for key in ("embedding_dim", "max_pairs"):
            if not isinstance(o[key], int) or o[key] < 1:
                raise ConfigError(f"lyapunov option {key} must be a positive integer, got {o[key]!r}")

    def run(self, series: Any, dt: float | None = None) -> ChaosResult:
        """Estimate lambda_1 of ``series`` sampled every ``dt`` (1 when ``None``: per sample).

        Returns:
            A :class:`ChaosResult` whose statistic is lambda_1 (per unit time); ``details`` holds the
            mean log divergence ``curve`` (per step), the fitted steps ``fit_steps``, ``delay``,
            ``embedding_dim``, ``theiler``, ``mean_period`` (in samples) and ``lambda_period``.
        Raises:
            DataError: fewer than 200 samples, constant, NaN/Inf, or a bad component.
        """
        o = self.options
        dt = 1.0 if dt is None else float(dt)
        if not dt > 0:
            raise ConfigError(f"dt must be positive, got {dt}")
        x = pick_component(as_array(series), o["component"])
        check_usable(x, self.min_length, "lyapunov")
        period = mean_period(x)
        if x.ndim == 1:
            delay = int(o["delay"] or autocorrelation_delay(x))
            states = delay_embed(x, o["embedding_dim"], delay)
        else:
            delay, states = 0, x
        theiler = int(o["theiler"] if o["theiler"] is not None else math.ceil(period))
        horizon = int(o["horizon"] or max(10, min(len(states) // 10, round(2 * period))))
        if len(states) < horizon + 2 * theiler + 10:
            raise DataError(
                f"the lyapunov test needs at least {horizon + 2 * theiler + 10} embedded states for a horizon of "
                f"{horizon} and a Theiler window of {theiler}, got {len(states)}; supply a longer series"
            )
        curve = divergence_curve(states, theiler, horizon, o["max_pairs"])
        slope, (i0, i1) = fit_slope(curve, *o["fit_range"])
        lam = slope / dt
        lam_period = slope * period
        verdict = "chaotic" if lam_period > o["threshold"] else "regular"
        details = {
            "curve": curve,
            "fit_steps": [i0, i1],
            "delay": delay,
            "embedding_dim": o["embedding_dim"] if x.ndim == 1 else x.shape[1],
            "theiler": theiler,
            "mean_period": float(period),
            "lambda_period": float(lam_period),
            "dt": dt,
        }
        return ChaosResult(self.name, float(lam), verdict, details, [])

    def plot(self, result: ChaosResult, ax: Any) -> Any:
        """Draw the mean log divergence against time with the fitted line."""
        d = result.details
        steps = np.arange(len(d["curve"]))
        ax.plot(steps * d["dt"], d["curve"], lw=1)
        i0, i1 = d["fit_steps"]
        ax.plot(steps[[i0, i1]] * d["dt"], d["curve"][i0] + result.statistic * d["dt"] * (steps[[i0, i1]] - i0), "k--")
        ax.set_xlabel("time")
        ax.set_ylabel("mean log distance")
        ax.set_title(f"lyapunov: lambda_1 = {result.statistic:.3f} ({result.verdict})")
        return ax


def mean_period(x: np.ndarray) -> float:
    """1 / (power-weighted mean frequency), in samples; averaged over columns of an ``(N, dim)`` series."""
    cols = x.reshape(len(x), -1)
    spectrum = np.abs(np.fft.rfft(cols - cols.mean(axis=0), axis=0)) ** 2
    freq = np.fft.rfftfreq(len(x))[:, None]
    mean_freq = float(np.sum(freq * spectrum) / np.sum(spectrum))
    return 1.0 / mean_freq if mean_freq > 0 else float(len(x))


def autocorrelation_delay(x: np.ndarray) -> int:
    """The first lag (in samples, at least 1) at which the autocorrelation of ``x`` falls below 1/e."""
    centred = x - x.mean()
    f = np.fft.rfft(centred, 2 * len(x))
    acf = np.fft.irfft(np.abs(f) ** 2)[: len(x)]
    below = np.nonzero(acf < acf[0] / math.e)[0]
    return max(1, int(below[0])) if len(below) else 1


def delay_embed(x: np.ndarray, dim: int, delay: int) -> np.ndarray:
    """Rows ``(x[i], x[i + delay], ..., x[i + (dim - 1) delay])``, shape ``(N - (dim - 1) delay, dim)``."""
    n = len(x) - (dim - 1) * delay
    if n < 1:
        raise DataError(f"the series is too short to embed in {dim} dimensions with delay {delay}; supply a longer series")
    return np.stack([x[i * delay : i * delay + n] for i in range(dim)], axis=1)


def divergence_curve(states: np.ndarray, theiler: int, horizon: int, max_pairs: int) -> np.ndarray:
    """Mean log distance of nearest-neighbour pairs after k = 0..horizon steps, shape ``(horizon + 1,)``."""
    usable = len(states) - horizon
    tree = cKDTree(states[:usable])
    refs = np.unique(np.linspace(0, usable - 1, min(max_pairs, usable)).astype(int))
    k = min(usable, 2 * theiler + 2)
    _, idx = tree.query(states[refs], k=k)
    idx = idx.reshape(len(refs), -1)
    far = np.abs(idx - refs[:, None]) > theiler
    has = far.any(axis=1)
    first = np.argmax(far, axis=1)
    ref, nb = refs[has], idx[has, first[has]]
    steps = np.arange(horizon + 1)
    dist = np.linalg.norm(states[ref[:, None] + steps] - states[nb[:, None] + steps], axis=2)
    # Exactly periodic data have neighbours at distance 0: floor at a tiny fraction of the attractor's size.
    floor = 1e-12 * max(float(np.max(np.ptp(states, axis=0))), 1e-300)
    return np.mean(np.log(np.maximum(dist, floor)), axis=0)


def fit_slope(curve: np.ndarray, low: float, high: float) -> tuple[float, tuple[int, int]]:
    """Least-squares slope of ``curve`` between the steps where it first reaches ``low`` and ``high`` of its rise."""
    start, top = curve[0], float(np.max(curve))
    rise = top - start
    if rise <= 0:
        return 0.0, (0, len(curve) - 1)
    i0 = int(np.argmax(curve >= start + low * rise))
    i1 = int(np.argmax(curve >= start + high * rise))
    if i1 - i0 < 2:
        i0, i1 = 0, max(i1, 2)
    steps = np.arange(i0, i1 + 1)
    return float(np.polyfit(steps, curve[i0 : i1 + 1], 1)[0]), (i0, i1)
