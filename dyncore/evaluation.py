"""``dyncore.evaluate``: one call that says whether a trained model learned the system or only the points.

It measures, on held-out trajectories that start on the attractor (never the training trajectory):
the valid prediction time (short term), and on long free runs the learned largest Lyapunov exponent
against the true one, the 0-1 test, and distances between invariant measures and power spectra
(long term). RNNs and NODEs go through the same code: :mod:`dyncore.metrics` uses only the Model
interface.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import dyncore
from dyncore.defaults import DEFAULT_CHAOS_TEST
from dyncore.errors import ConfigError, DataError, DyncoreError
from dyncore.limits import check_size
from dyncore.threads import with_threads
from dyncore.timegrid import uniform_grid, uniform_step
from dyncore.trajectory import Trajectory

if TYPE_CHECKING:
    from dyncore.metrics import LyapunovSpectrum
    from dyncore.model import Model

#: Defaults, in Lyapunov times when lambda_1 > 0 is known.
TRANSIENT_LYAPUNOV_TIMES = 20.0
HORIZON_LYAPUNOV_TIMES = 10.0
LONG_LYAPUNOV_TIMES = 100.0
#: Without a known positive lambda_1: long runs span this many reference spans.
LONG_REFERENCE_SPANS = 4.0
#: How many held-out starts also get a long free run (measure, spectrum and 0-1 test).
LONG_RUNS = 4
#: Starts (taken from the model's own long runs) averaged over for the learned Lyapunov exponents.
LYAPUNOV_STARTS = 64
#: Steps averaged over per start for Lyapunov exponents, unless more are needed (see _default_lyapunov_steps).
DEFAULT_LYAPUNOV_STEPS = 1000
#: Without a positive lambda_1, a system that publishes its limit cycle's ``period`` settles this many periods.
TRANSIENT_PERIODS = 5.0
#: Fixed seeded starts (seed 0, whatever ``n_tests`` and ``seed``) for a computed true Lyapunov spectrum.
TRUE_LYAPUNOV_STARTS = 16
#: A computed lambda_1 counts as positive (chaos) only if lambda_1 times the averaging time exceeds this: a
#: tangent vector stretched by less than e^3 may be the neutral direction of a limit cycle (lambda_1 = 0).
SIGNIFICANT_GROWTH = 3.0
#: A long run whose states lie farther from the centre of the truth's range than this many half-ranges has
#: escaped (it may stay finite, e.g. grow to 1e33): two orders of magnitude.
ESCAPE_FACTOR = 100.0

#: Per-start averaging windows shorter than this many Lyapunov times give finite-time exponents too spread out
#: for a per-start sign: on Lorenz a start's lambda_1 has sd 0.25 over 5 Lyapunov times (some starts read <= 0),
#: sd 0.08 over 18 (lowest of 1260 starts: 0.49).
MIN_LYAPUNOV_TIMES_PER_START = 10.0

#: Computed true spectra per (system class, parameters, dt, steps, exponents): they depend on nothing else.
_TRUE_SPECTRA: dict[tuple, list[float] | None] = {}


# -- the result ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """What was measured: the step, the held-out counts and seed, the lengths, and the truth's spread.

    Args:
        dt: sampling step of the held-out trajectories and of the model's runs.
        n_tests: held-out trajectories (VPT); long_runs: of them, how many also got a long free run.
        seed: seed of the held-out starts.
        horizon, long_time: lengths of the VPT trajectories and of the long free runs (time units).
        transient: time integrated before each held-out start (None for held-out data).
        sigma: the truth's standard deviation per component, ``(dim,)``: the NRMSE's scale.
    """

    dt: float
    n_tests: int
    long_runs: int
    seed: int
    horizon: float
    long_time: float
    transient: float | None
    sigma: list[float]


@dataclass(frozen=True)
class ValidPredictionTime:
    """The valid prediction time at one NRMSE level, over the held-out starts (see :func:`dyncore.metrics.valid_prediction_times`).

    Args:
        threshold: the NRMSE level.
        mean, std, median: over starts, in time units; per_start: each start's.
        lyapunov_times: ``mean * lambda_1`` (None when lambda_1 is not known positive).
        censored: starts whose error never crossed the threshold within the horizon.
    """

    threshold: float
    mean: float
    std: float
    median: float
    lyapunov_times: float | None
    censored: int
    per_start: list[float]

    def to_dict(self) -> dict[str, Any]:
        """The JSON entry (without the threshold, which keys it)."""
        return {"mean": self.mean, "std": self.std, "median": self.median, "lyapunov_times": self.lyapunov_times,
                "censored": self.censored, "per_start": list(self.per_start)}


@dataclass(frozen=True)
class LyapunovComparison:
    """Learned Lyapunov exponents (from the model's long runs, largest first) against the true ones.

    Args:
        learned, learned_stderr: None when the long run was not "ok" or the measurement failed.
        learned_positive_fraction: share of the starts with lambda_1 > 0.
        true: published ("reference") or measured from the system ("computed"); true_source says which.
    """

    learned: list[float] | None
    learned_stderr: list[float] | None
    learned_positive_fraction: float | None
    true: list[float] | None
    true_source: str | None


@dataclass(frozen=True)
class ZeroOne:
    """The 0-1 test's K: median over the long runs for the model and the truth, and per run."""

    model: float | None
    truth: float | None
    model_per_run: list[float | None]
    truth_per_run: list[float | None]


@dataclass(frozen=True)
class Distances:
    """Distances between invariant measures (total variation of marginals, sliced Wasserstein in sigma) and power spectra."""

    histogram: float
    sliced_wasserstein: float
    power_spectrum: float


def _plain(value: Any) -> Any:
    """A flat result dataclass as the dict ``evaluate`` returned before :class:`Evaluation` (its fields, by name)."""
    return {f.name: getattr(value, f.name) for f in fields(value)}


@dataclass(frozen=True, eq=False)
class Evaluation(dict):
    """What :func:`evaluate` measured, as typed fields; :meth:`to_dict` is the JSON (``dyncore evaluate -o``).

    Args:
        model, system: names (``system`` None for unnamed held-out data).
        setup: see :class:`Setup`.
        vpt: per NRMSE threshold (in the order given), a :class:`ValidPredictionTime`, or None when the
            model's forecasts failed.
        lyapunov: see :class:`LyapunovComparison`.
        zero_one: see :class:`ZeroOne`.
        distances: model against truth over the second halves of the long runs.
        noise_floor: the same distances between the truth's first and second halves (truth against truth).
        long_run: "ok", "blew up", "escaped" or "failed"; only "ok" runs get a learned lambda_1 and a model K.
        notes: why a number is missing or should be read with care.
        persistence: with ``evaluate(persistence=LT)``, the chaos-persistence summary
            (:func:`dyncore.persistence.chaos_persistence`): how long each long free run stayed chaotic.
        cycles: with ``evaluate(cycles=True)``, the limit-cycle comparison (:func:`dyncore.cycles.cycle_fidelity`).

    For one release an Evaluation is also the dict ``evaluate`` used to return (``result["vpt"]["0.5"]``):
    code that stores, pickles or serialises it keeps working, and reading it by string key
    (``[]``, ``get``) gives the same values with a DeprecationWarning. Read the fields instead.
    """

    model: str | None
    system: str | None
    setup: Setup
    vpt: dict[float, ValidPredictionTime | None]
    lyapunov: LyapunovComparison
    zero_one: ZeroOne
    distances: Distances
    noise_floor: Distances
    long_run: str
    notes: list[str] = field(default_factory=list)
    persistence: dict[str, Any] | None = None
    cycles: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        dict.update(self, self.to_dict())  # the legacy mapping view, filled once: the fields are frozen

    def to_dict(self) -> dict[str, Any]:
        """The JSON-serialisable dict of the result, shaped as ``dyncore evaluate -o`` writes it (``vpt`` keyed by ``str(threshold)``)."""
        return {
            "model": self.model,
            "system": self.system,
            "setup": _plain(self.setup),
            "vpt": {str(level): None if v is None else v.to_dict() for level, v in self.vpt.items()},
            "lyapunov": _plain(self.lyapunov),
            "zero_one": _plain(self.zero_one),
            "distances": _plain(self.distances),
            "noise_floor": _plain(self.noise_floor),
            "long_run": self.long_run,
            "notes": list(self.notes),
            **({"persistence": self.persistence} if self.persistence is not None else {}),
            **({"cycles": self.cycles} if self.cycles is not None else {}),
        }

    def __getitem__(self, key: str) -> Any:
        _deprecated_key(key)
        return dict.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        """``to_dict().get(key, default)``, deprecated: read the field."""
        _deprecated_key(key)
        return dict.get(self, key, default)


def _deprecated_key(key: str) -> None:
    warnings.warn(
        f"reading evaluate()'s result by key ({key!r}) is deprecated: use the Evaluation's fields (result.{key}) "
        "or result.to_dict()", DeprecationWarning, stacklevel=3)


# -- the stages ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Everything decided before the model runs: the held-out source, the step, the lengths, the true exponents.

    Args:
        system: the System to draw held-out starts from, or None for held-out ``data``.
        data: the held-out data, or None.
        system_name: as reported.
        dt, horizon, long_time, transient: see :class:`Setup` (``transient`` None for data).
        true_lyapunov, true_source: see :class:`LyapunovComparison`.
        lam: lambda_1 when it is known and (significantly) positive: the unit of Lyapunov times.
        n_exponents: how many leading exponents to measure.
        lyapunov_steps: steps averaged over per start for the learned exponents.
    """

    system: Any
    data: Trajectory | None
    system_name: str | None
    dt: float
    horizon: float
    long_time: float
    transient: float | None
    true_lyapunov: list[float] | None
    true_source: str | None
    lam: float | None
    n_exponents: int
    lyapunov_steps: int


@dataclass(frozen=True)
class HeldOut:
    """The held-out trajectories: ``test`` ``(n, n_tests, dim)`` for the VPT, ``long`` for the long-term metrics, and ``sigma``."""

    test: Trajectory
    long: Trajectory
    sigma: np.ndarray


@dataclass(frozen=True)
class LongTerm:
    """The long-term stage's results (see :class:`Evaluation`)."""

    long_run: str
    distances: Distances
    noise_floor: Distances
    zero_one: ZeroOne
    learned: LyapunovSpectrum | None


def plan_evaluation(model: Model, run_info: dict[str, Any], system_or_data: Any, *, n_tests: int, dt: float | None,
                    horizon: float | None, long_time: float | None, transient: float | None, lyapunov_steps: int | None,
                    n_exponents: int | None, notes: list[str]) -> Plan:
    """Check the arguments and decide the step, lengths and true exponents (computed once per system when not published).

    Raises:
        ConfigError, DataError: unusable arguments or data.
    """
    if system_or_data is None:
        system_or_data = run_info.get("system")
        if system_or_data is None:
            raise ConfigError("say what to evaluate against: a system (--system NAME) or held-out data (--data FILE)")
    if not isinstance(n_tests, int) or isinstance(n_tests, bool) or n_tests < 1:
        raise ConfigError(f"n_tests must be a positive integer, got {n_tests!r}")
    for name, value in (("horizon", horizon), ("long_time", long_time), ("dt", dt), ("transient", transient)):
        if value is not None and not _is_length(value, allow_zero=name == "transient"):
            raise ConfigError(f"{name} must be a {'non-negative' if name == 'transient' else 'positive'} finite number, got {value!r}")
    data = _as_data(system_or_data)
    system = None
    if data is None:
        # the run's own system keeps the parameters it was trained at
        same = system_or_data == run_info.get("system")
        system = dyncore.systems.resolve(system_or_data, **(run_info.get("params", {}) if same else {}))
    dt = dt or run_info.get("dt") or _model_step(model) or (uniform_step(data.t) if data is not None else None)
    if dt is None:
        dt = float(np.mean(np.diff(system.default_times().numpy())))
        notes.append(f"training step unknown: used the system's reference step {dt:g}")
    if system is None:
        true_lyapunov = _published_exponents(data.meta.get("reference", {}))
        true_source = "reference" if true_lyapunov else None
        lam = true_lyapunov[0] if true_lyapunov and true_lyapunov[0] > 0 else None
        if uniform_step(data.t) is None:
            raise DataError("held-out data must be sampled on a uniform grid; resample it")
        if transient is not None:
            raise ConfigError("a transient applies to held-out starts drawn from a system; held-out data are used as given")
        span = float(data.t[-1] - data.t[0])
        return Plan(None, data, data.meta.get("system"), dt, span, span, None, true_lyapunov, true_source, lam,
                    n_exponents or min(data.dim, 3), lyapunov_steps or _default_lyapunov_steps(lam, dt))
    k = n_exponents or min(system.dim, 3)
    true_steps = lyapunov_steps or DEFAULT_LYAPUNOV_STEPS
    true_lyapunov, true_source = _true_exponents(system, dt, true_steps, k, notes)
    lam = _chaotic_exponent(true_lyapunov, true_source, system, dt, true_steps)
    span = _reference_span(system)
    return Plan(
        system, None, system.name, dt,
        horizon or (HORIZON_LYAPUNOV_TIMES / lam if lam else span),
        long_time or (LONG_LYAPUNOV_TIMES / lam if lam else LONG_REFERENCE_SPANS * span),
        _settling_time(system, lam) if transient is None else float(transient),
        true_lyapunov, true_source, lam, k, lyapunov_steps or _default_lyapunov_steps(lam, dt),
    )


def held_out_data(plan: Plan, n_tests: int, seed: int) -> HeldOut:
    """The held-out trajectories: ``n_tests`` seeded settled starts of the system (the first LONG_RUNS also run long), or the data.

    Raises:
        DataError: the truth does not vary in every component (no NRMSE scale).
    """
    if plan.system is not None:
        test = plan.system.simulate(None, _grid(plan.horizon, plan.dt), batch=n_tests, seed=seed, transient=plan.transient)
        long = plan.system.simulate(test.x[0, :LONG_RUNS], _grid(plan.long_time, plan.dt))
    else:
        data = plan.data
        test = long = data if data.batched else Trajectory(data.t, data.x[:, None], data.meta)
    sigma = long.x.reshape(-1, long.dim).std(axis=0)
    if not np.all(sigma > 0):
        raise DataError("the held-out data do not vary in every component; the NRMSE needs a positive spread")
    return HeldOut(test, long, sigma)


def short_term(model: Model, held: HeldOut, plan: Plan, thresholds: tuple[float, ...], notes: list[str]) -> dict[float, ValidPredictionTime | None]:
    """Valid prediction times per threshold from free forecasts over the horizon; None where the model's solver gave up."""
    from dyncore import metrics

    try:
        found = metrics.valid_prediction_times(model, held.test, held.sigma, thresholds=thresholds, lyapunov_exponent=plan.lam)
    except DyncoreError as exc:  # the model's own solver gave up: a finding, not a crash
        notes.append(f"the model's forecasts failed: {exc}")
        return dict.fromkeys(thresholds)
    return {level: ValidPredictionTime(threshold=level, **found[str(level)]) for level in thresholds}


def long_term(model: Model, held: HeldOut, plan: Plan, seed: int, notes: list[str]) -> LongTerm:
    """Long free runs from the long held-out starts: their status, distances (and noise floor), 0-1 test and learned exponents."""
    from dyncore import metrics

    truth = held.long
    long_run, failure = "blew up", "the model's long free run blew up (non-finite states)"
    try:
        model_long = metrics.forecast(model, truth)
    except DyncoreError as exc:
        long_run, failure = "failed", f"the model's long free run failed: {exc}"
        model_long = np.full(truth.x.shape, np.nan)
    if bool(np.all(np.isfinite(model_long))):
        escaped = _escape_note(model_long, truth)
        long_run, failure = ("escaped", escaped) if escaped else ("ok", "")
    if long_run != "ok":
        notes.append(failure)
    usable = long_run == "ok"
    # Long-term numbers use the second half of each run: the model's own transient is over by then
    # (a model may leave the attractor late, e.g. for a spurious fixed point).
    half = len(model_long) // 2
    model_tail, truth_tail = model_long[half:], truth.x[half:]
    distances = _distances(model_tail, truth_tail, seed)
    # The floor: truth against truth with as many samples (the first halves of the same runs).
    noise_floor = _distances(truth.x[: len(model_long) - half], truth_tail, seed)
    oversampled: list[str] = []
    model_k = [_zero_one(model_tail[:, i], seed, f"model run {i}", notes, oversampled) for i in range(model_tail.shape[1])] if usable else []
    truth_k = [_zero_one(truth_tail[:, i], seed, f"truth run {i}", notes, oversampled) for i in range(truth_tail.shape[1])]
    if oversampled:
        notes.append(
            f"0-1 test: {', '.join(oversampled)} still look oversampled after automatic subsampling, so their K may "
            "read regular for a chaotic flow; give longer runs (long_time)"
        )
    zero_one = ZeroOne(_median(model_k), _median(truth_k), model_k, truth_k)
    learned = _learned_lyapunov(model, model_long, plan.dt, plan.lyapunov_steps, plan.n_exponents, seed, notes) if usable else None
    if learned is not None:
        _note_short_lyapunov_window(learned, plan.lam, plan.dt, notes)
    return LongTerm(long_run, distances, noise_floor, zero_one, learned)


@with_threads
def evaluate(
    run_or_model: Any,
    system_or_data: Any = None,
    *,
    n_tests: int = 20,
    seed: int = 1,
    dt: float | None = None,
    horizon: float | None = None,
    long_time: float | None = None,
    transient: float | None = None,
    thresholds: tuple[float, ...] = (0.5, 0.05),
    lyapunov_steps: int | None = None,
    n_exponents: int | None = None,
    persistence: float | None = None,
    cycles: bool = False,
) -> Evaluation:
    """Measure how well a trained model reproduces a system, short and long term.

    In four stages: :func:`plan_evaluation` (step, lengths, true exponents), :func:`held_out_data`,
    :func:`short_term` (valid prediction times) and :func:`long_term` (long free runs: distances,
    0-1 test, learned Lyapunov exponents).

    Args:
        run_or_model: a trained :class:`~dyncore.Model`, a :class:`~dyncore.Run`, or a run directory.
        system_or_data: a System (or its name) to draw held-out trajectories from; or held-out data
            (a Trajectory or a ``.npz``/``.csv`` path, ``(n, [batch,] dim)`` on a uniform grid);
            ``None``: the system the run was trained on.
        n_tests: held-out trajectories drawn from a system (seeded random starts, then a transient).
        seed: seed of those starts; the default 1 differs from the default data seed 0.
        dt: sampling step of the held-out data (default: the training step).
        horizon: length of the VPT trajectories (default 10 Lyapunov times, else the reference span).
        long_time: length of the free runs for the long-term metrics (default 100 Lyapunov times,
            else 4 reference spans).
        transient: time integrated before each held-out start (default 20 Lyapunov times; without a
            positive lambda_1, 5 published periods, else the system's ``default_transient``, else 0).
            lambda_1 is the published one or, without one, computed from the system (see Returns).
        thresholds: NRMSE levels of the valid prediction time.
        lyapunov_steps: steps averaged over per start for the Lyapunov exponents (default 1000, more
            where that is under 10 Lyapunov times: a shorter finite-time exponent's sign means little).
        n_exponents: how many leading exponents to measure (default: up to 3).
        persistence: also run 8 free runs for this many Lyapunov times and report when, if ever, each
            stops being chaotic (0-1 K per window of min(100, LT); needs a positive lambda_1). Off by default:
            it takes minutes.
        cycles: also compare the limit cycles of model and system (period and amplitude from settled
            and raw random starts; needs a system with a published period), as for stiff Van der Pol.
    Returns:
        An :class:`Evaluation`: ``model``, ``system``, ``setup`` (dt, counts, seed, lengths),
        ``vpt`` (per threshold, see :func:`dyncore.metrics.valid_prediction_times`),
        ``lyapunov`` (``learned``, ``learned_stderr``, ``learned_positive_fraction`` of the starts
        with lambda_1 > 0, ``true`` and ``true_source``: "reference" for published values,
        "computed" when measured here from the system's vector field, as for systems without
        published values that are not stiff: from 16 fixed settled starts, so independent of
        ``n_tests`` and ``seed``, and cached per system, parameters and ``dt``), ``zero_one``
        (median K over the long runs for ``model`` and ``truth``, and ``model_per_run``,
        ``truth_per_run``), ``distances`` (``histogram``, ``sliced_wasserstein``,
        ``power_spectrum``), ``noise_floor`` (the same distances between the first and second
        halves of the truth's long runs: what truth scores against truth with as many samples),
        ``long_run`` ("ok", "blew up", "escaped" when finite but orders of magnitude outside the
        truth's range, or "failed"; only "ok" runs get a learned lambda_1 and a model K) and
        ``notes`` (why a number is missing, e.g. a model run that blew up). ``to_dict()`` gives
        the JSON that ``dyncore evaluate -o`` writes.
    Raises:
        ConfigError, DataError: unusable arguments or data.
    """
    model, run_info = _resolve_model(run_or_model)
    notes: list[str] = []
    plan = plan_evaluation(model, run_info, system_or_data, n_tests=n_tests, dt=dt, horizon=horizon, long_time=long_time,
                           transient=transient, lyapunov_steps=lyapunov_steps, n_exponents=n_exponents, notes=notes)
    held = held_out_data(plan, n_tests, seed)
    vpt = short_term(model, held, plan, thresholds, notes)
    late = long_term(model, held, plan, seed, notes)
    learned = late.learned
    setup = Setup(dt=plan.dt, n_tests=int(held.test.batch), long_runs=int(held.long.batch), seed=seed, horizon=plan.horizon,
                  long_time=plan.long_time, transient=plan.transient, sigma=held.sigma.tolist())
    lyapunov = LyapunovComparison(
        learned=None if learned is None else learned.exponents.tolist(),
        learned_stderr=None if learned is None else learned.stderr.tolist(),
        learned_positive_fraction=None if learned is None else float(np.mean(learned.per_start[:, 0] > 0)),
        true=list(plan.true_lyapunov) if plan.true_lyapunov else None,
        true_source=plan.true_source,
    )
    return Evaluation(model.config().get("model"), plan.system_name, setup, vpt, lyapunov, late.zero_one, late.distances,
                      late.noise_floor, late.long_run, notes, _persistence(model, plan, persistence, seed, notes),
                      _cycles(model, plan, cycles, n_tests, seed))


def _persistence(model: Model, plan: Plan, lyapunov_times: float | None, seed: int, notes: list[str]) -> dict[str, Any] | None:
    """The chaos-persistence summary over ``lyapunov_times``, or None when not asked for or not measurable."""
    if not lyapunov_times:
        return None
    if plan.system is None or not plan.lam:
        notes.append("chaos persistence needs held-out starts from a system with a positive lambda_1; skipped")
        return None
    from dyncore.persistence import chaos_persistence

    return chaos_persistence(model, plan.system, duration=lyapunov_times / plan.lam, window=min(100.0, lyapunov_times) / plan.lam,
                             n_starts=8, dt=plan.dt, seed=seed, progress=False).summary()


def _cycles(model: Model, plan: Plan, asked: bool, n_tests: int, seed: int) -> dict[str, Any] | None:
    """The limit-cycle comparison, or None when not asked for."""
    if not asked:
        return None
    if plan.system is None:
        raise ConfigError("cycles=True compares against a system's limit cycle; give the system, not held-out data")
    from dyncore.cycles import cycle_fidelity

    return cycle_fidelity(model, plan.system, n_tests=n_tests, seed=seed)


def format_table(result: Evaluation | dict[str, Any]) -> str:
    """A plain-text table of the headline numbers of :func:`evaluate` (an Evaluation, or its ``to_dict()``)."""
    if isinstance(result, Evaluation):
        result = result.to_dict()

    def num(v: Any, fmt: str = ".3f") -> str:
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)

    rows = []
    for level, v in result["vpt"].items():
        if v is None:
            rows.append((f"VPT at NRMSE {level}", "-"))
            continue
        lt = f" ({num(v['lyapunov_times'], '.2f')} Lyapunov times)" if v["lyapunov_times"] is not None else ""
        cens = f", {v['censored']} censored" if v["censored"] else ""
        rows.append((f"VPT at NRMSE {level}", f"{num(v['mean'])} +- {num(v['std'])}{lt}{cens}"))
    ly = result["lyapunov"]
    learned = ly["learned"][0] if ly["learned"] else None
    true = ly["true"][0] if ly["true"] else None
    source = " (computed from the system)" if ly.get("true_source") == "computed" else ""
    share = ly.get("learned_positive_fraction")
    spread = f" (positive from {100 * share:.0f} % of starts)" if share is not None and 0 < share < 1 else ""
    rows.append(("lambda_1 learned / true", f"{num(learned)} / {num(true)}{source}{spread}"))
    z = result["zero_one"]
    per_run = ", ".join(num(v, ".2f") for v in z.get("model_per_run", []))
    rows.append(("0-1 test K model / truth", f"{num(z['model'])} / {num(z['truth'])}" + (f" (model runs: {per_run})" if per_run else "")))
    d, floor = result["distances"], result.get("noise_floor") or {}

    def distance(key: str) -> str:
        return num(d[key]) + (f"  (noise floor {num(floor[key])})" if key in floor else "")

    rows.append(("histogram distance (TV)", distance("histogram")))
    rows.append(("sliced Wasserstein (sigma)", distance("sliced_wasserstein")))
    rows.append(("power-spectrum distance", distance("power_spectrum")))
    if result.get("persistence"):
        from dyncore.persistence import format_lasts

        p = result["persistence"]
        stopped = sum(s is not None for s in p["stopped_per_start"])
        rows.append((f"chaos lasts ({p['unit']})", f"{format_lasts(p)} (median over {p['n_starts']} runs; {stopped} stopped)"))
    if result.get("cycles"):
        c = result["cycles"]
        rows.append(("true period / amplitude", f"{num(c.get('true_period'))} / {num(c.get('true_amplitude'))}"))
        for kind in ("settled", "random"):
            if isinstance(c.get(kind), dict):
                k = c[kind]
                rows.append((f"on a cycle from {kind} starts", f"{num(k.get('converged'), '.2f')}, period error "
                             f"{num((k.get('period_error') or {}).get('median'), '.2%')}, amplitude error "
                             f"{num((k.get('amplitude_error') or {}).get('median'), '.2%')}"))
    width = max(len(r[0]) for r in rows)
    s = result["setup"]
    head = f"{result['model']} on {result['system'] or 'data'}: {s['n_tests']} held-out starts, dt = {s['dt']:g}, seed {s['seed']}"
    lines = [head] + [f"  {name:<{width}}  {value}" for name, value in rows]
    lines += [f"  note: {note}" for note in result["notes"]]
    return "\n".join(lines)


def _resolve_model(source: Any) -> tuple[Model, dict[str, Any]]:
    """The model and what is known of its training (system, dt, first states) from a Model, Run or run directory."""
    from dyncore.model import Model

    if isinstance(source, Model):
        return source, {}
    if isinstance(source, (str, os.PathLike)):
        source = dyncore.Run.load(Path(source))
    model = getattr(source, "model", None)
    if not isinstance(model, Model):
        raise ConfigError(f"cannot evaluate {type(source).__name__}: give a trained Model, a Run or a run directory")
    return model, _run_info(source)


def _run_info(run: Any) -> dict[str, Any]:
    """System (name and parameters) and sampling step of a Run's training data, from its config."""
    data = getattr(run, "config", {}).get("data", {})
    meta = data.get("meta", {})
    info: dict[str, Any] = {"dt": data.get("dt")}
    if meta.get("system"):
        info["system"] = meta["system"]
        info["params"] = meta.get("params") or {}
    return info


def _true_exponents(system: Any, dt: float, steps: int, k: int, notes: list[str]) -> tuple[list[float] | None, str | None]:
    """The system's Lyapunov exponents and their source: published ("reference"), else "computed" (cached), else None.

    Stiff and semilinear systems without published values get none (RK4 on their field would need tiny steps).
    """
    published = _published_exponents(system.reference())
    if published:
        return published, "reference"
    if system.stiff or system.has_semilinear_split:
        return None, None
    key = (type(system).__module__, type(system).__qualname__, repr(sorted(system.params.items())), float(dt), int(steps), int(k))
    if key not in _TRUE_SPECTRA:
        _TRUE_SPECTRA[key] = _compute_exponents(system, dt, steps, k, notes)
    spectrum = _TRUE_SPECTRA[key]
    return (list(spectrum), "computed") if spectrum else (None, None)


def _compute_exponents(system: Any, dt: float, steps: int, k: int, notes: list[str]) -> list[float] | None:
    """lambda_1..k of ``system`` from fixed starts settled by its reference span, averaged over at least that span.

    The starts do not depend on the evaluation's ``n_tests`` or ``seed``, so neither does the result.
    """
    from dyncore import metrics

    span = _reference_span(system)
    settle = max(_declared_transient(system), span)
    n_steps = max(int(steps), math.ceil(span / dt))
    try:
        starts = system.simulate(None, np.array([0.0, dt]), batch=TRUE_LYAPUNOV_STARTS, seed=0, transient=settle).x[0]
        spectrum = _noting_convergence(notes, "true Lyapunov exponents (computed)", lambda: metrics.lyapunov_spectrum(
            system, starts, dt=dt, n_steps=n_steps, n_transient=max(n_steps // 4, 1), n_exponents=k, seed=0
        ))
    except DyncoreError as exc:
        notes.append(f"true Lyapunov exponents could not be computed from the system: {exc}")
        return None
    return spectrum.exponents.tolist()


def _chaotic_exponent(exponents: list[float] | None, source: str | None, system: Any, dt: float, steps: int) -> float | None:
    """lambda_1 if it is positive (and, when computed, significantly so), else None: the unit of Lyapunov times."""
    if not exponents or exponents[0] <= 0:
        return None
    if source == "computed" and exponents[0] * _averaging_time(system, dt, steps) < SIGNIFICANT_GROWTH:
        return None
    return float(exponents[0])


def _averaging_time(system: Any, dt: float, steps: int) -> float:
    return max(int(steps), math.ceil(_reference_span(system) / dt)) * dt


def _reference_span(system: Any) -> float:
    times = system.default_times()
    return float(times[-1] - times[0])


def _settling_time(system: Any, lam: float | None) -> float:
    """How long held-out starts are integrated onto the attractor: by the system's own time scale.

    20 Lyapunov times for a chaotic system (lambda_1 published or computed); else 5 published periods
    (a limit cycle); else the system's ``default_transient`` (0 when it declares none, e.g. a spiral whose
    attractor is a fixed point, where settling would leave nothing to predict).
    """
    if lam:
        return TRANSIENT_LYAPUNOV_TIMES / lam
    period = system.reference().get("period")
    if isinstance(period, (int, float)) and period > 0:
        return TRANSIENT_PERIODS * float(period)
    return _declared_transient(system)


def _declared_transient(system: Any) -> float:
    """The transient the system declares (``default_transient``), 0 when it declares none."""
    return float(system.default_transient or 0.0)


def _distances(model: np.ndarray, truth: np.ndarray, seed: int) -> Distances:
    """The three long-term distances between samples ``(n, [batch,] dim)``."""
    from dyncore import metrics

    return Distances(
        histogram=metrics.histogram_distance(model, truth),
        sliced_wasserstein=metrics.sliced_wasserstein_distance(model, truth, seed=seed),
        power_spectrum=metrics.power_spectrum_distance(model, truth),
    )


def _escape_note(run: np.ndarray, truth: Trajectory) -> str:
    """A note naming the long runs that left the truth's range by orders of magnitude, or ``""`` if none did.

    Args:
        run: the model's long runs ``(n, batch, dim)``, finite.
        truth: the truth over the same times; its per-component range sets the scale.
    """
    x = truth.x.reshape(-1, truth.dim)
    centre, half_range = (x.max(axis=0) + x.min(axis=0)) / 2, (x.max(axis=0) - x.min(axis=0)) / 2
    ratio = np.max(np.abs(run - centre) / np.where(half_range > 0, half_range, 1.0), axis=-1)  # (n, batch)
    runs = [int(i) for i in np.nonzero(ratio.max(axis=0) > ESCAPE_FACTOR)[0]]
    if not runs:
        return ""
    first = runs[0]
    when = int(np.argmax(ratio[:, first] > ESCAPE_FACTOR))
    peak = float(np.max(np.abs(run[:, first])))
    return (
        f"the model's long free run escaped the data's range: run{'s' if len(runs) > 1 else ''} "
        f"{', '.join(map(str, runs))} of {run.shape[1]} left it by over {ESCAPE_FACTOR:g} times its half-width "
        f"(run {first} from t = {truth.t[when]:g}, reaching |x| = {peak:.3g}); no 0-1 test or learned lambda_1 for "
        "such runs (as for a blow-up)"
    )


def _published_exponents(reference: dict[str, Any]) -> list[float] | None:
    """Known Lyapunov exponents from a system's ``reference()``: the spectrum, or just the largest."""
    if reference.get("lyapunov_exponents"):
        return [float(v) for v in reference["lyapunov_exponents"]]
    if reference.get("largest_lyapunov_exponent") is not None:
        return [float(reference["largest_lyapunov_exponent"])]
    return None


def _as_data(obj: Any) -> Trajectory | None:
    if isinstance(obj, Trajectory):
        return obj
    if isinstance(obj, os.PathLike) or (isinstance(obj, str) and Path(obj).suffix in (".npz", ".csv")):
        return Trajectory.load(obj)
    return None


def _model_step(model: Model) -> float | None:
    step = model.sampling_step
    try:
        step = float(step)
    except (TypeError, ValueError):
        return None
    return step if step > 0 else None


def _is_length(value: Any, allow_zero: bool = False) -> bool:
    """True for a finite real number > 0 (or >= 0 with ``allow_zero``); booleans are not lengths."""
    return (not isinstance(value, bool) and isinstance(value, (int, float, np.floating)) and math.isfinite(value)
            and (value >= 0 if allow_zero else value > 0))


def _grid(length: float, dt: float) -> np.ndarray:
    """``0, dt, ...`` up to ``length`` (:func:`dyncore.timegrid.uniform_grid`); refused before it is built if it would not fit."""
    check_size(f"a run of {length:g} time units at dt = {dt:g} ({length / dt + 1:.4g} times)", 8.0 * (length / dt + 1),
               "use a shorter --horizon or --long-time")
    return uniform_grid(0.0, length, dt)


def _zero_one(x: np.ndarray, seed: int, label: str, notes: list[str], oversampled: list[str]) -> float | None:
    """K of the first component of one run ``(n, dim)``, subsampled automatically.

    A run that has settled on a fixed point (constant) is regular and counts as K = 0; any other
    unusable series gives None and a note. ``label`` joins ``oversampled`` if the test still warns.
    """
    series = np.asarray(x)[:, 0]
    if np.ptp(series) == 0:
        notes.append(f"{label} settled on a fixed point (counted as K = 0)")
        return 0.0
    try:  # a missing chaos test (its plugin disabled) is a note, like an unusable series
        test = dyncore.chaos_tests.create(DEFAULT_CHAOS_TEST, subsample="auto", seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = test.run(series)
    except DyncoreError as exc:
        notes.append(f"0-1 test on {label}: {exc}")
        return None
    if result.warnings:
        oversampled.append(label)
    return result.statistic


def _median(values: list[float | None]) -> float | None:
    finite = [v for v in values if v is not None]
    return float(np.median(finite)) if finite else None


def _learned_lyapunov(model: Model, run: np.ndarray, dt: float, steps: int, k: int, seed: int, notes: list[str]):
    """Lyapunov exponents of the model from the ends of its long free runs (on its own attractor)."""
    import torch

    from dyncore import metrics

    length = model.context_length
    # LYAPUNOV_STARTS windows spread over the second half of the runs, so many starts share one batch
    ends = np.linspace(len(run) // 2, len(run), max(1, LYAPUNOV_STARTS // run.shape[1]), dtype=int)
    ends = ends[ends >= length]
    windows = torch.as_tensor(np.concatenate([run[e - length : e] for e in ends], axis=1))  # (length, starts, dim)
    try:
        return _noting_convergence(notes, "learned Lyapunov exponents", lambda: metrics.lyapunov_spectrum(
            model, windows, dt=dt, n_steps=steps, n_transient=max(steps // 4, 1), n_exponents=k, seed=seed
        ))
    except DyncoreError as exc:
        notes.append(f"learned Lyapunov exponents: {exc}")
        return None


def _noting_convergence(notes: list[str], label: str, measure: Any) -> Any:
    """``measure()``, with a LyapunovConvergenceWarning turned into a note: it belongs beside the number."""
    from dyncore import metrics

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", metrics.LyapunovConvergenceWarning)
        spectrum = measure()
    for warning in caught:
        if issubclass(warning.category, metrics.LyapunovConvergenceWarning):
            notes.append(f"{label}: {warning.message}")
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return spectrum


def _default_lyapunov_steps(lam: float | None, dt: float) -> int:
    """DEFAULT_LYAPUNOV_STEPS, or as many as cover MIN_LYAPUNOV_TIMES_PER_START Lyapunov times of a known lambda_1."""
    if lam and lam > 0:
        return max(DEFAULT_LYAPUNOV_STEPS, math.ceil(MIN_LYAPUNOV_TIMES_PER_START / (lam * dt)))
    return DEFAULT_LYAPUNOV_STEPS


def _note_short_lyapunov_window(learned: Any, lam: float | None, dt: float, notes: list[str]) -> None:
    """Say when some starts read lambda_1 <= 0 over a window too short for a finite-time exponent's sign to mean much."""
    first = learned.per_start[:, 0]
    rate = lam if lam and lam > 0 else float(first.mean())
    non_positive = int(np.sum(first <= 0))
    window = learned.time * rate
    if non_positive == 0 or rate <= 0 or window >= MIN_LYAPUNOV_TIMES_PER_START:
        return
    notes.append(
        f"lambda_1 <= 0 from {non_positive} of {len(first)} starts, but each start averages only {window:.1f} Lyapunov "
        f"times, over which finite-time exponents spread widely (sd {np.std(first, ddof=1):.2f} here): give "
        f"lyapunov_steps >= {math.ceil(MIN_LYAPUNOV_TIMES_PER_START / (rate * dt))} "
        "before reading learned_positive_fraction as a count of attractors"
    )
