"""Figures for notebooks, the CLI and the demo report.

Every function takes trajectories, arrays or results and returns a :class:`matplotlib.figure.Figure`
built without pyplot (no global state, works with any backend). matplotlib is imported on first use.
Time is always coloured dark to light (viridis), data is grey, learned models are coloured.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dyncore.defaults import DEFAULT_CHAOS_TEST
from dyncore.errors import ConfigError
from dyncore.io import atomic_write

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from dyncore.chaos import ChaosResult
    from dyncore.persistence import Persistence
    from dyncore.trainer import History
    from dyncore.trajectory import Trajectory

TIME_CMAP = "viridis"
DATA_COLOR = "0.6"
TRUTH_COLOR = "0.25"
MODEL_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")
FORMATS = (".png", ".svg", ".pdf")


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _first_member(x: np.ndarray) -> np.ndarray:
    """States ``(n, dim)`` from ``(n, dim)`` or the first member of ``(n, batch, dim)``."""
    x = np.asarray(x)
    return x[:, 0] if x.ndim == 3 else x


def _time_colored_line(ax: Axes, t: np.ndarray, x: np.ndarray, lw: float = 1.2) -> Any:
    """Draw the path ``x`` (n, 2 or 3) coloured by ``t``; returns the collection (for a colour bar)."""
    from matplotlib.collections import LineCollection

    points = x[:, None, :]
    segments = np.concatenate([points[:-1], points[1:]], axis=1)
    keep = np.isfinite(segments).all(axis=(1, 2))  # drop the parts of a blown-up or clipped path
    segments, t_mid = segments[keep], (0.5 * (t[:-1] + t[1:]))[keep]
    if x.shape[1] == 3:
        from mpl_toolkits.mplot3d.art3d import Line3DCollection

        lines = Line3DCollection(segments, cmap=TIME_CMAP, linewidths=lw)
    else:
        lines = LineCollection(segments, cmap=TIME_CMAP, linewidths=lw)
    lines.set_array(t_mid)
    if x.shape[1] == 3:
        ax.add_collection3d(lines)
        _set_limits_3d(ax, x)
    else:
        ax.add_collection(lines)
        ax.autoscale()
    return lines


def clip_to_data(x: np.ndarray, data: np.ndarray, margin: float = 0.5) -> tuple[np.ndarray, int | None]:
    """``x`` with rows outside the data's bounding box (widened by ``margin`` of its size) set to NaN.

    Returns the clipped copy and the index of the first row that left the box (``None`` if none did),
    so that a prediction that blows up cannot squash the data into a dot.
    """
    lo, hi = np.nanmin(data, axis=0), np.nanmax(data, axis=0)
    pad = margin * (hi - lo + 1e-12)
    outside = ~np.all((x >= lo - pad) & (x <= hi + pad), axis=1)
    first = int(np.argmax(outside)) if outside.any() else None
    clipped = x.astype(float, copy=True)
    clipped[outside] = np.nan
    return clipped, first


def _set_limits_3d(ax: Axes, *arrays: np.ndarray) -> None:
    stacked = np.concatenate([a.reshape(-1, 3) for a in arrays])
    lo, hi = np.nanmin(stacked, 0), np.nanmax(stacked, 0)
    pad = 0.05 * (hi - lo + 1e-12)
    ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
    ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
    ax.set_zlim(lo[2] - pad[2], hi[2] + pad[2])


def _axis_labels(ax: Axes, dim: int, labels: Sequence[str] | None = None) -> None:
    labels = list(labels or [f"x{i}" for i in range(dim)])
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    if dim == 3:
        ax.set_zlabel(labels[2])


def trajectory(traj: Trajectory, title: str | None = None, labels: Sequence[str] | None = None) -> Figure:
    """Phase portrait coloured by time beside the time series.

    2-D systems get a phase plane, 3-D systems a 3-D path (dark to light), higher dimensions a
    space-time heat map (see :func:`space_time`).
    """
    x = _first_member(traj.x)
    dim = x.shape[1]
    if dim > 3:
        return space_time(traj, title=title)
    fig = _figure(11, 4.2)
    grid = fig.add_gridspec(dim if dim > 1 else 1, 2, width_ratios=(1.1, 1.4))
    if dim == 1:
        ax = fig.add_subplot(grid[:, 0])
        ax.plot(traj.t, x[:, 0], color=TRUTH_COLOR)
        ax.set_xlabel("t")
    else:
        ax = fig.add_subplot(grid[:, 0], projection="3d" if dim == 3 else None)
        lines = _time_colored_line(ax, traj.t, x)
        _axis_labels(ax, dim, labels)
        fig.colorbar(lines, ax=ax, label="t", shrink=0.7, pad=0.12 if dim == 3 else 0.02)
        ax.set_title("phase portrait")
    for i in range(dim if dim > 1 else 0):
        axi = fig.add_subplot(grid[i, 1])
        axi.plot(traj.t, x[:, i], color=TRUTH_COLOR, lw=1)
        axi.set_ylabel((labels or [f"x{j}" for j in range(dim)])[i])
        if i < dim - 1:
            axi.tick_params(labelbottom=False)
        else:
            axi.set_xlabel("t")
    fig.suptitle(title or traj.meta.get("system", "trajectory"))
    return fig


def prediction_vs_data(data: Trajectory, prediction: Trajectory, title: str | None = None) -> Figure:
    """Data as a grey scatter, the prediction as a time-coloured line, in phase space and per component."""
    xd = _first_member(data.x)
    xp, left = clip_to_data(_first_member(prediction.x), xd)
    dim = xd.shape[1]
    fig = _figure(12, 4.5)
    grid = fig.add_gridspec(min(dim, 3), 2, width_ratios=(1.1, 1.4))
    if dim in (2, 3):
        ax = fig.add_subplot(grid[:, 0], projection="3d" if dim == 3 else None)
        ax.scatter(*xd.T, s=3, alpha=0.5, color=DATA_COLOR, label="data", **({"depthshade": False} if dim == 3 else {}))
        lines = _time_colored_line(ax, prediction.t, xp)
        if dim == 3:
            _set_limits_3d(ax, xd, xp)
        fig.colorbar(lines, ax=ax, label="t (prediction)", shrink=0.7, pad=0.12 if dim == 3 else 0.02)
        _axis_labels(ax, dim)
        ax.legend(loc="upper right", fontsize=8)
    for i in range(min(dim, 3)):
        axi = fig.add_subplot(grid[i, 1] if dim in (2, 3) else grid[i, :])
        axi.scatter(data.t, xd[:, i], s=3, color=DATA_COLOR, label="data")
        axi.plot(prediction.t, xp[:, i], color=MODEL_COLORS[0], lw=1.2, label="prediction")
        axi.set_ylabel(f"x{i}")
        if i == 0:
            axi.legend(loc="upper right", fontsize=8)
    axi.set_xlabel("t")
    title = title or "prediction versus data"
    if left is not None:
        title += f"\n(the prediction leaves the data's range at t = {prediction.t[left]:.3g} and is not drawn after)"
    fig.suptitle(title)
    return fig


def training_snapshots(
    epochs: Sequence[int], t: np.ndarray, states: np.ndarray, data: Trajectory | None = None, columns: int = 4, title: str | None = None
) -> Figure:
    """The trajectory during training: a grid of free rollouts at increasing epochs over the data.

    Args:
        epochs: epoch of each snapshot, shape ``(k,)``.
        t: rollout times, shape ``(n,)``.
        states: rollouts, shape ``(k, n, dim)`` (or ``(k, n, batch, dim)``: the first member is shown).
        data: the training data, drawn in grey behind each rollout.
        columns: at most this many panels per row; at most ``2 * columns`` snapshots, evenly chosen.
    """
    states = np.asarray(states)
    if states.ndim == 4:
        states = states[:, :, 0]
    k = len(epochs)
    if k == 0:
        raise ConfigError("no training snapshots to plot; train with snapshots enabled (e.g. --snapshot-every 20)")
    picks = np.unique(np.linspace(0, k - 1, min(k, 2 * columns)).round().astype(int))
    rows = int(np.ceil(len(picks) / columns))
    cols = min(columns, len(picks))
    dim = states.shape[-1]
    three_d = dim == 3
    fig = _figure(3.2 * cols, 3.0 * rows)
    xd = _first_member(data.x) if data is not None else None
    for panel, index in enumerate(picks):
        ax = fig.add_subplot(rows, cols, panel + 1, projection="3d" if three_d else None)
        x = clip_to_data(states[index], xd, margin=0.25)[0] if xd is not None else states[index]
        finite = np.isfinite(x).all(axis=-1)
        if dim >= 2:
            if xd is not None:
                ax.plot(*xd[:, :3].T, color=DATA_COLOR, lw=0.6)
            if finite.sum() > 1:
                _time_colored_line(ax, np.asarray(t)[finite], x[finite][:, :3] if three_d else x[finite][:, :2], lw=1.0)
            if three_d and xd is not None:
                _set_limits_3d(ax, xd)
            elif xd is not None:
                lo, hi = xd[:, :2].min(0), xd[:, :2].max(0)
                pad = 0.25 * (hi - lo)
                ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
                ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        else:
            if xd is not None:
                ax.plot(data.t, xd[:, 0], color=DATA_COLOR)
            ax.plot(t, x[:, 0], color=MODEL_COLORS[0])
        ax.set_title(f"epoch {int(epochs[index])}", fontsize=10)
        ax.tick_params(labelsize=7)
    fig.suptitle(title or "free rollout during training (grey: data)")
    return fig


def vector_fields(
    fields: Mapping[str, Callable[[Any, Any], Any]],
    bounds: tuple[float, float, float, float],
    data: Trajectory | None = None,
    resolution: int = 30,
    title: str | None = None,
) -> Figure:
    """Streamplots of 2-D vector fields side by side (e.g. ``{"true": system, "learned": node.vector_field}``).

    Args:
        fields: label -> ``f(t, x)`` taking a torch tensor ``(m, 2)`` and returning ``(m, 2)``.
        bounds: ``(xmin, xmax, ymin, ymax)`` of the phase plane.
        data: drawn in grey on every panel.
    """
    import torch

    xs = np.linspace(bounds[0], bounds[1], resolution)
    ys = np.linspace(bounds[2], bounds[3], resolution)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    fig = _figure(5.2 * len(fields), 4.8)
    for i, (label, f) in enumerate(fields.items()):
        ax = fig.add_subplot(1, len(fields), i + 1)
        device, dtype = _device_dtype_of(f)
        with torch.no_grad():
            v = f(torch.zeros((), dtype=dtype, device=device), torch.as_tensor(grid, dtype=dtype, device=device))
        v = v.detach().cpu().numpy().reshape(resolution, resolution, 2)
        speed = np.hypot(v[..., 0], v[..., 1])
        stream = ax.streamplot(xs, ys, v[..., 0], v[..., 1], color=np.log10(speed + 1e-12), cmap="magma", density=1.2, linewidth=0.8)
        if data is not None:
            ax.plot(*_first_member(data.x)[:, :2].T, color=DATA_COLOR, lw=1.0, label="data")
            ax.legend(loc="upper right", fontsize=8)
        ax.set_xlim(bounds[0], bounds[1])
        ax.set_ylim(bounds[2], bounds[3])
        ax.set_title(label)
        ax.set_xlabel("x0")
        ax.set_ylabel("x1")
        ax.set_aspect("equal")
    fig.colorbar(stream.lines, ax=fig.axes, label="log10 |f|", shrink=0.8)
    fig.suptitle(title or "vector field")
    return fig


def _device_dtype_of(f: Any) -> tuple[Any, Any]:
    """Device and dtype to evaluate ``f`` with: its owner module's parameters if any, else CPU float64."""
    import torch

    owner = getattr(f, "__self__", f)
    params = getattr(owner, "parameters", None)
    if callable(params):
        for p in params():
            return p.device, p.dtype
    return torch.device("cpu"), torch.float64


def zero_one_test(results: Mapping[str, ChaosResult], title: str | None = None) -> Figure:
    """For each labelled 0-1 test result: the p-q path (top) and K_c against c (bottom)."""
    fig = _figure(4.6 * len(results), 7.5)
    for i, (label, result) in enumerate(results.items()):
        details = result.details
        ax = fig.add_subplot(2, len(results), i + 1)
        p, q = np.asarray(details.get("p", [])), np.asarray(details.get("q", []))
        if len(p):
            ax.plot(p, q, lw=0.5, color=MODEL_COLORS[i % len(MODEL_COLORS)])
        ax.set_xlabel("p")
        ax.set_ylabel("q")
        ax.set_title(f"{label}\nK = {result.statistic:.3f} ({result.verdict})", fontsize=10)
        ax.set_aspect("equal", adjustable="datalim")
        ax2 = fig.add_subplot(2, len(results), len(results) + i + 1)
        c, kc = np.asarray(details.get("c", [])), np.asarray(details.get("K_c", []))
        if len(c):
            order = np.argsort(c)
            ax2.plot(c[order], kc[order], "o", ms=3, color=MODEL_COLORS[i % len(MODEL_COLORS)])
        ax2.axhline(result.statistic, color=TRUTH_COLOR, lw=1, ls="--", label="median K")
        ax2.set_ylim(-0.2, 1.1)
        ax2.set_xlabel("c")
        ax2.set_ylabel("K_c")
        ax2.legend(loc="lower right", fontsize=8)
    fig.suptitle(title or "0-1 test for chaos: diffusive p-q path means chaos (K ≈ 1), bounded means regular (K ≈ 0)")
    return fig


def space_time(truth: Trajectory, prediction: Trajectory | None = None, title: str | None = None, length: float | None = None) -> Figure:
    """Space-time heat maps of a 1-D field (e.g. Kuramoto–Sivashinsky): truth, and prediction and error if given."""
    u = _first_member(truth.x)
    panels = [("truth", u, "RdBu_r")]
    note = ""
    if prediction is not None:
        up = _first_member(prediction.x)
        n = min(len(u), len(up))
        up = up[:n].astype(float, copy=True)
        escaped = np.abs(up).max(axis=1) > 2 * np.abs(u).max()
        if escaped.any():  # blank out a blown-up prediction instead of saturating the colours
            first = int(np.argmax(escaped))
            up[first:] = np.nan
            note = f"\n(the prediction leaves the data's range at t = {truth.t[first]:.4g}; blank after)"
        panels += [("prediction", up, "RdBu_r"), ("error", up - u[:n], "PuOr_r")]
    length = length or truth.meta.get("params", {}).get("L") or u.shape[1]
    vmax = np.abs(u).max()
    fig = _figure(12, 3.0 * len(panels))
    for i, (label, field, cmap) in enumerate(panels):
        ax = fig.add_subplot(len(panels), 1, i + 1)
        t = truth.t[: len(field)]
        image = ax.imshow(
            np.ma.masked_invalid(field.T), aspect="auto", origin="lower", cmap=cmap, vmin=-vmax, vmax=vmax,
            extent=(t[0], t[-1], 0, float(length)), interpolation="nearest",
        )
        fig.colorbar(image, ax=ax, label="u")
        ax.set_ylabel(f"{label}\nx")
        if i == len(panels) - 1:
            ax.set_xlabel("t")
    fig.suptitle((title or "space-time") + note)
    return fig


def loss_curves(histories: Mapping[str, History], title: str | None = None) -> Figure:
    """Training loss (log scale) per epoch for each labelled :class:`~dyncore.trainer.History`, lr on a twin axis."""
    fig = _figure(7, 4)
    ax = fig.add_subplot(1, 1, 1)
    for i, (label, history) in enumerate(histories.items()):
        loss = np.asarray(history.loss, dtype=float)
        ax.semilogy(history.epoch, np.where(loss > 0, loss, np.nan), color=MODEL_COLORS[i % len(MODEL_COLORS)], label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (MSE, normalised)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title(title or "loss")
    return fig


def lyapunov_spectra(spectra: Mapping[str, Sequence[float]], true: Sequence[float] | None = None, title: str | None = None) -> Figure:
    """Lyapunov exponents learned versus true, as grouped bars per exponent index."""
    labels = (["true"] if true is not None else []) + list(spectra)
    values = ([list(true)] if true is not None else []) + [list(v) for v in spectra.values()]
    k = max(len(v) for v in values)
    fig = _figure(7, 4)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(labels)
    for i, (label, v) in enumerate(zip(labels, values)):
        color = TRUTH_COLOR if (true is not None and i == 0) else MODEL_COLORS[(i - (true is not None)) % len(MODEL_COLORS)]
        bars = ax.bar(np.arange(len(v)) + (i - (len(labels) - 1) / 2) * width, v, width, label=label, color=color)
        ax.bar_label(bars, fmt="%.3g", fontsize=7, padding=2)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(range(k), [f"λ{i + 1}" for i in range(k)])
    ax.set_ylabel("exponent (1/time)")
    ax.legend()
    ax.set_title(title or "Lyapunov spectrum: learned versus true")
    return fig


def persistence(result: Persistence, title: str | None = None) -> Figure:
    """Chaos persistence: K per window against time, one line per start (top), and each window's motion (bottom).

    A start's line ends where it blew up (marked x); a dot marks where it stopped being chaotic, and its
    legend entry names its fate. The motion (the window's mean step over the truth's, log scale) shows a
    collapse onto a fixed point, the flat line of a cycle, or the growth before a blow-up. Time is on a
    log scale from 20 windows on, so that early stops stay visible beside 10^4 Lyapunov times.
    """
    fig = _figure(9, 6.5)
    top, bottom = fig.add_subplot(2, 1, 1), fig.add_subplot(2, 1, 2)
    unit = result.unit
    t = (result.window_starts + result.window / 2) / unit  # window centres
    for i, fate in enumerate(result.fates):
        color = MODEL_COLORS[i % len(MODEL_COLORS)] if len(result.fates) <= len(MODEL_COLORS) else None
        stop = result.stopped[i]
        label = f"start {i}: {fate}" + ("" if stop is None else f" from {stop / unit:.4g}")
        if result.periods[i]:
            label += f" (period {result.periods[i]:.4g})"
        (line,) = top.plot(t, result.k[i], lw=1.0, marker="." if len(t) <= 40 else None, color=color, label=label)
        bottom.semilogy(t, np.where(result.motion[i] > 0, result.motion[i], np.nan), lw=1.0, color=line.get_color())
        if stop is not None and fate != "blow-up":
            j = min(int(stop / result.window), len(t) - 1)
            top.plot(t[j], result.k[i, j], "o", ms=6, color=line.get_color())
        if fate == "blow-up" and stop is not None:
            top.plot(stop / unit, 0.0, "x", ms=8, mew=2, color=line.get_color())
    top.axhline(result.threshold, color=TRUTH_COLOR, ls="--", lw=1, label=f"threshold K = {result.threshold:g}")
    top.set_ylim(-0.25, 1.1)
    top.set_ylabel("0-1 test K per window")
    top.legend(fontsize=7, loc="center right", ncol=2)
    bottom.set_ylabel("motion per window\n(mean step / truth's)")
    bottom.set_xlabel(f"time ({result.unit_name}; window centres)")
    bottom.grid(True, which="both", alpha=0.3)
    for ax in (top, bottom):
        if len(t) >= 20:
            ax.set_xscale("log")
            ax.set_xlim(t[0] / 1.2, result.duration / unit)
        else:
            ax.set_xlim(0, result.duration / unit)
    fig.suptitle(title or f"{result.model} on {result.system or 'its own scale'}: "
                 f"windows of {result.window / unit:.3g} {result.unit_name}")
    return fig


def save(fig: Figure, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Write ``fig`` to ``.png``, ``.svg`` or ``.pdf`` atomically; returns the path."""
    import io

    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ConfigError(f"cannot save a figure as {path.name}: use a {', '.join(FORMATS)} file name")
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix[1:].lower(), dpi=dpi)
    with atomic_write(path) as f:
        f.write(buffer.getvalue())
    return path


DATA_KINDS = ("trajectory", "space-time", "zero-one")
RUN_KINDS = ("snapshots", "loss", "prediction", "vector-field")


def figure_from_path(path: str | os.PathLike, kind: str | None = None) -> Figure:
    """The figure ``kind`` of a data file (``.npz``/``.csv``) or of a run directory.

    Data kinds: ``trajectory`` (default; phase portrait, 3-D path or space-time map by dimension),
    ``space-time``, ``zero-one`` (the 0-1 test's p-q path of component 0, subsampled automatically).
    Run kinds: ``snapshots`` (default), ``loss``, ``prediction`` (free run over the training data),
    ``vector-field`` (a 2-D model's learned field beside the true one).
    """
    from dyncore.errors import DataError

    path = Path(path)
    if path.is_dir():
        return _run_figure(path, kind or "snapshots")
    if not path.exists():
        raise DataError(f"{path} does not exist; give a data file (.npz, .csv) or a run directory")
    from dyncore.trajectory import Trajectory

    kind = kind or "trajectory"
    if kind not in DATA_KINDS:
        raise ConfigError(f"--kind {kind!r} does not apply to a data file; choose one of {', '.join(DATA_KINDS)}")
    traj = Trajectory.load(path)
    if kind == "trajectory":
        return trajectory(traj, title=path.name)
    if kind == "space-time":
        return space_time(traj, title=path.name)
    import dyncore

    result = dyncore.chaos_tests.create(DEFAULT_CHAOS_TEST, subsample="auto").run(_first_member(traj.x)[:, 0])
    return zero_one_test({f"{path.name}, x0": result})


def _run_figure(path: Path, kind: str) -> Figure:
    import dyncore
    from dyncore.trajectory import Trajectory

    if kind not in RUN_KINDS:
        raise ConfigError(f"--kind {kind!r} does not apply to a run directory; choose one of {', '.join(RUN_KINDS)}")
    run = dyncore.Run.load(path)
    name = f"{path.name} ({run.model.name})"
    source = run.config.get("data", {}).get("source")
    data = Trajectory.load(source) if source and Path(source).is_file() else None
    if kind == "loss":
        return loss_curves({name: run.history}, title=f"{name}: training loss")
    if kind == "snapshots":
        epochs = sorted(run.history.snapshots)
        if not epochs:
            raise ConfigError(f"{path} has no training snapshots; train with --option snapshot_every=20")
        states = np.stack([run.history.snapshots[e] for e in epochs])
        return training_snapshots(epochs, run.snapshot_t, states, data, title=f"{name}: free rollout during training")
    if kind == "prediction":
        prediction = run.predict()
        return prediction_vs_data(data, prediction, title=f"{name}: prediction") if data is not None else trajectory(prediction, title=name)
    from dyncore.model import learned_vector_field

    field = learned_vector_field(run.model)
    if field is None or run.model.dim != 2:
        raise ConfigError(f"--kind vector-field needs a 2-D model with a vector field (a NODE); {name} is not one")
    reference = data.x if data is not None else np.asarray(run.config["data"]["context"])
    bound = 1.1 * float(np.abs(reference).max())
    fields = {"learned": field}
    meta = run.config.get("data", {}).get("meta", {})
    if meta.get("system") in dyncore.systems:
        fields = {"true": dyncore.systems.create(meta["system"], **meta.get("params", {})).vector_field, **fields}
    return vector_fields(fields, (-bound, bound, -bound, bound), data, title=f"{name}: vector field")
