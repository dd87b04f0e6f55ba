"""Input checks shared by the chaos tests: one array in, a clean float64 array out, or a one-line DataError."""

from __future__ import annotations

from typing import Any

import numpy as np

from dyncore.errors import DataError


def as_array(series: Any) -> np.ndarray:
    """``series`` (numpy, torch or a list) as float64 numpy, shape ``(N,)`` or ``(N, dim)``.

    Raises:
        DataError: wrong rank, NaN or Inf.
    """
    if hasattr(series, "detach"):  # a torch tensor, without importing torch
        series = series.detach().cpu().numpy()
    try:
        x = np.asarray(series, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError("the series must be a numeric array of shape (N,) or (N, dim)") from None
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim not in (1, 2):
        raise DataError(f"the series must have shape (N,) or (N, dim), got {x.shape}; pick one trajectory")
    if not np.all(np.isfinite(x)):
        i = int(np.argwhere(~np.isfinite(x))[0][0])
        raise DataError(f"the series contains NaN or Inf (first at sample {i}); clean or trim the data")
    return x


def pick_component(x: np.ndarray, component: int | None) -> np.ndarray:
    """Column ``component`` of a ``(N, dim)`` series (a 1-D series must use component 0 or None).

    Raises:
        DataError: the component index is out of range.
    """
    dim = 1 if x.ndim == 1 else x.shape[1]
    if component is None:
        return x
    if not isinstance(component, (int, np.integer)) or isinstance(component, bool) or not -dim <= component < dim:
        raise DataError(f"component {component!r} is out of range for a series with {dim} component(s); use 0..{dim - 1}")
    return x if x.ndim == 1 else x[:, component]


def check_usable(x: np.ndarray, min_length: int, test: str, stride: int = 1) -> None:
    """Refuse a series that is too short or constant.

    Args:
        x: the series that the test will use, shape ``(N,)`` or ``(N, dim)``, already subsampled.
        min_length: the fewest samples the test accepts.
        test: the test's name, for the message.
        stride: the subsampling stride already applied (so the message gives the raw length needed).
    Raises:
        DataError: ``len(x) < min_length`` (the message says how long the series must be), or
            every sample equal.
    """
    if len(x) < min_length:
        if stride > 1:
            raise DataError(
                f"the {test} test needs at least {min_length} samples after subsampling by {stride}, got {len(x)}; "
                f"supply at least {min_length * stride} raw samples or a smaller --subsample"
            )
        raise DataError(f"the {test} test needs a series of at least {min_length} samples, got {len(x)}; supply a longer series")
    if np.all(x == x[0]):
        raise DataError(f"the series is constant (every sample is {np.ravel(x[:1])[0]:g}); a chaos test needs a varying signal")
