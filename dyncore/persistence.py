"""Chaos persistence: does a model stay chaotic over a very long free run, and if not, what does it settle onto?

A learned model can look chaotic for a hundred Lyapunov times and then fall onto a fixed point or a
limit cycle (the reference article: "there may always be a time after which the trajectory converges
to a fixed point or a limit cycle"). :func:`chaos_persistence` runs the model from a batch of starts
on the true attractor for a long time (10^4 Lyapunov times by default), one window at a time, and
computes the registered 0-1 test's K on each window as it goes; only the per-window numbers are
kept, so memory does not grow with the length of the run. A start *stops being chaotic* at the
beginning of the last stretch of windows with K below the threshold that lasts to the end of the
run (to within one window); its *fate* is read from the last window:

- ``"blow-up"``: a state became non-finite or left the truth's range by over 100 half-widths, or the
  model's solver failed (``blew_up`` holds the time); a start whose K was still chaotic on what came
  before (when that is long enough to test) stopped being chaotic at that very step;
- ``"fixed point"``: the displacement collapsed (the window's *motion*, its mean step in states scaled
  by the truth's spread, is below 1e-3 of the truth's), or is still shrinking (the second half of the
  last window moves less than 0.9 of the first, or the last three windows each move less than the one
  before, by over 10 % in all: a slow spiral into a fixed point);
- ``"cycle"``: the orbit recurs: some lag brings the second half of the last window back onto itself to
  within one sampling step, RMS (the lag is the ``period``);
- ``"regular"``: none of these (e.g. a torus, or a slow transient);
- ``"chaotic"``: never stopped.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import dyncore
from dyncore.defaults import DEFAULT_CHAOS_TEST
from dyncore.errors import ConfigError, DataError, DyncoreError
from dyncore.limits import check_size

if TYPE_CHECKING:
    from dyncore.model import Model
    from dyncore.system import System

#: Held-out starts are settled this many Lyapunov times onto the attractor (as in dyncore.evaluate).
TRANSIENT_LYAPUNOV_TIMES = 20.0
#: Without a positive lambda_1, a system that publishes its limit cycle's ``period`` settles this many periods.
TRANSIENT_PERIODS = 5.0
#: Length of the truth's reference run (scale, centre and the 0-1 test's stride), in Lyapunov times (at most a window).
REFERENCE_LYAPUNOV_TIMES = 20.0
#: A run farther from the centre of the truth's range than this many half-ranges has blown up (as in evaluate).
ESCAPE_FACTOR = 100.0
#: A window whose motion (mean step, states scaled by the truth's std, over the truth's) is below this has collapsed.
COLLAPSED = 1e-3
#: A window whose second half moves less than this fraction of its first half is still converging (also the
#: total shrink over the last three windows that makes a steady decrease count).
SHRINKING = 0.9
#: A lag that brings the window's second half to within this many sampling steps of itself (RMS) is a period.
RECURRENCE_STEPS = 1.0
FATES = ("chaotic", "fixed point", "cycle", "regular", "blow-up")


@dataclass
class Persistence:
    """The outcome of :func:`chaos_persistence`: K per window per start, when each start stopped being chaotic, and onto what.

    Times are in the system's time units; :attr:`unit` is the Lyapunov time ``1 / lambda_1`` when
    lambda_1 is known (then :meth:`in_units` converts to Lyapunov times), else 1.

    Attributes:
        window_starts: start time of every window, ``(n_windows,)``.
        k: the 0-1 test's K, ``(n_starts, n_windows)``: 0 for a collapsed window, NaN after a blow-up.
        motion: the window's mean step over the truth's (states scaled by the truth's std), ``(n_starts, n_windows)``.
        stopped: per start, the time it stopped being chaotic (``None``: it never did).
        fates: per start, one of :data:`FATES`.
        periods: per start, the period of a ``"cycle"`` (else ``None``).
        dips: per start, windows with K below the threshold that chaos came back after.
        blew_up: per start, the time it blew up or its solver failed (``None``: it did not).
        ends: per start, its last state ``(n_starts, dim)`` (a fixed point's location; NaN after a blow-up).
        notes: what was assumed or went wrong, one line each.
    """

    system: str | None
    model: str | None
    dt: float
    duration: float
    window: float
    lyapunov_exponent: float | None
    threshold: float
    stride: int
    rollout: str
    window_starts: np.ndarray
    k: np.ndarray
    motion: np.ndarray
    stopped: list[float | None]
    fates: list[str]
    periods: list[float | None]
    dips: list[int]
    blew_up: list[float | None]
    ends: np.ndarray
    notes: list[str] = field(default_factory=list)

    @property
    def unit(self) -> float:
        """One Lyapunov time when lambda_1 is known, else one time unit."""
        return 1.0 / self.lyapunov_exponent if self.lyapunov_exponent else 1.0

    @property
    def unit_name(self) -> str:
        return "Lyapunov times" if self.lyapunov_exponent else "time units"

    def in_units(self, t: float | None) -> float | None:
        """``t`` (time units) in Lyapunov times when lambda_1 is known."""
        return None if t is None else float(t) / self.unit

    @property
    def lasted(self) -> list[float]:
        """Per start, how long chaos lasted, in time units: the stop time, or the whole duration."""
        return [self.duration if s is None else s for s in self.stopped]

    @property
    def median_lasts(self) -> float:
        """The median over starts of :attr:`lasted` (time units); equal to the duration when most never stopped."""
        return float(np.median(self.lasted))

    @property
    def never_stopped(self) -> int:
        return sum(s is None for s in self.stopped)

    def headline(self) -> str:
        """One line: how long chaos lasts (median over starts), and the fates."""
        counts = {fate: self.fates.count(fate) for fate in FATES if fate in self.fates}
        fates = ", ".join(f"{n} {fate}" for fate, n in counts.items())
        return f"chaos lasts {format_lasts(self.summary())} {self.unit_name} (median of {len(self.fates)} starts; fates: {fates})"

    def summary(self) -> dict[str, Any]:
        """The headline numbers, JSON-able, in :attr:`unit_name`: what ``evaluate`` and the fidelity table report."""
        lasted = [self.in_units(v) for v in self.lasted]
        return {
            "unit": self.unit_name,
            "duration": self.in_units(self.duration),
            "window": self.in_units(self.window),
            "n_starts": len(self.fates),
            "median_lasts": float(np.median(lasted)),
            "never_stopped": self.never_stopped,
            "lasts_per_start": lasted,
            "stopped_per_start": [self.in_units(s) for s in self.stopped],
            "fates": list(self.fates),
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-able (NaN as ``None``)."""

        def plain(a: np.ndarray) -> list:
            return [[None if not math.isfinite(v) else float(v) for v in row] for row in np.atleast_2d(a)]

        return {
            **self.summary(),
            "system": self.system,
            "model": self.model,
            "dt": self.dt,
            "lyapunov_exponent": self.lyapunov_exponent,
            "threshold": self.threshold,
            "stride": self.stride,
            "rollout": self.rollout,
            "window_starts": [self.in_units(float(t)) for t in self.window_starts],
            "k": plain(self.k),
            "motion": plain(self.motion),
            "periods": list(self.periods),
            "dips": list(self.dips),
            "blew_up_per_start": [self.in_units(t) for t in self.blew_up],
            "ends": plain(self.ends),
            "notes": list(self.notes),
        }


def format_lasts(summary: dict[str, Any]) -> str:
    """``"120"`` for a median stop time, ``">10000"`` when the median start never stopped (from :meth:`Persistence.summary`)."""
    ordered = sorted(math.inf if s is None else v for v, s in zip(summary["lasts_per_start"], summary["stopped_per_start"]))
    n = len(ordered)
    median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    return f">{_rounded(summary['duration'])}" if math.isinf(median) else _rounded(median)


def _rounded(value: float) -> str:
    """Three significant digits, without an exponent for values up to 10^6 (10000, 120, 4.5)."""
    return f"{value:.0f}" if abs(value) >= 100 and abs(value) < 1e6 else f"{value:.3g}"


def chaos_persistence(
    model_or_run: Any,
    system: Any = None,
    *,
    lyapunov_times: float = 1e4,
    n_starts: int = 8,
    window_lyapunov_times: float = 100.0,
    duration: float | None = None,
    window: float | None = None,
    dt: float | None = None,
    starts: Any = None,
    seed: int = 1,
    threshold: float | None = None,
    component: int = 0,
    rollout: str = "quick",
    solver: str | None = None,
    progress: bool | None = None,
) -> Persistence:
    """Run a model (or a system) for a long time from several starts and report when, if ever, each stops being chaotic.

    Args:
        model_or_run: a trained :class:`~dyncore.Model`, a :class:`~dyncore.Run` or run directory, or a
            :class:`~dyncore.System` (the truth, integrated by ``solver``: the reference reading).
        system: the true system (instance or name) the starts come from and that sets the scale;
            ``None``: the one the run was trained on (or ``model_or_run`` itself when it is a System).
        lyapunov_times, window_lyapunov_times: length of the run and of each window in Lyapunov times
            (``1 / lambda_1``, the system's published lambda_1).
        duration, window: the same in time units; required where lambda_1 is unknown or not positive.
        dt: sampling step (default: the run's training step, else the system's reference step).
        n_starts: starts, seeded random states settled onto the attractor (20 Lyapunov times, else 5
            published periods, else the system's declared transient).
        starts: explicit starts instead, ``(n_starts, dim)`` or ``(context_length, n_starts, dim)``.
        seed: seed of the starts and of the 0-1 test's frequencies (the default 1 differs from the data's 0).
        threshold: K below which a window is not chaotic (default: the 0-1 test's ``chaotic_above``, 0.8).
        component: the state component the 0-1 test reads.
        rollout: ``"quick"`` (the model's :meth:`~dyncore.Model.quick_rollout`: a NODE steps its training
            method on the output grid, about 70x faster than its adaptive rollout) or ``"full"``
            (:meth:`~dyncore.Model.rollout`). Each window starts its model clock at 0 (a float32 model
            cannot resolve the step at t = 10^4), so a time-dependent model sees every window from its time 0.
        solver: the solver of the truth when ``model_or_run`` is a System (default: the system's own).
        progress: progress on stderr (``None``: on a terminal, for runs longer than a second).
    Returns:
        A :class:`Persistence`.
    Raises:
        ConfigError: no system to draw starts from, lengths that do not fit (a window shorter than the
            0-1 test's 100 samples, longer than the run, or too large for memory), an unknown ``rollout``.
    """
    import torch

    from dyncore.simulation import Progress
    from dyncore.system import System

    truth = model_or_run if isinstance(model_or_run, System) else None
    model, info = (None, {}) if truth is not None else _resolve_model(model_or_run)
    if rollout not in ("quick", "full"):
        raise ConfigError(f"rollout must be 'quick' or 'full', got {rollout!r}")
    if system is None:
        system = truth if truth is not None else info.get("system")
    if system is not None:
        same = isinstance(system, str) and system == info.get("system")
        system = dyncore.systems.resolve(system, **(info.get("params", {}) if same else {}))
    if system is None and starts is None:
        raise ConfigError("say which system the starts come from (--system NAME) or give the starts")
    notes: list[str] = []
    lam = _positive_exponent(system)
    duration = _length("duration", duration, lyapunov_times, lam)
    window = _length("window", window, window_lyapunov_times, lam)
    if dt is not None and (isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) or dt <= 0):
        raise ConfigError(f"dt must be a positive number, got {dt!r}")
    dt = float(dt or info.get("dt") or _model_step(model) or (_reference_step(system) if system is not None else 0) or 0)
    if not dt > 0:
        raise ConfigError("give the sampling step dt (--dt): neither the run nor the system declares one")
    if model is not None and system is not None and model.dim is not None and model.dim != system.dim:
        raise ConfigError(f"the model has dimension {model.dim} but system {system.name!r} has {system.dim}; give the system it was trained on")
    context = model.context_length if model is not None else 1
    n_window = int(round(window / dt))
    n_windows = int(round(duration / window))
    if window > duration * (1 + 1e-9):
        raise ConfigError(f"the window ({window:g}) is longer than the run ({duration:g}); give a shorter window or a longer run")
    if abs(n_windows * window - duration) > 1e-6 * duration:
        notes.append(f"the run is {n_windows} whole windows: {n_windows * window:g} time units")
    duration = n_windows * n_window * dt
    window = n_window * dt

    test_probe = dyncore.chaos_tests.create(DEFAULT_CHAOS_TEST, subsample="auto", component=0, seed=seed)
    threshold = float(test_probe.options["chaotic_above"] if threshold is None else threshold)
    if not 0 < threshold <= 1:
        raise ConfigError(f"the threshold on K must be in (0, 1], got {threshold:g}")

    # The starts, and a reference run of the truth from them: the scale, the centre and the 0-1 test's stride.
    first, reference = _starts(system, starts, n_starts, context, dt, seed, lam, _reference_length(system, lam, window))
    dim = first.shape[-1]
    if not -dim <= component < dim:
        raise ConfigError(f"component {component} is out of range for a {dim}-dimensional state; use 0..{dim - 1}")
    check_size(f"{n_windows} windows x {first.shape[1]} starts", 16.0 * n_windows * first.shape[1], "use fewer, longer windows")
    check_size(f"a window of {n_window} steps x {first.shape[1]} starts x {dim}", 8.0 * (n_window + context) * first.shape[1] * dim,
               "use a shorter window or fewer starts")
    if model is not None and model.hparams.get("time_dependent"):
        notes.append("the model is time-dependent: every window starts its clock at 0")

    stepper = _Stepper(model, truth, rollout, solver, dt)
    if reference is None:  # no system: the model's own first window sets the scale
        reference = stepper.advance(first, n_window, 0.0)[context:]
        notes.append("no system given: the scale and the 0-1 test's stride come from the model's own first window")
    flat = reference.reshape(-1, dim)
    centre, half = (flat.max(axis=0) + flat.min(axis=0)) / 2, (flat.max(axis=0) - flat.min(axis=0)) / 2
    sigma = flat.std(axis=0)
    if not np.all(sigma > 0):
        raise DataError("the reference run does not vary in every component; the starts sit on a fixed point")
    truth_motion = float(np.median([_motion(reference[:, j], sigma) for j in range(reference.shape[1])]))
    stride = _stride(test_probe, reference[:, :, component])
    test = dyncore.chaos_tests.create(DEFAULT_CHAOS_TEST, subsample=stride, component=0, seed=seed)
    if n_window // stride < test.min_length:
        raise ConfigError(f"a window of {window:g} time units gives {n_window // stride} samples at the 0-1 test's stride {stride}; "
                          f"it needs {test.min_length}: give a window of at least {test.min_length * stride * dt:g}")

    n = first.shape[1]
    k = np.full((n, n_windows), np.nan)
    motion = np.full((n, n_windows), np.nan)
    blown: dict[int, float] = {}  # start -> the time it blew up (or its solver failed)
    failed: dict[int, str] = {}  # start -> the solver's message
    states = first  # (context, n, dim): the last states of every start
    last = np.empty((0, n, dim))  # the final window of every start, for the fates
    meter = Progress(f"chaos persistence ({n} starts)", 0.0, duration, progress)
    try:
        with torch.no_grad():
            for w in range(n_windows):
                alive = [i for i in range(n) if i not in blown and i not in failed]
                if not alive:
                    break
                t0 = w * window
                out, errors = stepper.advance_each(states[:, alive], n_window, t0)
                for j, message in errors.items():
                    failed[alive[j]], blown[alive[j]] = message, t0
                new = out[context:]  # (n_window, alive, dim)
                for j, i in enumerate(alive):
                    if i in failed:
                        continue
                    x = new[:, j]
                    bad = ~np.all(np.isfinite(x), axis=1) | (np.max(np.abs(x - centre) / np.where(half > 0, half, 1.0), axis=1) > ESCAPE_FACTOR)
                    if bad.any():  # K of what came before, if long enough: was it chaotic up to the blow-up?
                        blown[i] = t0 + (int(np.argmax(bad)) + 1) * dt
                        x = x[: int(np.argmax(bad))]
                        if len(x) // stride < test.min_length:
                            continue
                    motion[i, w] = _motion(np.concatenate([states[-1:, i], x]), sigma) / truth_motion
                    k[i, w] = 0.0 if motion[i, w] <= COLLAPSED else _k(test, x[:, component], notes, i, t0)
                states = states.copy()
                states[:, alive] = out[-context:]
                if w == n_windows - 1:
                    last = np.full((n_window, n, dim), np.nan)
                    last[:, alive] = new
                if meter.enabled:
                    meter.update(t0 + window)
    finally:
        meter.close()

    stopped, fates, periods, dips = [], [], [], []
    for i in range(n):
        chaotic = k[i] >= threshold
        if i in blown or i in failed:
            # chaotic up to the blow-up: chaos stopped then; else where its last non-chaotic stretch began
            at = int(blown[i] // window) if i not in failed else int(round(blown[i] / window))
            at = min(at, n_windows - 1)
            before = chaotic[: at + 1]
            stopped.append(blown[i] if before[-1] else (at + 1 - int(np.argmax(before[::-1]))) * window if before.any() else 0.0)
            fates.append("blow-up")
            periods.append(None)
            dips.append(_dips(chaotic, np.isfinite(k[i])))
            if i in failed:
                notes.append(f"start {i}: the model's solver failed at t = {stopped[-1]:g}: {failed[i]}")
            continue
        dips.append(_dips(chaotic, np.ones_like(chaotic)))
        if chaotic[-1]:
            stopped.append(None)
            fates.append("chaotic")
            periods.append(None)
            continue
        begin = len(chaotic) - int(np.argmax(chaotic[::-1])) if chaotic.any() else 0
        stopped.append(begin * window)
        fate, period = _fate(last[:, i], sigma, motion[i, begin:], stride, dt)
        fates.append(fate)
        periods.append(period)
    return Persistence(
        system=system.name if system is not None else None,
        model=model.config().get("model") if model is not None else f"truth ({system.name})",
        dt=dt, duration=duration, window=window, lyapunov_exponent=lam, threshold=threshold, stride=stride,
        rollout=rollout if model is not None else "system", window_starts=np.arange(n_windows) * window, k=k,
        motion=motion, stopped=stopped, fates=fates, periods=periods, dips=dips, notes=notes,
        blew_up=[blown.get(i) for i in range(n)],
        ends=np.where(np.isin(np.arange(n), list(blown))[:, None], np.nan, states[-1]),
    )


class _Stepper:
    """Continues every start for one window: the model's rollout (clock restarted at 0) or the system's simulate."""

    def __init__(self, model: Model | None, truth: System | None, rollout: str, solver: str | None, dt: float) -> None:
        self.model, self.truth, self.rollout, self.solver, self.dt = model, truth, rollout, solver, dt

    def advance(self, states: np.ndarray, n_steps: int, t0: float) -> np.ndarray:
        """``states`` ``(context, n, dim)`` continued ``n_steps`` steps: ``(context + n_steps, n, dim)``, float64."""
        import torch

        from dyncore.metrics import model_dtype

        context = len(states)
        if self.model is None:
            t = t0 + np.arange(n_steps + 1) * self.dt
            x = self.truth.simulate(states[-1], t, solver=self.solver, transient=0.0, progress=False).x
            return np.concatenate([states[:-1], x.reshape(len(t), states.shape[1], -1)])
        t = torch.arange(context + n_steps, dtype=torch.float64) * self.dt
        ctx = torch.as_tensor(states, dtype=model_dtype(self.model), device=self.model.device)
        go = self.model.quick_rollout if self.rollout == "quick" else self.model.rollout
        return go(ctx, t).detach().cpu().numpy().astype(np.float64)

    def advance_each(self, states: np.ndarray, n_steps: int, t0: float) -> tuple[np.ndarray, dict[int, str]]:
        """:meth:`advance` for the batch; if that fails, start by start, so one failure stops only its start."""
        try:
            return self.advance(states, n_steps, t0), {}
        except DyncoreError:
            if states.shape[1] == 1:
                raise
        out = np.full((len(states) + n_steps, *states.shape[1:]), np.nan)
        errors = {}
        for j in range(states.shape[1]):
            try:
                out[:, j] = self.advance(states[:, j : j + 1], n_steps, t0)[:, 0]
            except DyncoreError as exc:
                errors[j] = str(exc)
        return out, errors


def _resolve_model(source: Any) -> tuple[Model, dict[str, Any]]:
    """The model and what its run records of its training data (system, parameters, step)."""
    from dyncore.model import Model

    if isinstance(source, Model):
        return source, {}
    if isinstance(source, (str, os.PathLike)):
        source = dyncore.Run.load(Path(source))
    model = getattr(source, "model", None)
    if not isinstance(model, Model):
        raise ConfigError(f"cannot run {type(source).__name__}: give a trained Model, a Run, a run directory or a System")
    data = getattr(source, "config", {}).get("data", {})
    meta = data.get("meta", {})
    info: dict[str, Any] = {"dt": data.get("dt")}
    if meta.get("system"):
        info.update(system=meta["system"], params=meta.get("params") or {})
    return model, info


def _positive_exponent(system: System | None) -> float | None:
    """The system's published lambda_1 when positive (the Lyapunov time is its inverse), else ``None``."""
    if system is None:
        return None
    ref = system.reference()
    values = ref.get("lyapunov_exponents") or [ref.get("largest_lyapunov_exponent")]
    lam = values[0]
    return float(lam) if isinstance(lam, (int, float)) and lam > 0 else None


def _length(name: str, value: float | None, lyapunov_times: float, lam: float | None) -> float:
    """A length in time units: ``value`` as given, else ``lyapunov_times / lambda_1``."""
    if value is None:
        if lam is None:
            raise ConfigError(f"the system has no known positive Lyapunov exponent: give the {name} in time units (--{name})")
        value = lyapunov_times / lam
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"the {name} must be a positive number, got {value!r}")
    return float(value)


def _model_step(model: Model | None) -> float | None:
    try:
        step = float(getattr(model, "dt", None))
    except (TypeError, ValueError):
        return None
    return step if step > 0 else None


def _reference_step(system: System) -> float:
    return float(np.median(np.diff(system.default_times().numpy())))


def _settling(system: System, lam: float | None) -> float:
    """How long starts are integrated onto the attractor: 20 Lyapunov times, else 5 periods, else the declared transient."""
    if lam:
        return TRANSIENT_LYAPUNOV_TIMES / lam
    period = system.reference().get("period")
    if isinstance(period, (int, float)) and period > 0:
        return TRANSIENT_PERIODS * float(period)
    return float(getattr(system, "default_transient", 0.0) or 0.0)


def _reference_length(system: System | None, lam: float | None, window: float) -> float:
    """The truth's reference run: 20 Lyapunov times, else the system's reference span (without a system: one window)."""
    if system is None:
        return window
    if lam:
        return REFERENCE_LYAPUNOV_TIMES / lam
    times = system.default_times()
    return float(times[-1] - times[0])


def _starts(system: System | None, starts: Any, n_starts: int, context: int, dt: float, seed: int, lam: float | None,
            length: float) -> tuple[np.ndarray, np.ndarray | None]:
    """The first ``context`` states of every start ``(context, n, dim)`` and the truth's reference run from them (or ``None``)."""
    if starts is not None:
        x = np.asarray(starts.detach().cpu().numpy() if hasattr(starts, "detach") else starts, dtype=np.float64)
        x = x[None] if x.ndim == 2 else x
        if x.ndim != 3 or len(x) != context:
            raise ConfigError(f"starts must have shape (n_starts, dim) or ({context}, n_starts, dim), got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise DataError("the starts contain NaN or Inf")
        if system is None:
            return x, None
        ref = system.simulate(x[-1], np.arange(int(round(length / dt)) + 1) * dt, transient=0.0, progress=False).x
        return x, ref.reshape(len(ref), x.shape[1], -1)
    if not isinstance(n_starts, int) or isinstance(n_starts, bool) or n_starts < 1:
        raise ConfigError(f"n_starts must be a positive integer, got {n_starts!r}")
    steps = max(int(round(length / dt)), context)
    ref = system.simulate(None, np.arange(steps + 1) * dt, batch=n_starts, seed=seed, transient=_settling(system, lam), progress=False).x
    return ref[:context].copy(), ref


def _stride(test: Any, reference: np.ndarray) -> int:
    """The 0-1 test's automatic stride on the reference run, median over starts (one stride for every window)."""
    strides = []
    for j in range(reference.shape[1]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                strides.append(test.run(reference[:, j]).details["stride"])
            except DyncoreError:
                continue
    return int(np.median(strides)) if strides else 1


def _k(test: Any, series: np.ndarray, notes: list[str], start: int, t0: float) -> float:
    """K of one window (oversampling warnings silenced: the stride is fixed for every window); NaN if unusable."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return float(test.run(series).statistic)
        except DyncoreError as exc:
            if not any(note.startswith(f"start {start}: the 0-1 test") for note in notes):  # one note per start
                notes.append(f"start {start}: the 0-1 test gave no K from the window at t = {t0:g} on ({exc})")
            return math.nan


def _dips(chaotic: np.ndarray, valid: np.ndarray) -> int:
    """Non-chaotic windows followed later by a chaotic one."""
    if not chaotic.any():
        return 0
    last = len(chaotic) - 1 - int(np.argmax(chaotic[::-1]))
    return int(np.sum(~chaotic[:last] & valid[:last]))


def _motion(x: np.ndarray, sigma: np.ndarray) -> float:
    """Mean step of ``x`` ``(n, dim)`` in states scaled by ``sigma``."""
    return float(np.mean(np.sqrt(np.sum((np.diff(x, axis=0) / sigma) ** 2, axis=1))))


def _fate(x: np.ndarray, sigma: np.ndarray, motion: np.ndarray, stride: int, dt: float) -> tuple[str, float | None]:
    """What a non-chaotic start settled onto, and a cycle's period.

    Args:
        x: its last window ``(n, dim)``. sigma: the truth's std per component.
        motion: its motion over the non-chaotic stretch of windows, oldest first.
    """
    half = len(x) // 2
    steady_decrease = len(motion) >= 3 and np.all(np.diff(motion[-3:]) < 0) and motion[-1] < SHRINKING * motion[-3]
    if motion[-1] <= COLLAPSED or steady_decrease or _motion(x[half:], sigma) < SHRINKING * _motion(x[:half], sigma):
        return "fixed point", None
    period = _period(x / sigma, stride, dt)
    return ("cycle", period) if period is not None else ("regular", None)


def _period(y: np.ndarray, stride: int, dt: float) -> float | None:
    """The lag (time units) that brings the second half of ``y`` ``(n, dim)`` back onto itself to within one step, or ``None``.

    Searched at the 0-1 test's stride, then refined at full resolution around the best lag.
    """
    def distance(lag: int, z: np.ndarray) -> float:
        h = len(z) // 2
        return float(np.sqrt(np.mean(np.sum((z[h:] - z[h - lag : len(z) - lag]) ** 2, axis=1))))

    z = y[::stride]
    h = len(z) // 2
    step = np.sqrt(np.mean(np.sum(np.diff(z[h:], axis=0) ** 2, axis=1)))
    lags = np.arange(2, h + 1)
    d = np.array([distance(lag, z) for lag in lags])
    close = d <= RECURRENCE_STEPS * step
    if step == 0 or not close.any():
        return None
    # the best lag of the first run of close lags (later runs are its multiples)
    begin = int(np.argmax(close))
    end = begin + (int(np.argmin(close[begin:])) if not close[begin:].all() else len(close) - begin)
    coarse = int(lags[begin + int(np.argmin(d[begin:end]))]) * stride
    fine = range(max(1, coarse - stride), min(len(y) // 2, coarse + stride) + 1)
    return float(min(fine, key=lambda lag: distance(lag, y)) * dt)
