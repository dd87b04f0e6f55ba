"""``dyncore.compare``: train several models on the same data, evaluate all on the same held-out starts, one table.

Each model is trained with its own recipe (its ``default_trainer``: gradient epochs for node and
rnn, one closed-form call for sindy and esn) under seeds 0, 1, ...; every trained model is judged
by :func:`dyncore.evaluate` against the same system with the same held-out starts (seed 1). A
model whose optional plugin is not installed is skipped with the extra that installs it; a model
that fails to train or to evaluate is recorded as failed with its one-line reason, and the other
models' results are kept.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import dyncore
from dyncore.defaults import COMPARE_MODELS
from dyncore.errors import ConfigError, OutputExistsError
from dyncore.io import atomic_write
from dyncore.trajectory import Trajectory

#: Models of the field's other schools, their extra and plugin distribution.
OPTIONAL_MODELS = {"sindy": ("sindy", "plugins/dyncore-sindy"), "esn": ("reservoir", "plugins/dyncore-reservoir")}
#: NRMSE level of the headline valid prediction time.
VPT_LEVEL = "0.5"
COLUMNS = ("model", "seed", "status", "train_s", "eval_s", "vpt", "vpt_unit", "lambda1_learned", "lambda1_true",
           "k_model", "k_truth", "long_run", "histogram", "sliced_wasserstein", "power_spectrum")
FILES = ("compare.json", "compare.csv", "compare.md", "compare.png")


def install_hint(name: str) -> str:
    """The one line that says how to install the plugin of an optional model."""
    extra, path = OPTIONAL_MODELS[name]
    return f"model {name!r} is not installed: pip install -e \".[{extra}]\" -e {path}"


def compare(
    data: Trajectory | str | Path,
    models: Sequence[str] = COMPARE_MODELS,
    *,
    system: Any = None,
    seeds: int = 3,
    out: str | Path | None = None,
    force: bool = False,
    epochs: int | None = None,
    n_tests: int = 8,
    lyapunov_steps: int | None = None,
    long_time: float | None = None,
    horizon: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train each of ``models`` on ``data`` for each seed and evaluate all on the same held-out starts.

    Args:
        data: the training trajectory (or its file); it names its system unless ``system`` is given.
        models: registered model names.
        system: the system (name or instance) the held-out starts come from; default the data's.
        seeds: training seeds 0 .. seeds - 1 per model.
        out: directory for compare.json, compare.csv, compare.md and compare.png.
        force: overwrite an existing comparison in ``out``.
        epochs: epochs of the gradient-trained models (default: their recipe's); closed-form models have none.
        n_tests, lyapunov_steps, long_time, horizon: passed to :func:`dyncore.evaluate` (same for every model).
        progress: called with one line per trained and evaluated model.
    Returns:
        ``{"setup", "rows" (one per model and seed), "summary" (per model: medians and ranges), "skipped"}``.
    Raises:
        ConfigError: an unknown model name, no system to evaluate against, bad ``seeds``.
        OutputExistsError: ``out`` holds a comparison and ``force`` is not given.
    """
    say = progress or (lambda line: None)
    trajectory = data if isinstance(data, Trajectory) else Trajectory.load(data)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"seeds must be a positive integer, got {seeds!r}")
    if not models:
        raise ConfigError("give at least one model, e.g. --models node,sindy")
    out = Path(out) if out is not None else None
    if out is not None and not force and any((out / name).exists() for name in FILES):
        raise OutputExistsError(f"{out} holds a comparison; pass --force to replace it or choose another directory")
    target = _system(system, trajectory)
    skipped, present = [], []
    for name in models:
        if name in dyncore.models:
            present.append(name)
        elif name in OPTIONAL_MODELS:
            skipped.append({"model": name, "reason": install_hint(name)})
            say(f"skip {name}: {install_hint(name)}")
        else:
            dyncore.models.spec(name)  # raises UnknownNameError with suggestions
    rows = []
    for name in present:
        for seed in range(seeds):
            rows.append(_one(name, seed, trajectory, target, epochs, say,
                             {"n_tests": n_tests, "lyapunov_steps": lyapunov_steps, "long_time": long_time, "horizon": horizon}))
    result = {
        "setup": {"models": list(models), "seeds": seeds, "system": getattr(target, "name", str(target)),
                  "params": getattr(target, "params", {}), "n_tests": n_tests, "epochs": epochs, "data_points": trajectory.n,
                  "vpt_level": float(VPT_LEVEL), "dyncore_version": dyncore.__version__},
        "rows": rows,
        "summary": summarize(rows),
        "skipped": skipped,
    }
    if out is not None:
        write(result, out)
    return result


def _system(system: Any, trajectory: Trajectory) -> Any:
    if system is None:
        name = trajectory.meta.get("system")
        if not name:
            raise ConfigError("the data do not name their system: give --system NAME to draw the held-out starts from")
        return dyncore.systems.create(name, **(trajectory.meta.get("params") or {}))
    return dyncore.systems.resolve(system)


def _one(name: str, seed: int, data: Trajectory, system: Any, epochs: int | None, say: Callable[[str], None],
         evaluation: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(model=name, seed=seed, status="ok", vpt_per_start=[])
    start = time.perf_counter()
    try:
        options: dict[str, Any] = {"seed": seed, "progress": False}
        trainer = dyncore.models.get(name).default_trainer
        if epochs is not None and "epochs" in dyncore.trainers.get(trainer).default_options:
            options["epochs"] = epochs
        run = dyncore.train(name, data, **options)
        row["train_s"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        report = dyncore.evaluate(run, system, seed=1, **evaluation).to_dict()
        row["eval_s"] = round(time.perf_counter() - start, 2)
    except Exception as exc:  # a model that fails is recorded; the others' results are kept
        row["status"] = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
        say(f"{name} seed {seed}: {row['status']}")
        return row
    _fill(row, report)
    vpt = "-" if row["vpt"] is None else f"{row['vpt']:.2f} {row['vpt_unit']}"
    say(f"{name} seed {seed}: trained in {row['train_s']:.1f} s, evaluated in {row['eval_s']:.1f} s: VPT {vpt}, "
        f"lambda_1 {_fmt(row['lambda1_learned'])} (true {_fmt(row['lambda1_true'])}), long run {row['long_run']}")
    return row


def _fill(row: dict[str, Any], report: dict[str, Any]) -> None:
    vpt = (report.get("vpt") or {}).get(VPT_LEVEL) or {}
    ly = report.get("lyapunov") or {}
    true = ly["true"][0] if ly.get("true") else None
    scale = true if (vpt.get("lyapunov_times") is not None and true) else None
    median = vpt.get("median")
    row["vpt"] = median * scale if (scale and median is not None) else median  # the median over held-out starts
    row["vpt_unit"] = "Lyapunov times" if scale else "time units"
    row["vpt_per_start"] = [v * scale if scale else v for v in vpt.get("per_start", [])]
    row["lambda1_learned"] = ly["learned"][0] if ly.get("learned") else None
    row["lambda1_true"] = true
    zero_one = report.get("zero_one") or {}
    row["k_model"], row["k_truth"] = zero_one.get("model"), zero_one.get("truth")
    row["long_run"] = report.get("long_run")
    for key in ("histogram", "sliced_wasserstein", "power_spectrum"):
        row[key] = (report.get("distances") or {}).get(key)
    if report.get("notes"):
        row["notes"] = report["notes"]


def _median(values: list[float]) -> float | None:
    values = sorted(v for v in values if v is not None and math.isfinite(v))
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else 0.5 * (values[mid - 1] + values[mid])


def summarize(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per model: runs that worked, and median, min and max over seeds of VPT, lambda_1 and K."""
    summary: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == name]
        ok = [r for r in mine if r["status"] == "ok"]
        entry: dict[str, Any] = {"runs": len(mine), "ok": len(ok), "failures": [r["status"] for r in mine if r["status"] != "ok"]}
        for key in ("vpt", "lambda1_learned", "k_model"):
            values = [r[key] for r in ok if r[key] is not None]
            entry[key] = {"median": _median(values), "min": min(values) if values else None, "max": max(values) if values else None}
        entry["vpt_unit"] = ok[0]["vpt_unit"] if ok else None
        entry["lambda1_true"] = ok[0]["lambda1_true"] if ok else None
        summary[name] = entry
    return summary


def _fmt(value: Any, fmt: str = ".3f") -> str:
    return "-" if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value, fmt)


def markdown(result: dict[str, Any]) -> str:
    """The comparison as markdown: one summary row per model (median [min, max] over seeds), then every run."""
    s = result["setup"]
    lines = [f"# dyncore compare on {s['system']}", "",
             f"{s['data_points']} training points; {s['seeds']} seed(s) per model; {s['n_tests']} held-out starts (seed 1); "
             f"VPT at NRMSE {s['vpt_level']:g}.", "",
             "| model | runs ok | VPT median [min, max] | lambda_1 learned median [min, max] | lambda_1 true | 0-1 K median |",
             "|---|---|---|---|---|---|"]
    for name, e in result["summary"].items():
        v, lam, k = e["vpt"], e["lambda1_learned"], e["k_model"]
        unit = f" {e['vpt_unit']}" if e["vpt_unit"] else ""
        lines.append(f"| {name} | {e['ok']}/{e['runs']} | {_fmt(v['median'], '.2f')} [{_fmt(v['min'], '.2f')}, {_fmt(v['max'], '.2f')}]{unit} "
                     f"| {_fmt(lam['median'])} [{_fmt(lam['min'])}, {_fmt(lam['max'])}] | {_fmt(e['lambda1_true'])} | {_fmt(k['median'], '.2f')} |")
    lines += ["", "| model | seed | status | train s | eval s | VPT | lambda_1 learned | 0-1 K | long run | sliced W |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['model']} | {r['seed']} | {r['status']} | {_fmt(r['train_s'], '.1f')} | {_fmt(r['eval_s'], '.1f')} | {_fmt(r['vpt'], '.2f')} "
                     f"| {_fmt(r['lambda1_learned'])} | {_fmt(r['k_model'], '.2f')} | {r['long_run'] or '-'} | {_fmt(r['sliced_wasserstein'])} |")
    for skip in result["skipped"]:
        lines.append(f"\nskipped {skip['model']}: {skip['reason']}")
    return "\n".join(lines) + "\n"


def write(result: dict[str, Any], out: Path) -> None:
    """compare.json, compare.csv, compare.md and compare.png in ``out`` (each written atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "compare.json", "w") as f:
        f.write(json.dumps(result, indent=2, default=float) + "\n")
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(result["rows"])
    with atomic_write(out / "compare.csv", "w") as f:
        f.write(text.getvalue())
    with atomic_write(out / "compare.md", "w") as f:
        f.write(markdown(result))
    figure(result, out / "compare.png")


def figure(result: dict[str, Any], path: Path) -> Path:
    """VPT distributions per model (every held-out start of every seed) and lambda_1 learned against true."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["summary"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    per_model = [[v for r in result["rows"] if r["model"] == n for v in r["vpt_per_start"]] for n in names]
    if names:
        left.boxplot([v if v else [float("nan")] for v in per_model], showfliers=True)
        left.set_xticks(range(1, len(names) + 1), names)
    unit = next((e["vpt_unit"] for e in result["summary"].values() if e["vpt_unit"]), "")
    left.set_ylabel(f"VPT ({unit})" if unit else "VPT")
    left.set_title("valid prediction time, every held-out start")
    for i, n in enumerate(names):
        values = [r["lambda1_learned"] for r in result["rows"] if r["model"] == n and r["lambda1_learned"] is not None]
        right.plot([i + 1] * len(values), values, "o", alpha=0.7)
    true = next((e["lambda1_true"] for e in result["summary"].values() if e["lambda1_true"] is not None), None)
    if true is not None:
        right.axhline(true, color="k", ls="--", label=f"true {true:.3f}")
        right.legend()
    right.set_xticks(range(1, len(names) + 1), names)
    right.set_ylabel("lambda_1 learned")
    right.set_title("largest Lyapunov exponent, per seed")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


__all__ = ["compare", "markdown", "summarize", "install_hint"]
