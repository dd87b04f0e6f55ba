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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import dyncore
from dyncore.errors import ConfigError, DataError, DyncoreError
from dyncore.limits import check_size
from dyncore.trajectory import Trajectory

if TYPE_CHECKING:
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
    lyapunov_steps: int = 1000,
    n_exponents: int | None = None,
) -> dict[str, Any]:
    """Measure how well a trained model reproduces a system, short and long term.

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
        transient: time integrated before each held-out start (default 20 Lyapunov times, else 0).
        thresholds: NRMSE levels of the valid prediction time.
        lyapunov_steps: steps averaged over for the learned Lyapunov exponents.
        n_exponents: how many leading exponents to measure (default: up to 3).
    Returns:
        A JSON-serialisable dict: ``model``, ``system``, ``setup`` (dt, counts, seed, lengths),
        ``vpt`` (per threshold, see :func:`dyncore.metrics.valid_prediction_times`),
        ``lyapunov`` (``learned``, ``learned_stderr``, ``learned_positive_fraction`` of the starts
        with lambda_1 > 0, ``true`` and ``true_source``: "reference" for published values,
        "computed" when measured here from the system's vector field, as for systems without
        published values that are not stiff), ``zero_one`` (median K over the long runs for
        ``model`` and ``truth``, and ``model_per_run``, ``truth_per_run``),
        ``distances`` (``histogram``, ``sliced_wasserstein``, ``power_spectrum``) and ``notes``
        (why a number is missing, e.g. a model run that blew up).
    Raises:
        ConfigError, DataError: unusable arguments or data.
    """
    from dyncore import metrics

    model, run_info = _resolve_model(run_or_model)
    notes: list[str] = []
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
    dt = dt or run_info.get("dt") or _model_step(model) or (_uniform_step(data.t) if data is not None else None)
    if dt is None:
        dt = float(np.mean(np.diff(system.default_times().numpy())))
        notes.append(f"training step unknown: used the system's reference step {dt:g}")

    if system is not None:
        true_lyapunov = _published_exponents(system.reference())
        lam = true_lyapunov[0] if true_lyapunov else None
        span = float(system.default_times()[-1] - system.default_times()[0])
        horizon = horizon or (HORIZON_LYAPUNOV_TIMES / lam if lam and lam > 0 else span)
        long_time = long_time or (LONG_LYAPUNOV_TIMES / lam if lam and lam > 0 else LONG_REFERENCE_SPANS * span)
        settle = TRANSIENT_LYAPUNOV_TIMES / lam if transient is None and lam and lam > 0 else (transient or 0.0)
        test = system.simulate(None, _grid(horizon, dt), batch=n_tests, seed=seed, transient=settle)
        long_truth = system.simulate(test.x[0, :LONG_RUNS], _grid(long_time, dt))
        system_name = system.name
    else:
        true_lyapunov = _published_exponents(data.meta.get("reference", {}))
        lam = true_lyapunov[0] if true_lyapunov else None
        if _uniform_step(data.t) is None:
            raise DataError("held-out data must be sampled on a uniform grid; resample it")
        test = data if data.batched else Trajectory(data.t, data.x[:, None], data.meta)
        long_truth = test
        system_name = data.meta.get("system")
        horizon, long_time = float(test.t[-1] - test.t[0]), float(test.t[-1] - test.t[0])

    k = n_exponents or min(test.dim, 3)
    true_source = "reference" if true_lyapunov else None
    if true_lyapunov is None and system is not None and not system.stiff and not system.has_semilinear_split:
        computed = metrics.lyapunov_spectrum(
            system, test.x[0], dt=dt, n_steps=lyapunov_steps, n_transient=lyapunov_steps // 4, n_exponents=k, seed=seed
        )
        true_lyapunov, true_source = computed.exponents.tolist(), "computed"
    sigma = long_truth.x.reshape(-1, long_truth.dim).std(axis=0)
    if not np.all(sigma > 0):
        raise DataError("the held-out data do not vary in every component; the NRMSE needs a positive spread")
    try:
        vpt = metrics.valid_prediction_times(model, test, sigma, thresholds=thresholds, lyapunov_exponent=lam)
    except DyncoreError as exc:  # the model's own solver gave up: a finding, not a crash
        notes.append(f"the model's forecasts failed: {exc}")
        vpt = {str(level): None for level in thresholds}
    failure = "the model's long free run blew up (non-finite states)"
    try:
        model_long = metrics.forecast(model, long_truth)
    except DyncoreError as exc:
        failure = f"the model's long free run failed: {exc}"
        model_long = np.full(long_truth.x.shape, np.nan)
    finite = bool(np.all(np.isfinite(model_long)))
    if not finite:
        notes.append(failure)
    # Long-term numbers use the second half of each run: the model's own transient is over by then
    # (a model may leave the attractor late, e.g. for a spurious fixed point).
    half = len(model_long) // 2
    model_tail, truth_tail = model_long[half:], long_truth.x[half:]
    distances = {
        "histogram": metrics.histogram_distance(model_tail, truth_tail),
        "sliced_wasserstein": metrics.sliced_wasserstein_distance(model_tail, truth_tail, seed=seed),
        "power_spectrum": metrics.power_spectrum_distance(model_tail, truth_tail),
    }
    oversampled: list[str] = []
    model_k = [_zero_one(model_tail[:, i], seed, f"model run {i}", notes, oversampled) for i in range(model_tail.shape[1])] if finite else []
    truth_k = [_zero_one(truth_tail[:, i], seed, f"truth run {i}", notes, oversampled) for i in range(truth_tail.shape[1])]
    if oversampled:
        notes.append(
            f"0-1 test: {', '.join(oversampled)} still look oversampled after automatic subsampling, so their K may "
            "read regular for a chaotic flow; give longer runs (long_time)"
        )
    zero_one = {
        "model": _median(model_k),
        "truth": _median(truth_k),
        "model_per_run": model_k,
        "truth_per_run": truth_k,
    }
    learned = _learned_lyapunov(model, model_long, dt, lyapunov_steps, k, seed, notes) if finite else None
    return {
        "model": model.config().get("model"),
        "system": system_name,
        "setup": {
            "dt": dt,
            "n_tests": int(test.batch),
            "long_runs": int(long_truth.batch),
            "seed": seed,
            "horizon": horizon,
            "long_time": long_time,
            "sigma": sigma.tolist(),
        },
        "vpt": vpt,
        "lyapunov": {
            "learned": None if learned is None else learned.exponents.tolist(),
            "learned_stderr": None if learned is None else learned.stderr.tolist(),
            "learned_positive_fraction": None if learned is None else float(np.mean(learned.per_start[:, 0] > 0)),
            "true": list(true_lyapunov) if true_lyapunov else None,
            "true_source": true_source,
        },
        "zero_one": zero_one,
        "distances": distances,
        "notes": notes,
    }


def format_table(result: dict[str, Any]) -> str:
    """A plain-text table of the headline numbers of :func:`evaluate`."""

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
    d = result["distances"]
    rows.append(("histogram distance (TV)", num(d["histogram"])))
    rows.append(("sliced Wasserstein (sigma)", num(d["sliced_wasserstein"])))
    rows.append(("power-spectrum distance", num(d["power_spectrum"])))
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
    step = getattr(model, "dt", None)
    try:
        step = float(step)
    except (TypeError, ValueError):
        return None
    return step if step > 0 else None


def _uniform_step(t: np.ndarray) -> float | None:
    if len(t) < 2:
        return None
    steps = np.diff(t)
    step = float(np.mean(steps))
    return step if np.max(np.abs(steps - step)) <= 1e-6 * abs(step) else None


def _is_length(value: Any, allow_zero: bool = False) -> bool:
    """True for a finite real number > 0 (or >= 0 with ``allow_zero``); booleans are not lengths."""
    return (not isinstance(value, bool) and isinstance(value, (int, float, np.floating)) and math.isfinite(value)
            and (value >= 0 if allow_zero else value > 0))


def _grid(length: float, dt: float) -> np.ndarray:
    """``0, dt, ..., length``; refused before it is built if its points would not fit in memory."""
    check_size(f"a run of {length:g} time units at dt = {dt:g} ({length / dt + 1:.4g} times)", 8.0 * (length / dt + 1),
               "use a shorter --horizon or --long-time")
    return np.arange(int(round(length / dt)) + 1) * dt


def _zero_one(x: np.ndarray, seed: int, label: str, notes: list[str], oversampled: list[str]) -> float | None:
    """K of the first component of one run ``(n, dim)``, subsampled automatically.

    A run that has settled on a fixed point (constant) is regular and counts as K = 0; any other
    unusable series gives None and a note. ``label`` joins ``oversampled`` if the test still warns.
    """
    series = np.asarray(x)[:, 0]
    if np.ptp(series) == 0:
        notes.append(f"{label} settled on a fixed point (counted as K = 0)")
        return 0.0
    test = dyncore.chaos_tests.create("zero_one", subsample="auto", seed=seed)
    try:
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
        return metrics.lyapunov_spectrum(
            model, windows, dt=dt, n_steps=steps, n_transient=max(steps // 4, 1), n_exponents=k, seed=seed
        )
    except DyncoreError as exc:
        notes.append(f"learned Lyapunov exponents: {exc}")
        return None
