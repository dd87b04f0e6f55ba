"""Long term: distances between the invariant measures and the power spectra of a model run and the truth.

- :func:`histogram_distance`, :func:`sliced_wasserstein_distance`: distances between the invariant
  measures sampled by a long model run and by the truth.
- :func:`power_spectrum_distance`: the Hellinger distance between normalised power spectra.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dyncore.errors import DataError
from dyncore.trajectory import Trajectory


def _samples(a: Any) -> np.ndarray:
    """Pool ``(n, [batch,] dim)`` into ``(samples, dim)`` float64."""
    x = np.asarray(a.x if isinstance(a, Trajectory) else a, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    return x.reshape(-1, x.shape[-1])


def histogram_distance(model: Any, truth: Any, *, bins: int = 50) -> float:
    """Mean over components of the total-variation distance between marginal histograms, in [0, 1].

    The bins span the truth's range; samples of the model outside it (or not finite) fall in two
    overflow bins, so a run that leaves the attractor scores near 1.

    Args:
        model, truth: samples (arrays or Trajectories) of shape ``(n, [batch,] dim)``.
        bins: bins per component inside the truth's range.
    """
    a, b = _samples(model), _samples(truth)
    if a.shape[1] != b.shape[1]:
        raise DataError(f"cannot compare {a.shape[1]}-dimensional and {b.shape[1]}-dimensional samples")
    out = []
    for i in range(b.shape[1]):
        lo, hi = float(np.min(b[:, i])), float(np.max(b[:, i]))
        edges = np.concatenate([[-np.inf], np.linspace(lo, hi + 1e-12 * max(1.0, abs(hi)), bins + 1), [np.inf]])
        col = np.where(np.isfinite(a[:, i]), a[:, i], np.inf)
        pa = np.histogram(col, edges)[0] / len(col)
        pb = np.histogram(b[:, i], edges)[0] / len(b)
        out.append(0.5 * float(np.sum(np.abs(pa - pb))))
    return float(np.mean(out))


def sliced_wasserstein_distance(
    model: Any, truth: Any, *, n_projections: int = 64, n_quantiles: int = 512, seed: int = 0
) -> float:
    """Mean over random directions of the 1-D Wasserstein-1 distance between projected samples.

    Both sample sets are standardised by the truth's mean and standard deviation, so the distance
    is in units of the attractor's spread (0 for identical measures). Infinite if the model's
    samples are not all finite.

    Args:
        model, truth: samples of shape ``(n, [batch,] dim)``.
        n_projections: random unit directions (seeded by ``seed``).
        n_quantiles: quantile levels each 1-D distance is evaluated on.
    """
    a, b = _samples(model), _samples(truth)
    if a.shape[1] != b.shape[1]:
        raise DataError(f"cannot compare {a.shape[1]}-dimensional and {b.shape[1]}-dimensional samples")
    if not np.all(np.isfinite(a)):
        return math.inf
    mean, std = b.mean(axis=0), b.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    a, b = (a - mean) / std, (b - mean) / std
    directions = np.random.default_rng(seed).standard_normal((a.shape[1], n_projections))
    directions /= np.linalg.norm(directions, axis=0)
    levels = (np.arange(n_quantiles) + 0.5) / n_quantiles
    qa = np.quantile(a @ directions, levels, axis=0)
    qb = np.quantile(b @ directions, levels, axis=0)
    return float(np.mean(np.abs(qa - qb)))


def power_spectrum(x: Any, *, segment: int = 256) -> np.ndarray:
    """Normalised power spectrum per component (Welch, Hann window), averaged over batch members.

    Args:
        x: states ``(n, [batch,] dim)`` on a uniform grid.
        segment: Welch segment length (shortened to ``n`` if longer).
    Returns:
        Shape ``(segment // 2 + 1, dim)``; each column sums to 1.
    """
    from scipy.signal import welch

    x = np.asarray(x.x if isinstance(x, Trajectory) else x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if len(x) < 16:
        raise DataError(f"a power spectrum needs at least 16 samples, got {len(x)}")
    _, p = welch(x, nperseg=min(segment, len(x)), axis=0)
    if p.ndim == 3:
        p = p.mean(axis=1)
    total = p.sum(axis=0, keepdims=True)
    return p / np.where(total > 0, total, 1.0)


def power_spectrum_distance(model: Any, truth: Any, *, segment: int = 256) -> float:
    """Mean over components of the Hellinger distance between normalised power spectra, in [0, 1].

    Both series must share a sampling interval. A model run that is not finite scores 1.
    """
    a = np.asarray(model.x if isinstance(model, Trajectory) else model, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        return 1.0
    pa, pb = power_spectrum(a, segment=segment), power_spectrum(truth, segment=segment)
    if pa.shape != pb.shape:
        raise DataError(f"spectra of shapes {pa.shape} and {pb.shape} differ; use series of the same dimension and length >= segment")
    bc = np.sum(np.sqrt(pa * pb), axis=0)
    return float(np.mean(np.sqrt(np.clip(1.0 - bc, 0.0, 1.0))))
