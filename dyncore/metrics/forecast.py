"""Short term: free forecasts of a trained model from held-out starts, and their valid prediction time.

- :func:`forecast`: a model's free run from the start of a held-out trajectory, in the model's dtype.
- :func:`valid_prediction_times`: the time until the normalised error (:func:`nrmse`) of a free
  forecast first exceeds a threshold, averaged over many held-out starts, in Lyapunov times when
  lambda_1 is known.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from dyncore.errors import DataError
from dyncore.model import Model
from dyncore.trajectory import Trajectory


def nrmse(prediction: np.ndarray, truth: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """sqrt(mean over components of ((prediction - truth) / sigma)^2).

    Args:
        prediction, truth: shape ``(n, [batch,] dim)``.
        sigma: the attractor's standard deviation per component, shape ``(dim,)``.
    Returns:
        Shape ``(n, [batch])``; +inf where the prediction is not finite.
    """
    err = np.sqrt(np.mean(((np.asarray(prediction) - np.asarray(truth)) / np.asarray(sigma)) ** 2, axis=-1))
    return np.where(np.isfinite(err), err, np.inf)


def valid_prediction_time(error: np.ndarray, t: np.ndarray, threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Time from ``t[0]`` until ``error`` first exceeds ``threshold``.

    Args:
        error: NRMSE, shape ``(n,)`` or ``(n, batch)``.
        t: times, shape ``(n,)``.
    Returns:
        ``(vpt, censored)``, each of shape ``()`` or ``(batch,)``: where the error never exceeds the
        threshold the VPT is the whole span ``t[-1] - t[0]`` and ``censored`` is True.
    """
    above = np.asarray(error) > threshold
    first = np.argmax(above, axis=0)
    censored = ~above.any(axis=0)
    vpt = np.where(censored, t[-1] - t[0], t[first] - t[0])
    return vpt, censored


def model_dtype(model: Model) -> torch.dtype:
    """The dtype of the model's first floating parameter or buffer (float64 if it has none)."""
    floating = [p.dtype for p in (*model.parameters(), *model.buffers()) if p.is_floating_point()]
    return floating[0] if floating else torch.float64


def forecast(model: Model, truth: Trajectory) -> np.ndarray:
    """Free-run ``model`` from the first ``context_length`` states of ``truth`` over its times.

    Returns:
        Shape of ``truth.x``: ``(n, [batch,] dim)``, float64.
    """
    length = model.context_length
    if truth.n <= length:
        raise DataError(f"held-out trajectories need more than context_length = {length} points, got {truth.n}")
    dtype = model_dtype(model)
    context = torch.as_tensor(truth.x[:length], dtype=dtype, device=model.device)
    t = torch.as_tensor(truth.t, dtype=torch.float64, device=model.device)
    with torch.no_grad():
        out = model.rollout(context, t)
    return out.detach().cpu().numpy().astype(np.float64)


def valid_prediction_times(
    model: Model,
    test: Trajectory,
    sigma: Sequence[float] | np.ndarray,
    *,
    thresholds: Sequence[float] = (0.5, 0.05),
    lyapunov_exponent: float | None = None,
) -> dict[str, dict[str, Any]]:
    """Valid prediction time of ``model`` on held-out trajectories, from the end of each context.

    Args:
        model: any trained model.
        test: held-out trajectories (``(n, batch, dim)``), each started on the attractor.
        sigma: the attractor's standard deviation per component, ``(dim,)``.
        thresholds: NRMSE levels; 0.5 is the usual one, 0.05 a strict one.
        lyapunov_exponent: lambda_1 of the true system, to report Lyapunov times.
    Returns:
        ``{str(threshold): {"mean", "std", "median", "lyapunov_times", "censored", "per_start"}}``,
        times in the units of ``test.t``; ``lyapunov_times`` is ``mean * lambda_1`` (None if unknown);
        ``censored`` counts starts whose error never crossed the threshold.
    """
    sigma = np.asarray(sigma, dtype=np.float64)
    if sigma.shape != (test.dim,) or not np.all(sigma > 0):
        raise DataError(f"sigma must hold {test.dim} positive standard deviations, got {sigma.tolist()}")
    start = model.context_length - 1
    error = nrmse(forecast(model, test)[start:], test.x[start:], sigma)
    out = {}
    for level in thresholds:
        vpt, censored = valid_prediction_time(error, test.t[start:], level)
        vpt = np.atleast_1d(vpt)
        mean = float(np.mean(vpt))
        out[str(level)] = {
            "mean": mean,
            "std": float(np.std(vpt)),
            "median": float(np.median(vpt)),
            "lyapunov_times": mean * lyapunov_exponent if lyapunov_exponent else None,
            "censored": int(np.sum(censored)),
            "per_start": vpt.tolist(),
        }
    return out
