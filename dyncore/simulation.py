"""Simulation: the first arrow of the data flow, ``System --Solver--> Trajectory``.

:func:`simulate` validates its inputs (one-line errors that name the fix), picks the system's
data-generation solver unless told otherwise, integrates a single state or a batch, optionally drops
a transient, sub-samples the grid and adds observation noise (both seeded), and records in the
trajectory's metadata everything needed to reproduce and check the dataset.
"""

from __future__ import annotations

import copy
import math
import sys
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

import dyncore
from dyncore.defaults import DEFAULT_SOLVER
from dyncore.errors import ConfigError, SolverError, StiffnessWarning
from dyncore.faults import check_vector_field_shape
from dyncore.limits import check_size
from dyncore.params import MAX_SEED, merge_params, resolve_device
from dyncore.threads import with_threads
from dyncore.timegrid import uniform_grid
from dyncore.trajectory import Trajectory

if TYPE_CHECKING:
    import torch

    from dyncore.solver import Solver
    from dyncore.system import System

#: The options :func:`simulate` accepts, with their defaults.
SIMULATE_OPTIONS: dict[str, Any] = {
    "rtol": None,
    "atol": None,
    "solver_options": None,
    "batch": None,
    "seed": 0,
    "noise": 0.0,
    "irregular": False,
    "transient": None,
    "dtype": "float64",
    "device": "cpu",
    "progress": None,
}

#: The solver :func:`simulate` uses for a system whose ``default_solver`` is ``None``.
FALLBACK_SOLVER = DEFAULT_SOLVER
#: Fraction of the grid kept by ``irregular=True``.
DEFAULT_IRREGULAR_FRACTION = 0.5
#: Largest ``x0`` (number of values) copied into the metadata.
MAX_META_X0 = 1000


@with_threads
def simulate(system: str | System, x0: Any = None, t: Any = None, *, solver: str | Solver | None = None,
             **options: Any) -> Trajectory:
    """Integrate ``system`` and return the sampled states as a :class:`~dyncore.Trajectory`.

    Args:
        system: a system name (``"lorenz"``) or a :class:`~dyncore.System` instance.
        x0: initial state ``(dim,)`` or a batch ``(batch, dim)``; ``None``: the system's default
            state, or ``batch`` seeded random states, ``system.random_x0(batch, seed)`` (by default
            the default state plus Gaussian perturbations of size 0.1).
        t: output times ``(n,)``, strictly increasing, at least two; ``None``: the system's default grid.
        solver: a solver name or instance; ``None``: the system's ``default_solver`` (``"dop853"``
            when it is ``None``).
        **options:
            rtol, atol: tolerances passed to the solver (adaptive solvers only).
            solver_options: any other solver options, e.g. ``{"step_size": 0.01, "max_steps": 10**6}``.
            batch: number of random initial states when ``x0`` is ``None``.
            seed: seeds the random initial states, the sub-sampling and the noise (default 0).
            noise: standard deviation of additive Gaussian observation noise, in state units.
            irregular: ``True`` keeps a seeded random half of the grid (always the first point); a
                float in (0, 1] keeps that fraction instead.
            transient: integrate this long before ``t[0]`` and start from where that ends (default:
                the system's ``default_transient``, 0 unless it declares one).
            dtype, device: of the integration (default float64 on CPU).
            progress: ``True`` shows progress on stderr; ``None`` shows it for runs longer than a
                second when stderr is a terminal; ``False`` never.
    Returns:
        A trajectory with ``t`` ``(n,)`` and ``x`` ``(n, dim)`` or ``(n, batch, dim)`` and metadata:
        system, params, solver, solver_options, seed, noise, irregular, transient, dtype, x0 (when
        small), reference invariants, dyncore_version and the content_hash of ``t`` and ``x``.
    Raises:
        ConfigError: an unknown system, option or parameter, a wrong ``x0`` shape, bad times.
        PluginError: the system's vector field does not return the shape of its input (checked once, before solving).
        SolverError: the solver cannot handle the system, exceeded its step budget, or blew up.
    """
    import torch

    opts = merge_params("dyncore.simulate", "option", SIMULATE_OPTIONS, options)
    system = dyncore.systems.resolve(system)
    seed = _seed(opts["seed"])
    dtype = _dtype(opts["dtype"])
    device = resolve_device(opts["device"])
    times = output_times(system, t)
    transient = _non_negative("transient", system.default_transient if opts["transient"] is None else opts["transient"])
    _check_output_size(system, x0, opts["batch"], len(times), transient_points(times, transient))
    start = initial_states(system, x0, opts["batch"], seed)
    x0 = start.to(dtype=dtype, device=device)
    solver = pick_solver(system, solver, opts["rtol"], opts["atol"], opts["solver_options"])
    reason = solver.supports(system)
    if reason:
        raise SolverError(f"solver {solver.name!r} cannot integrate system {system.name!r}: {reason}")
    if system.stiff and not solver.stiff:
        warnings.warn(StiffnessWarning(
            f"system {system.name!r} is stiff at these parameters and solver {solver.name!r} is explicit: expect a "
            "very long run or an exhausted step budget; use an implicit solver such as 'radau' or 'bdf'"
        ), stacklevel=2)
    noise = _non_negative("noise", opts["noise"])
    fraction = _kept_fraction(opts["irregular"])
    check_vector_field_shape(system, x0, float(times[0]) - transient)  # a plugin's shape bug, not a solver failure

    progress = Progress(f"simulating {system.name}", times[0] - transient, times[-1], opts["progress"])
    f = watched(system, lambda name, t: progress.update(float(t))) if progress.enabled else system
    try:
        with torch.no_grad():
            if transient > 0:
                x0 = torch.from_numpy(_integrate(solver, f, x0, transient_times(times, transient), device)[-1])
                x0 = x0.to(dtype=dtype, device=device)
            x = _integrate(solver, f, x0, times, device)
    finally:
        progress.close()

    times, x = _subsample(times.numpy(), x, fraction, seed)
    if noise > 0:
        x = x + noise * np.random.default_rng([seed, 2]).standard_normal(x.shape)
    meta = {
        "system": system.name,
        "params": _jsonable(system.params),
        "solver": solver.name,
        "solver_options": _jsonable(solver.options),
        "seed": seed,
        "noise": noise,
        "irregular": opts["irregular"],
        "transient": transient,
        "dtype": str(dtype).removeprefix("torch."),
        "batch": int(x.shape[1]) if x.ndim == 3 else None,
        "dyncore_version": dyncore.__version__,
    }
    if start.numel() <= MAX_META_X0:
        meta["x0"] = start.tolist()
    reference = system.reference()
    if reference:
        meta["reference"] = _jsonable(reference)
    trajectory = Trajectory(times, x, meta)
    trajectory.meta["content_hash"] = trajectory.content_hash()
    return trajectory


def initial_states(system: System, x0: Any, batch: int | None, seed: int) -> torch.Tensor:
    """The float64 initial state(s) ``(dim,)`` or ``(batch, dim)``, checked against the system's dimension."""
    import torch

    if batch is not None and (not isinstance(batch, int) or isinstance(batch, bool) or batch < 1):
        raise ConfigError(f"batch must be a positive integer, got {batch!r}")
    if x0 is None:
        if batch is None:
            return system.default_x0().to(torch.float64)
        return system.random_x0(batch, seed).to(torch.float64)
    try:
        x0 = torch.as_tensor(np.asarray(x0.detach().cpu() if hasattr(x0, "detach") else x0, dtype=np.float64))
    except (TypeError, ValueError):
        raise ConfigError(f"x0 must be numbers of shape ({system.dim},) or (batch, {system.dim})") from None
    if x0.ndim not in (1, 2) or x0.shape[-1] != system.dim:
        raise ConfigError(
            f"x0 has shape {tuple(x0.shape)} but system {system.name!r} has dimension {system.dim}; "
            f"give {system.dim} numbers (or a (batch, {system.dim}) array)"
        )
    if batch is not None and (x0.ndim != 2 or x0.shape[0] != batch):
        raise ConfigError(f"batch={batch} disagrees with x0 of shape {tuple(x0.shape)}; give one or the other")
    if not torch.isfinite(x0).all():
        raise ConfigError("x0 contains NaN or Inf; give finite numbers")
    return x0


def output_times(system: System, t: Any) -> torch.Tensor:
    """The float64 output grid ``(n,)``: the system's default, or ``t`` checked to be finite and increasing."""
    import torch

    if t is None:
        return system.default_times().to(torch.float64)
    try:
        t = np.asarray(t.detach().cpu() if hasattr(t, "detach") else t, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError("times must be a 1-D sequence of numbers") from None
    if t.ndim != 1:
        raise ConfigError(f"times must be 1-D, got shape {t.shape}")
    if len(t) < 2:
        raise ConfigError(f"times need at least two points, got {len(t)}; e.g. t = numpy.linspace(0, 10, 1000)")
    if not np.all(np.isfinite(t)):
        raise ConfigError("times contain NaN or Inf; give finite numbers")
    steps = np.diff(t)
    if not np.all(steps > 0):
        i = int(np.argmin(steps > 0))
        raise ConfigError(f"times must be strictly increasing, but t[{i}] = {t[i]:g} >= t[{i + 1}] = {t[i + 1]:g}")
    return torch.from_numpy(t)


def time_grid(system: System, t_end: float | None = None, dt: float | None = None, n_points: int | None = None) -> np.ndarray:
    """An output grid from ``t0`` (the start of the system's default grid) to ``t_end``.

    Args:
        system: supplies the defaults: its default grid's start, end and spacing.
        t_end: last time (default: the end of the default grid).
        dt: spacing (default: the default grid's mean spacing); exclusive with ``n_points``.
        n_points: number of points, ends included.
    Returns:
        Times ``(n,)``, float64.
    """
    default = system.default_times().double().numpy()
    t0 = float(default[0])
    end = float(default[-1]) if t_end is None else float(t_end)
    if not math.isfinite(end):
        raise ConfigError(f"t-end must be a finite number, got {end:g}")
    if not end > t0:
        raise ConfigError(f"t-end must be after the start time {t0:g}, got {end:g}")
    if dt is not None and n_points is not None:
        raise ConfigError("give either dt or the number of points, not both")
    if n_points is not None:
        if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 2:
            raise ConfigError(f"the number of points must be an integer >= 2, got {n_points!r}")
        _check_grid_size(system, float(n_points))
        return np.linspace(t0, end, n_points)
    spacing = float(np.mean(np.diff(default))) if dt is None else float(dt)
    if not spacing > 0 or not math.isfinite(spacing):
        raise ConfigError(f"dt must be a positive number, got {dt!r}")
    points = (end - t0) / spacing + 1
    _check_grid_size(system, points)
    grid = uniform_grid(t0, end, spacing)
    if len(grid) < 2:
        raise ConfigError(f"dt = {spacing:g} leaves fewer than two points in [{t0:g}, {end:g}]; use a smaller dt")
    return grid


def _check_grid_size(system: System, points: float) -> None:
    """Refuse a grid whose float64 states (one state per time) would not fit, before building it."""
    check_size(f"an output grid of {points:.4g} times x {system.dim}", 8.0 * points * (system.dim + 1),
               "use a larger dt, fewer points or a shorter t-end")


def pick_solver(system: System, solver: str | Solver | None, rtol: float | None = None, atol: float | None = None,
                solver_options: dict[str, Any] | None = None) -> Solver:
    """The solver to use: ``solver`` (a name or instance) or the system's default, with options applied."""
    given = dict(solver_options or {})
    if rtol is not None:
        given["rtol"] = rtol
    if atol is not None:
        given["atol"] = atol
    if solver is None:
        solver = system.default_solver or FALLBACK_SOLVER
    if isinstance(solver, str):
        return dyncore.solvers.create(solver, **given)
    if given:
        return type(solver)(**{**solver.options, **given})
    return solver


def transient_points(times: torch.Tensor, transient: float) -> int:
    """How many points :func:`transient_times` has (0 without a transient)."""
    import torch

    if transient <= 0:
        return 0
    spacing = float(torch.median(torch.diff(times)))
    return max(2, math.ceil(transient / spacing) + 1)


def transient_times(times: torch.Tensor, transient: float) -> torch.Tensor:
    """A grid over ``[t0 - transient, t0]`` as fine as the output grid (fixed-step solvers step on it)."""
    import torch

    count = transient_points(times, transient)
    return torch.linspace(float(times[0]) - transient, float(times[0]), count, dtype=torch.float64)


def _check_output_size(system: System, x0: Any, batch: Any, n_times: int, n_transient: int) -> None:
    """Refuse, before anything is allocated, an integration whose states would not fit in memory.

    The solver returns every grid point, float64, and :func:`simulate` holds a copy of it, so the
    output and the transient each count twice.
    """
    members = batch if isinstance(batch, int) and not isinstance(batch, bool) and batch > 0 else 1
    if x0 is not None and batch is None:
        shape = getattr(x0, "shape", None)
        members = int(shape[0]) if shape is not None and len(shape) == 2 else (len(x0) if _is_rows(x0) else 1)
    values = float(members) * system.dim * max(n_times, n_transient)
    check_size(
        f"simulating {system.name} ({max(n_times, n_transient)} times x {members} x {system.dim})", 2 * 8 * values,
        "use fewer points (a larger dt or a shorter t-end), a shorter transient or a smaller batch",
    )


def _is_rows(x0: Any) -> bool:
    """True for a nested sequence ``[[...], ...]`` (a batch of initial states given as lists)."""
    return isinstance(x0, (list, tuple)) and len(x0) > 0 and isinstance(x0[0], (list, tuple))


def _integrate(solver: Solver, f: Any, x0: torch.Tensor, times: torch.Tensor, device: Any) -> np.ndarray:
    """The solution as a float64 numpy array ``(n, *x0.shape)``; NaN/Inf is a SolverError naming the time."""
    x = np.asarray(solver.solve(f, x0, times.to(device)).cpu().numpy(), dtype=np.float64)
    finite = np.isfinite(x.reshape(len(times), -1)).all(axis=1)
    if not finite.all():
        i = int(np.argmin(finite))
        raise SolverError(
            f"the solution became NaN/Inf at t = {float(times[i]):g} (finite at t = {float(times[i - 1]):g}) with "
            f"solver {solver.name!r}; check parameters and x0, or use a smaller step or an implicit solver ('radau')"
        )
    return x


def _kept_fraction(irregular: Any) -> float:
    """The fraction of the grid that ``irregular`` keeps (1 when it is off)."""
    if irregular is False or irregular is None:
        return 1.0
    fraction = DEFAULT_IRREGULAR_FRACTION if irregular is True else irregular
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ConfigError(f"irregular must be true or a fraction in (0, 1], got {irregular!r}")
    return float(fraction)


def _subsample(t: np.ndarray, x: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random ``fraction`` of the rows, in time order, always including the first."""
    if fraction == 1.0:
        return t, x
    keep = max(2, round(fraction * len(t)))
    rng = np.random.default_rng([seed, 1])
    rest = np.sort(rng.choice(np.arange(1, len(t)), size=keep - 1, replace=False))
    index = np.concatenate([[0], rest])
    return t[index], x[index]


def _seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"seed must be an integer from 0 to 2**63 - 1, got {seed!r}")
    return int(seed)


def _dtype(dtype: Any) -> torch.dtype:
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in ("float64", "float32"):
        raise ConfigError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    return getattr(torch, dtype)


def _non_negative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


def _jsonable(value: Any) -> Any:
    """Parameters as JSON values: tensors and arrays become lists, numpy scalars Python numbers."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


class Progress:
    """A one-line progress display on stderr, driven by the times at which the vector field is evaluated.

    Args:
        label: what is running.
        start, end: the integration span, to turn a time into a fraction.
        mode: ``True`` always shows, ``False`` never, ``None`` shows runs longer than a second on a terminal.
    """

    #: Seconds between redraws, and before an automatic display appears.
    INTERVAL, DELAY = 0.2, 1.0

    def __init__(self, label: str, start: float, end: float, mode: bool | None) -> None:
        self.label, self.start, self.end = label, float(start), float(end)
        self.always = mode is True
        self.enabled = self.always or (mode is None and sys.stderr.isatty())
        self.began = self.drawn = time.monotonic()
        self.shown = False

    def update(self, t: float) -> None:
        now = time.monotonic()
        if now - self.drawn < self.INTERVAL or (not self.always and now - self.began < self.DELAY):
            return
        self.drawn = now
        self._draw(t, now)

    def _draw(self, t: float, now: float) -> None:
        fraction = min(1.0, max(0.0, (t - self.start) / (self.end - self.start)))
        sys.stderr.write(f"\r{self.label}: {fraction:4.0%}  t = {t:.6g} of {self.end:g}  {now - self.began:.0f} s ")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown or self.always:
            self._draw(self.end, time.monotonic())
            sys.stderr.write("\n")


def watched(system: System, on_call: Callable[[str, Any], None], names: tuple[str, ...] | None = None) -> System:
    """A shallow copy of ``system`` whose field evaluations first call ``on_call(method_name, t)``.

    The evaluations are the methods the system's class declares in ``field_evaluations`` (or
    ``names``); the copy keeps the system's class, so every declared capability (a semilinear split,
    ``numpy_vector_field``, ``stiff``, ...) reads as on the original, with no list kept here.
    """
    copied = copy.copy(system)
    for name in system.field_evaluations if names is None else names:
        method = getattr(system, name)  # a declared name: None when the system has no such fast path
        if callable(method):
            setattr(copied, name, _calling_first(on_call, name, method))
    return copied


def _calling_first(on_call: Callable[[str, Any], None], name: str, method: Callable) -> Callable:
    def evaluation(t: Any, x: Any) -> Any:
        on_call(name, t)
        return method(t, x)

    return evaluation


class Watched:
    """Deprecated: use :func:`watched`, which keeps the system's class (and so its declared capabilities)."""

    def __new__(cls, system: System, progress: Progress) -> System:  # type: ignore[misc]
        warnings.warn("dyncore.simulation.Watched is deprecated; use dyncore.simulation.watched(system, on_call)",
                      DeprecationWarning, stacklevel=2)
        return watched(system, lambda name, t: progress.update(float(t)))
