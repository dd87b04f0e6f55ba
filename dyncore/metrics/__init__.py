"""Did the model learn the system? Lyapunov exponents, valid prediction time, attractor and spectrum distances.

Every metric takes a :class:`~dyncore.System`, a trained :class:`~dyncore.Model` (through its public
interface: ``rollout(context, t)`` and ``context_length``, plus ``vector_field(t, x)`` when it has
one, as a NODE does) or plain arrays, so an RNN and a NODE are measured by the same code. One
module per concern, every name importable from here:

- :mod:`dyncore.metrics.lyapunov`: :func:`lyapunov_spectrum` (the QR method on the tangent
  dynamics, autograd Jacobian-vector products, a batch of starts at once) and its step maps.
- :mod:`dyncore.metrics.forecast`: :func:`forecast` and :func:`valid_prediction_times` (short term).
- :mod:`dyncore.metrics.distances`: :func:`histogram_distance`, :func:`sliced_wasserstein_distance`
  and :func:`power_spectrum_distance` between a long model run and the truth (long term).
"""

from __future__ import annotations

from dyncore.metrics.distances import (
    histogram_distance,
    power_spectrum,
    power_spectrum_distance,
    sliced_wasserstein_distance,
)
from dyncore.metrics.forecast import forecast, model_dtype, nrmse, valid_prediction_time, valid_prediction_times
from dyncore.metrics.lyapunov import (
    AVERAGING_LYAPUNOV_TIMES,
    DEFAULT_LYAPUNOV_STEPS,
    DEFAULT_SEGMENTS,
    LyapunovConvergenceWarning,
    LyapunovSpectrum,
    default_lyapunov_steps,
    flow_step,
    lyapunov_spectrum,
    lyapunov_spectrum_of_map,
    rk4_step,
    settle,
    starts_near,
    window_step,
)
from dyncore.tableaus import Step, classic_rk4_step

__all__ = [
    "AVERAGING_LYAPUNOV_TIMES",
    "DEFAULT_LYAPUNOV_STEPS",
    "DEFAULT_SEGMENTS",
    "LyapunovConvergenceWarning",
    "LyapunovSpectrum",
    "Step",
    "classic_rk4_step",
    "default_lyapunov_steps",
    "flow_step",
    "forecast",
    "histogram_distance",
    "lyapunov_spectrum",
    "lyapunov_spectrum_of_map",
    "model_dtype",
    "nrmse",
    "power_spectrum",
    "power_spectrum_distance",
    "rk4_step",
    "settle",
    "sliced_wasserstein_distance",
    "starts_near",
    "valid_prediction_time",
    "valid_prediction_times",
    "window_step",
]
