"""The Gottwald–Melbourne 0-1 test for chaos, in the form of their 2009 implementation paper.

For an observable phi(1..N) and a frequency c, the translation variables

    p_c(n) = sum_{j<=n} phi(j) cos(jc),    q_c(n) = sum_{j<=n} phi(j) sin(jc)

stay bounded for regular dynamics and diffuse like a random walk for chaotic dynamics. The mean
square displacement

    M_c(n) = mean_j [(p_c(j+n) - p_c(j))^2 + (q_c(j+n) - q_c(j))^2],    n = 1..n_cut = N/10

minus its oscillatory term (E phi)^2 (1 - cos nc) / (1 - cos c) is D_c(n); K_c is the correlation
of D_c(n) with n, and K is the median of K_c over 100 random c in (pi/5, 4 pi/5) (seeded). K is near
1 for chaos and near 0 for regular dynamics. The test cannot tell chaos from noise: white noise
gives K near 1 too.

The displacement is computed in O(N log N) per c: with z = p + iq,
sum_j |z(j+n) - z(j)|^2 = sum_{j>n} |z_j|^2 + sum_{j<=N-n} |z_j|^2 - 2 Re sum_j conj(z_j) z_{j+n};
the first two are cumulative sums and the last is an autocorrelation, taken with real FFTs of p
and q zero-padded to N + n_cut (enough to avoid wrap-around for every lag up to n_cut).

Oversampled flows (a continuous signal sampled much faster than it decorrelates) give a false
"regular". The test flags it when the span of the series over its mean absolute step exceeds 20, or
when the median K_c over the lower half of the c values exceeds that over the upper half by more
than 0.5 (the disagreement check of the reference implementations), and then warns.
``subsample="auto"`` picks the smallest stride s at which span / mean|x(j+s) - x(j)| <= 10, at most
the stride that leaves 100 samples; stopping at that cap short of the target is warned about too.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, ClassVar

import numpy as np
import scipy.fft

from dyncore.chaos import ChaosResult, ChaosTest
from dyncore.errors import ConfigError, DataError
from dyncore_chaos.series import as_array, check_usable, pick_component

#: span / mean step above which a series is reported as oversampled.
OVERSAMPLING_RATIO = 20.0
#: span / mean step that ``subsample="auto"`` aims for.
AUTO_TARGET_RATIO = 10.0
#: low-c minus high-c median K_c above which the K_c disagree (a sign of oversampling).
DISAGREEMENT = 0.5


class OversamplingWarning(UserWarning):
    """The series looks sampled too densely for the 0-1 test; K may read 'regular' for a chaotic signal."""


class ZeroOneTest(ChaosTest):
    """Gottwald–Melbourne 0-1 test for chaos: K near 1 chaotic, near 0 regular (noise also gives 1).

    Options:
        n_c: how many random frequencies c to take the median over.
        c_range: the interval ``[lo, hi]`` the c are drawn from (avoiding resonances at 0 and pi).
        seed: seed of the c draw; the same seed and series give the same K.
        n_cut: the largest displacement lag; ``None`` means ``N // 10``.
        subsample: ``None`` (use every sample), an integer stride, or ``"auto"`` (the smallest
            stride at which the span / mean-step ratio is at most 10).
        component: the column to test when the series is ``(N, dim)``.
        chaotic_above: K at or above this is "chaotic".
        regular_below: K at or below this is "regular"; in between is "inconclusive".
    """

    name: ClassVar[str] = "zero_one"
    min_length: ClassVar[int] = 100
    default_options: ClassVar[dict[str, Any]] = {
        "n_c": 100,
        "c_range": [math.pi / 5, 4 * math.pi / 5],
        "seed": 0,
        "n_cut": None,
        "subsample": None,
        "component": 0,
        "chaotic_above": 0.8,
        "regular_below": 0.2,
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        o = self.options
        if not isinstance(o["n_c"], int) or o["n_c"] < 1:
            raise ConfigError(f"zero_one option n_c must be a positive integer, got {o['n_c']!r}")
        lo, hi = o["c_range"]
        if not 0 < lo < hi < math.pi:
            raise ConfigError(f"zero_one option c_range must satisfy 0 < lo < hi < pi, got {o['c_range']!r}")
        stride = o["subsample"]
        if stride is not None and stride != "auto" and (not isinstance(stride, int) or isinstance(stride, bool) or stride < 1):
            raise ConfigError(f"zero_one option subsample must be None, 'auto' or a positive integer, got {stride!r}")
        if not o["regular_below"] <= o["chaotic_above"]:
            raise ConfigError("zero_one options need regular_below <= chaotic_above")

    def run(self, series: Any, dt: float | None = None) -> ChaosResult:
        """Run the test on one observable.

        Args:
            series: shape ``(N,)``, or ``(N, dim)`` with ``component`` choosing the column.
            dt: sampling interval; only recorded (K is dimensionless).
        Returns:
            A :class:`ChaosResult` whose statistic is K; ``details`` holds ``K_c`` and ``c``
            (``(n_c,)``), ``p`` and ``q`` (``(N,)``, for the c whose K_c is nearest the median),
            ``n_cut``, ``stride`` (the one used), ``stride_capped`` (``subsample="auto"`` stopped at its cap
            before the span / step target: then a warning), ``n_samples``, ``span_step_ratio`` and
            ``c_disagreement``.
        Raises:
            DataError: fewer than 100 samples (after subsampling), constant, NaN/Inf, or a bad component.
        """
        o = self.options
        x = pick_component(as_array(series), o["component"])
        if x.ndim != 1:
            raise DataError(f"the 0-1 test needs one observable, got {x.shape[1]} components; choose a component")
        check_usable(x, self.min_length, "0-1")
        auto = o["subsample"] == "auto"
        stride = auto_stride(x, self.min_length) if auto else int(o["subsample"] or 1)
        capped = auto and span_step_ratio(x, stride) > AUTO_TARGET_RATIO
        problems = []
        if capped:
            problems.append(
                f"subsample='auto' stopped at its cap, stride {stride} (the largest that leaves {self.min_length} samples "
                f"of {len(x)}), with span / mean step still {span_step_ratio(x, stride):.1f} > {AUTO_TARGET_RATIO:g}: the "
                "series is too short for how slowly it varies (a random walk or a slow flow), so K may read regular; "
                "give a longer series"
            )
            warnings.warn(problems[-1], OversamplingWarning, stacklevel=2)
        x = x[::stride]
        check_usable(x, self.min_length, "0-1", stride)
        n_cut = int(o["n_cut"] or len(x) // 10)
        if not 2 <= n_cut < len(x):
            raise ConfigError(f"zero_one option n_cut must be between 2 and N - 1 = {len(x) - 1}, got {n_cut}")

        c = np.random.default_rng(o["seed"]).uniform(*o["c_range"], size=o["n_c"])
        k_c = correlation_k(x, c, n_cut)
        finite = np.isfinite(k_c)
        k = float(np.median(k_c[finite])) if finite.any() else float("nan")

        ratio = span_step_ratio(x)
        low, high = c < np.mean(c), c >= np.mean(c)
        disagreement = _median_gap(k_c, low, high)
        if (ratio > OVERSAMPLING_RATIO or disagreement > DISAGREEMENT) and not capped:
            advice = "give a longer series" if auto else "sample more coarsely or pass subsample='auto'"
            problems.append(
                f"the series looks oversampled (span / mean step = {ratio:.1f}, low-c minus high-c median K_c = "
                f"{disagreement:.2f}, stride {stride}), so K = {k:.3f} may read regular for a chaotic flow; {advice}"
            )
            warnings.warn(problems[-1], OversamplingWarning, stacklevel=2)
        if not finite.any():
            problems.append("every K_c is undefined (D_c(n) is constant); the series carries no usable signal")

        i_med = int(np.nanargmin(np.abs(k_c - k))) if finite.any() else 0
        p, q = translation_variables(x, c[i_med : i_med + 1])
        details = {
            "K_c": k_c,
            "c": c,
            "p": p[0],
            "q": q[0],
            "c_plotted": float(c[i_med]),
            "n_cut": n_cut,
            "stride": stride,
            "stride_capped": capped,
            "n_samples": len(x),
            "span_step_ratio": float(ratio),
            "c_disagreement": float(disagreement),
        }
        if dt is not None:
            details["dt"] = float(dt) * stride
        return ChaosResult(self.name, k, self._verdict(k), details, problems)

    def _verdict(self, k: float) -> str:
        if not math.isfinite(k):
            return "inconclusive"
        if k >= self.options["chaotic_above"]:
            return "chaotic"
        if k <= self.options["regular_below"]:
            return "regular"
        return "inconclusive"

    def plot(self, result: ChaosResult, ax: Any) -> Any:
        """Draw the p-q path of ``result`` (Brownian-like for chaos, bounded for regular dynamics)."""
        d = result.details
        ax.plot(d["p"], d["q"], lw=0.5)
        ax.set_xlabel(f"p_c (c = {d['c_plotted']:.3f})")
        ax.set_ylabel("q_c")
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_title(f"0-1 test: K = {result.statistic:.3f} ({result.verdict})")
        return ax


def translation_variables(x: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p_c and q_c for each frequency.

    Args:
        x: the observable, shape ``(N,)``.
        c: frequencies, shape ``(n_c,)``.
    Returns:
        ``(p, q)``, each of shape ``(n_c, N)``.
    """
    angle = c[:, None] * np.arange(1, len(x) + 1)
    return np.cumsum(x * np.cos(angle), axis=1), np.cumsum(x * np.sin(angle), axis=1)


def correlation_k(x: np.ndarray, c: np.ndarray, n_cut: int, chunk: int = 4) -> np.ndarray:
    """K_c = corr(n, D_c(n)) for each c, in O(N log N) per c (FFT autocorrelation and cumulative sums).

    Args:
        x: the observable, shape ``(N,)``.
        c: frequencies, shape ``(n_c,)``.
        n_cut: the largest lag n.
        chunk: how many c are processed at once (bounds the memory to a few ``(chunk, N)`` arrays).
    Returns:
        K_c, shape ``(n_c,)``; NaN where D_c(n) is constant.
    """
    n_total = len(x)
    lags = np.arange(1, n_cut + 1)
    mean_sq = np.mean(x) ** 2
    size = scipy.fft.next_fast_len(n_total + n_cut, real=True)
    centred_lags = lags - lags.mean()
    out = np.empty(len(c))
    for start in range(0, len(c), chunk):
        cc = c[start : start + chunk, None]
        p, q = translation_variables(x, cc[:, 0])
        # M(n) does not change when z = p + iq moves by a constant; centring keeps the
        # three large sums below of similar size, so their difference loses fewer digits.
        p -= p.mean(axis=1, keepdims=True)
        q -= q.mean(axis=1, keepdims=True)
        fp = scipy.fft.rfft(p, n=size, axis=1)
        fq = scipy.fft.rfft(q, n=size, axis=1)
        power = fp.real**2 + fp.imag**2 + fq.real**2 + fq.imag**2
        cross = scipy.fft.irfft(power, n=size, axis=1)[:, 1 : n_cut + 1]
        cum = np.zeros((len(cc), n_total + 1))
        np.cumsum(p * p + q * q, axis=1, out=cum[:, 1:])
        tail = cum[:, -1:] - cum[:, lags]  # sum over j > n of |z_j|^2
        head = cum[:, n_total - lags]  # sum over j <= N - n
        m = (tail + head - 2.0 * cross) / (n_total - lags)
        d = m - mean_sq * (1.0 - np.cos(lags * cc)) / (1.0 - np.cos(cc))
        d -= d.mean(axis=1, keepdims=True)
        norm = np.sqrt(np.sum(d * d, axis=1) * np.sum(centred_lags**2))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + len(cc)] = np.where(norm > 0, d @ centred_lags / norm, np.nan)
    return out


def span_step_ratio(x: np.ndarray, stride: int = 1) -> float:
    """(max - min) / mean |x(j + stride) - x(j)|: large values mean the series is oversampled."""
    step = np.mean(np.abs(x[stride:] - x[:-stride]))
    return float(np.ptp(x) / step) if step > 0 else math.inf


def auto_stride(x: np.ndarray, min_length: int) -> int:
    """The smallest stride s with span / mean|x(j+s) - x(j)| <= 10, capped so that ``min_length`` samples remain."""
    largest = max(1, len(x) // min_length)
    for stride in range(1, largest + 1):
        if span_step_ratio(x, stride) <= AUTO_TARGET_RATIO:
            return stride
    return largest


def _median_gap(k_c: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    a, b = k_c[low & np.isfinite(k_c)], k_c[high & np.isfinite(k_c)]
    if len(a) == 0 or len(b) == 0:
        return 0.0
    return float(np.median(a) - np.median(b))
