"""Lyapunov exponents of a System, a trained Model or a vector field, by the QR method on the tangent dynamics.

Every metric takes a :class:`~dyncore.System`, a trained :class:`~dyncore.Model` (through its public
interface: ``rollout(context, t)`` and ``context_length``, plus ``vector_field(t, x)`` when it has
one, as a NODE does) or plain arrays, so an RNN and a NODE are measured by the same code.

- :func:`lyapunov_spectrum`: the QR (Benettin) method on the tangent dynamics, with Jacobian-vector
  products from autograd, over a batch of starts at once. A vector field is stepped by the
  integrator it asks for (:func:`flow_step`: ETDRK4 for a semilinear split, else the classic RK4) and its
  exponents are those of that step map; a model without a vector field (an RNN) is the map from
  its last ``context_length`` states to the next. Standard errors come from independent segments
  of the averaging window as well as from the spread over starts.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dyncore.defaults import SEMILINEAR_SOLVER
from dyncore.errors import ConfigError, DataError
from dyncore.metrics.forecast import model_dtype
from dyncore.model import Model, learned_vector_field
from dyncore.system import System
from dyncore.tableaus import Step, classic_rk4_step

#: Segments of the averaging window behind the batch-means standard error of Lyapunov exponents.
DEFAULT_SEGMENTS = 10


# -- Lyapunov exponents -------------------------------------------------------------------------


@dataclass
class LyapunovSpectrum:
    """Lyapunov exponents estimated over a batch of starts.

    Args:
        exponents: mean over starts, largest first, per unit time, shape ``(k,)``.
        stderr: standard error of that mean, shape ``(k,)``: the larger of the spread over starts
            (``std / sqrt(batch)``, honest only when the starts are independent) and the spread over
            consecutive segments of the averaging window (``std / sqrt(n_segments)`` of
            ``per_segment``, honest when starts stay in phase); see :func:`lyapunov_spectrum_of_map`.
        per_start: the estimate from each start, shape ``(batch, k)``.
        time: how long each start was followed while averaging (in time units).
        per_segment: the estimate from each segment of the window, averaged over starts, ``(n_segments, k)``.
    """

    exponents: np.ndarray
    stderr: np.ndarray
    per_start: np.ndarray
    time: float
    per_segment: np.ndarray | None = None

    @property
    def largest(self) -> float:
        """lambda_1."""
        return float(self.exponents[0])

    def kaplan_yorke_dimension(self) -> float:
        """j + (lambda_1 + ... + lambda_j) / |lambda_{j+1}| with j the longest prefix of non-negative sum."""
        sums = np.cumsum(self.exponents)
        if sums[0] < 0:
            return 0.0
        j = int(np.nonzero(sums >= 0)[0][-1]) + 1
        if j == len(self.exponents):
            return float(j)
        return j + float(sums[j - 1]) / abs(float(self.exponents[j]))

    def as_dict(self) -> dict[str, Any]:
        return {
            "exponents": self.exponents.tolist(),
            "stderr": self.stderr.tolist(),
            "time": self.time,
            "starts": len(self.per_start),
            "segments": 0 if self.per_segment is None else len(self.per_segment),
        }


class LyapunovConvergenceWarning(UserWarning):
    """The averaging window was too short for lambda_1: its sign or size is not established."""


#: The classic RK4 map (:func:`dyncore.tableaus.classic_rk4_step`) under its old name; not the 3/8-rule ``rk4`` solver.
rk4_step = classic_rk4_step


def flow_step(dynamics: Any, dt: float) -> Step:
    """The map ``x -> x(t + dt)`` of an autonomous vector field, by the integrator the field asks for.

    A system with a semilinear split (``linear_operator()``, ``nonlinear(t, v)``, as Kuramoto-
    Sivashinsky has) is stepped with ETDRK4, whose internal steps are at most the system's own
    step (:meth:`~dyncore.System.fixed_step`): RK4 would blow up on its stiff linear part. Anything
    else (a System, a NODE's ``vector_field``, a callable ``f(t, x)``) is stepped with the classic RK4 of
    step ``dt`` (:func:`~dyncore.tableaus.classic_rk4_step`; the registered ``rk4`` solver is the 3/8 rule).
    """
    if isinstance(dynamics, System) and dynamics.has_semilinear_split:
        import dyncore

        solver = dyncore.solvers.create(SEMILINEAR_SOLVER)
        span = torch.tensor([0.0, dt], dtype=torch.float64)

        def step(x: torch.Tensor) -> torch.Tensor:
            return solver.solve(dynamics, x, span.to(x.device))[-1]

        return step
    return classic_rk4_step(_field_of(dynamics), dt)


def _field_of(dynamics: Any) -> Any:
    """The field ``f(t, x)`` of a System or of a model that declares one; anything else is taken to be ``f`` itself."""
    if isinstance(dynamics, System):
        return dynamics.vector_field
    if isinstance(dynamics, Model):
        return learned_vector_field(dynamics) or dynamics
    return dynamics


def _tangent_step(step: Step, x: torch.Tensor, basis: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply ``step`` to ``x`` and its Jacobian to each column of ``basis``.

    Args:
        x: states, shape ``(batch, *state)``.
        basis: tangent vectors, shape ``(batch, D, k)`` with ``D = prod(state)``.
    Returns:
        ``(step(x), J @ basis)`` with the shapes of the inputs.

    The k tangents ride along the batch dimension (the state repeated k times), and J v comes from
    two reverse passes (the "double vjp": v -> grad_u <grad_x <step(x), u>, v>), which costs the same
    for any k and needs only reverse-mode autograd.
    """
    batch, dims, k = basis.shape
    xs = x.detach().repeat(k, *([1] * (x.dim() - 1))).requires_grad_(True)
    tangents = basis.permute(2, 0, 1).reshape(k * batch, *x.shape[1:])
    out = step(xs)
    if not out.requires_grad:
        raise ConfigError("the step map is not differentiable (it ran without autograd); Lyapunov exponents need gradients")
    u = torch.zeros_like(out, requires_grad=True)
    (vjp,) = torch.autograd.grad(out, xs, u, create_graph=True)
    (jv,) = torch.autograd.grad(vjp, u, tangents)
    return out[:batch].detach(), jv.reshape(k, batch, dims).permute(1, 2, 0)


def lyapunov_spectrum_of_map(
    step: Step,
    x0: torch.Tensor,
    *,
    n_steps: int,
    n_transient: int = 100,
    n_exponents: int | None = None,
    time_step: float = 1.0,
    seed: int = 0,
    n_segments: int = DEFAULT_SEGMENTS,
) -> LyapunovSpectrum:
    """Lyapunov exponents of the map ``x -> step(x)`` by the QR method, from a batch of starts.

    The standard error is the larger of two spreads: over the starts (honest when they are
    independent) and over ``n_segments`` consecutive segments of the averaging window, each
    averaged over all starts (the batch-means estimate: honest when the segments are longer than
    the orbit's correlation time, even if every start follows the same path in phase).

    Args:
        step: the map; takes and returns states of shape ``(batch, *state)``, differentiable.
        x0: starts (already on the attractor), shape ``(batch, *state)``.
        n_steps: steps averaged over.
        n_transient: steps first taken to align the tangent vectors (not averaged).
        n_exponents: how many exponents (default: all, ``prod(state)``).
        time_step: time per step, so the exponents are per unit time.
        seed: seed of the random initial tangent vectors.
        n_segments: segments of the averaging window for the batch-means error (fewer if ``n_steps`` is smaller).
    Returns:
        A :class:`LyapunovSpectrum`.
    Raises:
        DataError: the orbit left the finite numbers (blew up).
    """
    batch = x0.shape[0]
    dims = int(np.prod(x0.shape[1:]))
    k = dims if n_exponents is None else int(n_exponents)
    if not 1 <= k <= dims:
        raise ConfigError(f"n_exponents must be between 1 and the state dimension {dims}, got {n_exponents}")
    if n_steps < 1:
        raise ConfigError(f"n_steps must be at least 1, got {n_steps}")
    if isinstance(n_segments, bool) or not isinstance(n_segments, int) or n_segments < 2:
        raise ConfigError(f"n_segments must be an integer >= 2, got {n_segments!r}")
    segments = min(n_segments, n_steps)
    generator = torch.Generator().manual_seed(seed)
    basis = torch.randn(batch, dims, k, generator=generator, dtype=torch.float64).to(x0)
    basis, _ = torch.linalg.qr(basis)
    x = x0
    totals = torch.zeros(segments, batch, k, dtype=torch.float64, device=x0.device)
    with torch.enable_grad():
        for i in range(n_transient + n_steps):
            x, moved = _tangent_step(step, x, basis)
            basis, r = torch.linalg.qr(moved)
            diag = torch.diagonal(r, dim1=-2, dim2=-1)
            basis = basis * torch.sign(diag).unsqueeze(-2)  # keep orientation (det > 0 per column)
            if i >= n_transient:
                totals[(i - n_transient) * segments // n_steps] += torch.log(diag.abs()).to(torch.float64)
    if not torch.isfinite(totals).all() or not torch.isfinite(x).all():
        raise DataError("the orbit blew up (non-finite states) while measuring Lyapunov exponents; the model is unstable here")
    totals = totals.cpu().numpy()
    per_start = totals.sum(axis=0) / (n_steps * time_step)  # the QR method orders them, largest first
    lengths = np.diff(np.arange(segments + 1) * n_steps // segments)  # steps per segment
    per_segment = totals.mean(axis=1) / (lengths[:, None] * time_step)
    unknown = np.full(k, np.nan)  # one start, or one segment: that spread cannot be measured
    from_segments = per_segment.std(axis=0, ddof=1) / math.sqrt(segments) if segments > 1 else unknown
    from_starts = per_start.std(axis=0, ddof=1) / math.sqrt(batch) if batch > 1 else unknown
    stderr = np.fmax(from_starts, from_segments)  # NaN only when neither can be measured
    return LyapunovSpectrum(per_start.mean(axis=0), stderr, per_start, n_steps * time_step, per_segment)


def lyapunov_spectrum(
    dynamics: Any,
    x0: Any,
    *,
    dt: float,
    n_steps: int | None = None,
    n_transient: int = 250,
    n_exponents: int | None = None,
    seed: int = 0,
    n_segments: int = DEFAULT_SEGMENTS,
) -> LyapunovSpectrum:
    """Lyapunov exponents of a System, a trained Model, or a vector field ``f(t, x)``.

    A vector field (a System, a model with ``vector_field`` such as a NODE, or a callable) is
    stepped by :func:`flow_step`: ETDRK4 for a system with a semilinear split (Kuramoto-Sivashinsky),
    else the classic RK4 of step ``dt``. A model without one (an RNN) is the map from its last
    ``context_length`` states to the next, taken through ``rollout``; its state is that window, so
    it has ``context_length * dim`` exponents, of which the first approximate the system's. A model
    is measured in its own dtype (:func:`~dyncore.metrics.model_dtype`), on the CPU.

    When lambda_1's sign is not established (``|lambda_1| < 2 stderr``), a
    :class:`LyapunovConvergenceWarning` says so: the window was too short for a slow system, or the
    orbit is periodic (lambda_1 = 0).

    Args:
        dynamics: what to measure.
        x0: starts on the attractor: ``(batch, dim)`` for a vector field; for a map, windows of
            ``(context_length, batch, dim)`` as :meth:`Model.rollout` takes them.
        dt: time step (of the step map, or the model's sampling interval).
        n_steps: steps averaged over; ``None``: 1000, or more when ``dynamics`` publishes lambda_1
            (``reference()``) so that the window spans at least :data:`AVERAGING_LYAPUNOV_TIMES`
            Lyapunov times (the system's own time scale: Rössler needs 7000 steps of 0.02).
        n_transient, n_exponents, seed, n_segments: see :func:`lyapunov_spectrum_of_map`.
    Returns:
        A :class:`LyapunovSpectrum`, per unit time.

    Example (about 2 s)::

        lorenz = dyncore.systems.create("lorenz")
        starts = settle(lorenz, starts_near(lorenz, 256), dt=0.02, n_steps=1000)
        lyapunov_spectrum(lorenz, starts, dt=0.02).exponents  # ~ (0.906, 0.00, -14.57)
    """
    if n_steps is None:
        n_steps = default_lyapunov_steps(dynamics, dt)
    x = torch.as_tensor(np.asarray(x0) if not torch.is_tensor(x0) else x0).to(torch.float64)
    options = {"n_steps": n_steps, "n_transient": n_transient, "n_exponents": n_exponents, "seed": seed, "n_segments": n_segments}
    if isinstance(dynamics, Model):
        if dynamics.device.type != "cpu":
            # A sequential loop over tiny tensors runs best on the CPU, and cuDNN's RNN has no
            # forward-mode derivative: measure a CPU copy of a model trained on a GPU.
            dynamics = copy.deepcopy(dynamics).cpu()
        x = x.to(device=dynamics.device, dtype=model_dtype(dynamics))
        if learned_vector_field(dynamics) is None:
            if x.dim() != 3 or x.shape[0] != dynamics.context_length:
                raise DataError(
                    f"starts for a model without a vector field must be windows of shape (context_length = "
                    f"{dynamics.context_length}, batch, dim), got {tuple(x.shape)}"
                )
            spectrum = lyapunov_spectrum_of_map(window_step(dynamics, dt), x.transpose(0, 1).contiguous(), time_step=dt, **options)
            return _check_converged(spectrum)
        if x.dim() == 3:  # a context of length 1
            x = x[-1]
    field = _field_of(dynamics)
    if not callable(field):
        raise ConfigError(f"cannot measure Lyapunov exponents of {type(dynamics).__name__}: give a System, a Model or f(t, x)")
    if x.dim() == 1:
        x = x[None]
    return _check_converged(lyapunov_spectrum_of_map(flow_step(dynamics, dt), x, time_step=dt, **options))


#: Lyapunov times the default averaging window of :func:`lyapunov_spectrum` spans when lambda_1 is published.
AVERAGING_LYAPUNOV_TIMES = 10.0
#: Steps of the default averaging window when lambda_1 is not published (or is short enough).
DEFAULT_LYAPUNOV_STEPS = 1000


def default_lyapunov_steps(dynamics: Any, dt: float) -> int:
    """:data:`DEFAULT_LYAPUNOV_STEPS`, raised so the window spans :data:`AVERAGING_LYAPUNOV_TIMES` published Lyapunov times."""
    published = dynamics.reference() if isinstance(dynamics, System) else {}
    exponents = published.get("lyapunov_exponents") or [published.get("largest_lyapunov_exponent")]
    largest = exponents[0] if exponents else None
    if isinstance(largest, (int, float)) and largest > 0 and dt > 0:
        return max(DEFAULT_LYAPUNOV_STEPS, math.ceil(AVERAGING_LYAPUNOV_TIMES / (largest * dt)))
    return DEFAULT_LYAPUNOV_STEPS


def _check_converged(spectrum: LyapunovSpectrum) -> LyapunovSpectrum:
    """Warn when lambda_1 is within two standard errors of 0: its sign is not established."""
    largest, error = spectrum.largest, float(spectrum.stderr[0])
    if abs(largest) < 2 * error:
        warnings.warn(LyapunovConvergenceWarning(
            f"lambda_1 = {largest:.3g} +- {error:.2g} is not resolved from 0 after averaging over T = {spectrum.time:g}: "
            "a periodic orbit gives 0, a slow chaotic system needs a longer window (raise n_steps: about 10 Lyapunov "
            "times) and starts spread along the attractor"
        ), stacklevel=3)
    return spectrum


def window_step(model: Model, dt: float) -> Step:
    """The map from windows of states ``(batch, context_length, dim)`` one step forward, through ``model.rollout``."""
    length = model.context_length
    t = torch.arange(length + 1, dtype=torch.float64, device=model.device) * dt

    def step(window: torch.Tensor) -> torch.Tensor:
        following = model.rollout(window.transpose(0, 1), t)[-1]
        return torch.cat([window[:, 1:], following.unsqueeze(1)], dim=1)

    return step


def starts_near(system: Any, n: int, *, scale: float = 1e-3, seed: int = 0) -> torch.Tensor:
    """``n`` states scattered around ``system.default_x0()`` (relative ``scale``), shape ``(n, dim)``, float64."""
    x0 = torch.as_tensor(system.default_x0(), dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)
    size = scale * max(float(x0.abs().max()), 1.0)
    return x0 + size * torch.randn(n, x0.shape[-1], generator=generator, dtype=torch.float64)


@torch.no_grad()
def settle(dynamics: Any, x0: Any, *, dt: float, n_steps: int) -> torch.Tensor:
    """Run ``dynamics`` (a System or ``f(t, x)``) ``n_steps`` steps of :func:`flow_step` from ``x0`` ``(batch, dim)``.

    Used to put starts on the attractor before measuring.
    """
    step = flow_step(dynamics, dt)
    x = torch.as_tensor(x0, dtype=torch.float64)
    for _ in range(n_steps):
        x = step(x)
    if not torch.isfinite(x).all():
        raise DataError(f"settling blew up at dt = {dt}; use a smaller dt")
    return x
