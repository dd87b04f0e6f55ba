"""The fidelity table: every built-in model trained on every built-in system by its reference recipe, then evaluated.

Each model is trained with the full-batch trainer's reference recipe (Adam, lr 1e-2 then 1e-3 for
the last 10 %, all consecutive pairs as one batch) on the reference data of its system, and
evaluated by ``dyncore.evaluate`` on held-out trajectories whose starts are seeded random states
integrated onto the attractor (never the training trajectory). The table is how later changes to
models and trainers are judged, so every number comes from this one script. Usage:

    python benchmarks/fidelity.py [--epochs N] [--seeds 0 1 2] [--eval-seed 1] [--n-tests 20]
                                  [--systems lorenz ...] [--models node rnn ...] [--json out.json]
                                  [--write-docs] [--threads 1] [--persistence LT] [--runs DIR]
                                  [--cycles-only]

``--persistence LT`` adds a column "chaos lasts": every trained model also runs for LT Lyapunov times
from 8 starts (:func:`dyncore.persistence.chaos_persistence`, windows of min(100, LT)), and the cell is
the median over every start of every seed of the time until K stays below 0.8 (">LT" when the median
start never stopped), with the fates of those that stopped and how many stopped per seed. Off by default (it takes minutes per row).

Each row of :data:`ROWS` is trained once per training seed; the table reports medians and spreads
over seeds and held-out starts (never a chosen seed).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from dyncore_solvers.step_grid import stiff_data
from dyncore_systems.van_der_pol import KNOWN_PERIODS

import dyncore
from dyncore.cycles import cycle_fidelity
from dyncore.evaluation import evaluate
from dyncore.persistence import FATES, chaos_persistence, format_lasts

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
BEGIN, END = "<!-- fidelity:begin -->", "<!-- fidelity:end -->"

#: Per system: options of the reference data (``simulate``).
DATA: dict[str, dict[str, Any]] = {
    "spiral": {},
    "lorenz": {},  # the reference Lorenz: 1000 points over t in [0, 10]
    "van_der_pol": {},
    "kuramoto_sivashinsky": {"transient": 100.0},  # L = 22, N = 64 after a transient of 100
}


@dataclass(frozen=True)
class Row:
    """One row of the table: a model (by name, hyperparameters and recipe) trained on one system's data.

    ``trained=False`` evaluates the model as built (e.g. a known model alone). ``data`` overrides
    the system's reference data options (e.g. a batch of trajectories), or is a function of the
    system that returns the training data; ``options`` are trainer options on top of the recipe's.
    ``params`` are the system's parameters (``{"mu": 1000.0}``); ``cycles`` adds the limit-cycle
    check (:func:`dyncore.cycles.cycle_fidelity`) on the same held-out seed.
    """

    system: str
    label: str
    model: str
    hparams: dict[str, Any] = field(default_factory=dict)
    recipe: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    trainer: str | None = None  # default: the recipe's, else the model's own
    data: dict[str, Any] | None = None
    trained: bool = True
    evaluate: dict[str, Any] = field(default_factory=dict)  # extra options of dyncore.evaluate
    #: Extra measurements ``extra(model, system, eval_seed) -> {name: value}``, reported as notes.
    extra: Callable[[Any, Any, int], dict[str, float]] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    cycles: bool = False

    @property
    def key(self) -> str:
        return f"{self.system}/{self.label}"


#: Kuramoto-Sivashinsky long-run statistics: runs, their length and the part dropped as the model's transient.
KS_LONG_RUNS, KS_LONG_TIME, KS_LONG_DROP = 4, 1000.0, 100.0


def ks_statistics(model: Any, system: Any, eval_seed: int) -> dict[str, float]:
    """<u^2> and the energy spectrum of long free runs against the truth's, as relative errors.

    From ``KS_LONG_RUNS`` held-out starts settled on the attractor (seed ``eval_seed``), the model and
    the system each run ``KS_LONG_TIME`` time units; after dropping ``KS_LONG_DROP``: ``u2_error`` =
    |<u^2>_model / <u^2>_truth - 1| and ``spectrum_error`` = sum_m |E_model(m) - E_truth(m)| / sum_m E_truth(m),
    E(m) the time-averaged |rfft(u)_m|^2; ``*_floor``: the same between the truth's two halves; NaN when
    the model's run blew up.
    """
    dt = float(system.fixed_step())
    t = np.arange(int(round((KS_LONG_TIME + KS_LONG_DROP) / dt)) + 1) * dt
    starts = system.simulate(None, t[:2], batch=KS_LONG_RUNS, seed=eval_seed, transient=400.0).x[0]
    truth = system.simulate(starts, t).x
    try:
        with torch.no_grad():
            runs = model.rollout(torch.as_tensor(starts)[None], torch.as_tensor(t)).cpu().numpy()
    except dyncore.DyncoreError:
        runs = np.full_like(truth, np.nan)
    keep = t >= KS_LONG_DROP

    def stats(x: np.ndarray) -> tuple[float, np.ndarray]:
        return float(np.mean(x**2)), np.mean(np.abs(np.fft.rfft(x, axis=-1)) ** 2, axis=(0, 1))

    def errors(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
        (ua, ea), (ub, eb) = stats(a), stats(b)
        return abs(ua / ub - 1), float(np.sum(np.abs(ea - eb)) / np.sum(eb))

    u2, spectrum = errors(runs[keep], truth[keep]) if np.all(np.isfinite(runs)) else (math.nan, math.nan)
    half = len(truth[keep]) // 2
    u2_floor, spectrum_floor = errors(truth[keep][:half], truth[keep][half:])
    return {"u2_error": u2, "spectrum_error": spectrum, "u2_floor": u2_floor, "spectrum_floor": spectrum_floor}


#: The known model of the priors rows: Lorenz with rho 10 % low (25.2 instead of 28).
KNOWN_LORENZ = {"known": "lorenz", "known_params": {"rho": 25.2}}
#: KS training data of the semilinear rows: seeded random starts, settled for 100 time units, sampled every 0.25.
KS_BATCH = {"batch": 4, "t": (np.arange(200) * 0.25).tolist(), "transient": 100.0}
#: The semilinear network: a 5-point stencil MLP (16 hidden) plus a quadratic form of the stencil, times a Fourier gain.
KS_SEMILINEAR = {"hidden": 16, "depth": 1, "kernel": 5, "quadratic": True}
KS_TRAINING = {"epochs": 1000}


#: Every row of the table. New models and recipes add their rows here, beside today's.
ROWS: list[Row] = [
    # the reference spiral: 2-128-2 NODE; the RNN at its defaults (window 3, 2 x 128)
    Row("spiral", "node", "node", {"hidden": 128}),
    Row("spiral", "rnn", "rnn"),
    # the reference Lorenz: 3-256-3 NODE, 2 x 128 RNN
    Row("lorenz", "node", "node"),
    Row("lorenz", "rnn", "rnn"),
    # issue 13 (recipes): the `chaotic` recipe beside the reference NODE, and its ablation (docs/recipes.md: what
    # each ingredient adds on top of the recipe; run with --models chaotic chaotic+lbfgs ...)
    Row("lorenz", "chaotic", "node", recipe="chaotic"),
    Row("lorenz", "chaotic+lbfgs", "node", recipe="chaotic", options={"epochs": 4500, "lbfgs_epochs": 500}),
    Row("lorenz", "chaotic+curriculum", "node", recipe="chaotic", options={"curriculum": "1,2,4,8,16"}),
    Row("lorenz", "chaotic+jacobian", "node", recipe="chaotic", options={"jacobian": 1e-5, "jacobian_neighbours": 4}),
    Row("lorenz", "chaotic+noise", "node", recipe="chaotic", options={"noise": 1e-3}),
    Row("lorenz", "chaotic-shooting", "node", recipe="chaotic", options={"trainer": "shooting", "segment_steps": 10}),
    Row("van_der_pol", "node", "node"),
    Row("van_der_pol", "rnn", "rnn"),
    # small models on KS. The NODE rolls out with the RK4 step it was trained as (dt = 0.25): its
    # field is as stiff as the PDE's, and an adaptive solver would take thousands of tiny steps on it.
    Row("kuramoto_sivashinsky", "node", "node", {"hidden": 128, "rollout_solver": "rk4"}),
    Row("kuramoto_sivashinsky", "rnn", "rnn", {"hidden": 64}),
    # Learning with priors on Lorenz (docs/learning-with-priors.md): the known model with rho 10 % low
    # alone (untrained), and the hybrid of it with an MLP (both couplings), on the held-out starts of
    # the black-box "node" row above; a horizon of 22 time units (20 Lyapunov times) so that long
    # valid prediction times are not cut off.
    *(Row("lorenz", label, "hybrid", {**KNOWN_LORENZ, **extra}, trained=trained, evaluate={"horizon": 22.0})
      for label, extra, trained in (("known-rho25.2", {}, False), ("hybrid-mixing", {"coupling": "mixing"}, True),
                                    ("hybrid-additive", {"coupling": "additive"}, True))),
    # Learning with priors on KS, L = 22, 64 modes: the semilinear model u_t = L u + N(u) (ETDRK4), L learned
    # (black box) or KS's own (hybrid), trained on a batch of trajectories on the attractor (KS_BATCH);
    # long-run <u^2> and energy spectrum as notes (ks_statistics). The "node" row above is the black-box NODE.
    *(Row("kuramoto_sivashinsky", label, "semilinear", hparams, data=KS_BATCH, options=KS_TRAINING, extra=ks_statistics)
      for label, hparams in (("semilinear-known", {**KS_SEMILINEAR, "linear": "known", "known": "kuramoto_sivashinsky"}),
                             ("semilinear-learned", KS_SEMILINEAR))),
    # the hybrid semilinear model polished: 1000 Adam epochs then 600 of L-BFGS (multistep trainer), in float64, where
    # L-BFGS's line search still finds descent at one-step losses near 1e-7 (in float32 it stalls)
    Row("kuramoto_sivashinsky", "semilinear-known+lbfgs", "semilinear",
        {**KS_SEMILINEAR, "linear": "known", "known": "kuramoto_sivashinsky", "dtype": "float64"},
        data=KS_BATCH, trainer="multistep", options={"epochs": 1600, "lbfgs_epochs": 600}, extra=ks_statistics),
    # stiff Van der Pol (issue 13 item 2): the stiff recipe on 4 random starts in [-3, 3]^2 (data seed 0, the held-out
    # starts use seed 1) sampled on radau's own steps over 1.2 periods, which resolve every jump; evaluated with radau,
    # plus the limit-cycle check from settled and from raw random starts (see docs/stiff-systems.md)
    *[Row("van_der_pol", f"stiff_node mu={mu:g}", "stiff_node", recipe="stiff", params={"mu": mu}, cycles=True,
          data=lambda system: stiff_data(system, batch=4, seed=0, periods=1.2),
          evaluate={"dt": KNOWN_PERIODS[mu] / 250})
      for mu in (100.0, 1000.0)],
]


def train_and_evaluate(spec: Row, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Train ``spec`` with ``seed`` (unless untrained) and evaluate it on the held-out starts."""
    system = dyncore.systems.create(spec.system, **spec.params)
    if callable(spec.data):
        data = spec.data(system)
    else:
        data = system.simulate(**(DATA[spec.system] if spec.data is None else spec.data))
    row: dict[str, Any] = {"system": spec.system, "params": spec.params, "model": spec.label, "name": spec.model, "hparams": spec.hparams,
                           "recipe": spec.recipe, "seed": seed, "points": data.n, "batch": data.batch}
    start = time.perf_counter()
    if spec.trained:
        options = {"epochs": args.epochs, **spec.options} if spec.recipe is None else dict(spec.options)
        if args.epochs_override:
            options["epochs"] = args.epochs
        try:
            out = None if args.runs is None else args.runs / spec.system / spec.label / f"seed{seed}"
            run = dyncore.train(spec.model, data, spec.trainer, seed=seed, hparams=spec.hparams, recipe=spec.recipe, progress=False, out=out,
                                force=out is not None and out.exists(), **options)
        except dyncore.TrainingDiverged as exc:
            row.update(status="diverged", error=str(exc), train_s=time.perf_counter() - start)
            return row
        model = run
        row.update(status=run.status, final_loss=run.history.loss[-1], epochs=len(run.history))
    else:
        model = dyncore.models.create(spec.model, **spec.hparams)
        model.prepare(data)
        spec.evaluate.setdefault("dt", float(data.t[1] - data.t[0]))
        row.update(status="untrained", final_loss=None, epochs=0)
    row["train_s"] = time.perf_counter() - start
    start = time.perf_counter()
    if not args.cycles_only:
        row["metrics"] = evaluate(model, system, n_tests=args.n_tests, seed=args.eval_seed, **spec.evaluate).to_dict()
    if spec.extra is not None:
        row["extra"] = spec.extra(model.model if isinstance(model, dyncore.Run) else model, system, args.eval_seed)
    if spec.cycles:
        row["cycles"] = cycle_fidelity(model.model if isinstance(model, dyncore.Run) else model, system,
                                       n_tests=args.n_tests, seed=args.eval_seed)
    row["eval_s"] = time.perf_counter() - start
    if args.persistence:
        start = time.perf_counter()
        try:
            row["persistence"] = chaos_persistence(model, system, lyapunov_times=args.persistence, seed=args.eval_seed,
                                                   window_lyapunov_times=min(100.0, args.persistence), progress=False).summary()
        except dyncore.ConfigError as exc:  # e.g. no positive lambda_1 to count Lyapunov times in
            row["persistence_note"] = str(exc)
        row["persistence_s"] = time.perf_counter() - start
    return row


def fmt(value: Any, spec: str = ".3f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def _median(values: list[float]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.median(finite)) if finite else None


def _vpt_cell(results: list[dict[str, Any]], level: str) -> str:
    """Median [25-75 %] of the valid prediction time over every held-out start of every seed, in Lyapunov times when known."""
    per_start, censored = [], 0
    for m in results:
        v = m["vpt"].get(level)
        if v is None:
            continue
        lyap = m["lyapunov"]["true"][0] if m["lyapunov"]["true"] else None
        scale = lyap if lyap else 1.0
        per_start += [t * scale for t in v["per_start"]]
        censored += v["censored"] or 0
    if not per_start:
        return "-"
    q25, q50, q75 = np.percentile(per_start, [25, 50, 75])
    unit = "" if results[0]["lyapunov"]["true"] else " tu"
    return f"{q50:.2f} [{q25:.2f}-{q75:.2f}]{unit}" + (f", {censored} cens." if censored else "")


def _persistence_cell(group: list[dict[str, Any]]) -> str:
    """Median over every start of every seed of how long chaos lasted, and how many stopped onto what."""
    summaries = [r["persistence"] for r in group if "persistence" in r]
    if not summaries:
        return "-"
    pooled = {
        "duration": summaries[0]["duration"],
        "lasts_per_start": [v for s in summaries for v in s["lasts_per_start"]],
        "stopped_per_start": [v for s in summaries for v in s["stopped_per_start"]],
    }
    fates = [f for s in summaries for f in s["fates"] if f != "chaotic"]
    counts = ", ".join(f"{fates.count(f)} {f}" for f in FATES if f in fates)
    per_seed = ", ".join(str(sum(f != "chaotic" for f in s["fates"])) for s in summaries)
    return (f"{format_lasts(pooled)} ({len(fates)}/{len(pooled['lasts_per_start'])} stopped{': ' + counts if counts else ''}; "
            f"per seed {per_seed})")


def markdown(rows: list[dict[str, Any]], command: str, args: argparse.Namespace) -> str:
    persistence = bool(getattr(args, "persistence", None))
    lines = [
        f"Command: `{command}` (training seeds {' '.join(map(str, args.seeds))}, held-out seed {args.eval_seed}, "
        f"{args.n_tests} held-out starts), measured {time.strftime('%Y-%m-%d')} on "
        f"{platform.machine()} CPU, torch {torch.__version__}, {torch.get_num_threads()} thread(s).",
        "",
        "| system | model | seeds | train (s) | final loss | VPT 0.5 (Lyap. times) | VPT 0.05 | lambda_1 learned | lambda_1 true "
        "| K model / truth | hist TV | sliced W | spectrum |" + (" chaos lasts (Lyap. times) |" if persistence else ""),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if persistence else ""),
    ]
    notes = []
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["system"], row["model"]), []).append(row)
    for (system, label), group in groups.items():
        done = [r for r in group if "metrics" in r]
        train_s = _median([r["train_s"] for r in group])
        head = f"| {system} | {label} | {len(group)} | {fmt(train_s, '.0f')} |"
        failed = [r["status"] for r in group if "metrics" not in r]
        if not done:
            lines.append(head + f" {', '.join(failed)} | - | - | - | - | - | - | - | - |" + (" - |" if persistence else ""))
            continue
        results = [r["metrics"] for r in done]
        loss = _median([r["final_loss"] for r in done])
        learned = _median([m["lyapunov"]["learned"][0] if m["lyapunov"]["learned"] else None for m in results])
        ly = results[0]["lyapunov"]
        true = fmt(ly["true"][0]) if ly["true"] else "-"
        if ly.get("true_source") == "computed":
            true += " (c)"
        k_model = _median([m["zero_one"]["model"] for m in results])
        floor = results[0].get("noise_floor") or {}

        def distance(key: str, spec: str, results=results, floor=floor) -> str:
            value = _median([m["distances"][key] for m in results])
            return fmt(value, spec) + (f" ({fmt(floor[key], spec)})" if key in floor else "")

        lines.append(
            head + f" {fmt(loss, '.1e')} | {_vpt_cell(results, '0.5')} | {_vpt_cell(results, '0.05')} | {fmt(learned)} | {true} | "
            f"{fmt(k_model, '.2f')} / {fmt(results[0]['zero_one']['truth'], '.2f')} | {distance('histogram', '.2f')} | "
            f"{distance('sliced_wasserstein', '.3g')} | {distance('power_spectrum', '.2f')} |"
            + (f" {_persistence_cell(done)} |" if persistence else "")
        )
        notes += sorted({f"- {system} / {label}: chaos persistence: {r['persistence_note']}" for r in done if "persistence_note" in r})
        if failed:
            notes.append(f"- {system} / {label}: {len(failed)} of {len(group)} seeds {', '.join(sorted(set(failed)))}")
        extras = [r["extra"] for r in done if "extra" in r]
        if extras:
            notes.append(f"- {system} / {label}: " + ", ".join(
                f"{key} {_median([e[key] for e in extras]) * 100:.1f} %" if _median([e[key] for e in extras]) is not None
                else f"{key} - (blew up)" for key in extras[0]
            ) + " (median over seeds)")
        notes += sorted({f"- {system} / {label}: {note}" for m in results for note in m["notes"]})
    lines += [
        "",
        "VPT: median over every held-out start of every training seed, [25-75 %] in brackets, in Lyapunov "
        "times where lambda_1 is known (\"tu\": time units); \"cens.\" counts held-out starts whose error never "
        "crossed the threshold within the horizon. Other columns: median over seeds. \"(c)\": lambda_1 computed "
        "from the system's own vector field (no published value). Distances: model long free runs against the "
        "truth's from the same starts; in brackets the noise floor, the same distance between the two halves "
        "of the truth's own long runs (finite samples keep even the truth above 0)."
        + (f" Chaos lasts: free runs of {args.persistence:g} Lyapunov times from 8 starts per seed, K per window of "
           f"{min(100.0, args.persistence):g}; median over every start of every seed of the time until K stays below 0.8 "
           "(\">T\": the median start never stopped), and how many stopped, onto what (docs/chaos-and-metrics.md)."
           if persistence else ""),
    ]
    lines += _cycle_lines(rows)
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines)


def _cycle_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The limit-cycle table of the rows that ran :func:`dyncore.cycles.cycle_fidelity`: medians and max over seeds and starts."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        if "cycles" in row:
            groups.setdefault((row["system"], row["model"]), []).append(row)
    if not groups:
        return []
    lines = ["", "Limit cycles (the held-out seed of --eval-seed, --n-tests starts of each kind; settled: starts on the true cycle, as evaluate draws them; random: "
             "raw random starts in the training box). Period and amplitude errors |model / truth - 1|: median [max] over "
             "every start on a cycle of every seed.", "",
             "| system | model | seeds | true period | starts on a cycle (settled / random) | other outcomes | period error "
             "| amplitude error | train (s) |", "|---|---|---|---|---|---|---|---|---|"]
    for (system, label), group in groups.items():
        cells, errors, others = [], {"period_error": [], "amplitude_error": []}, []
        for kind in ("settled", "random"):
            statuses = [s for r in group for s in r["cycles"][kind]["statuses"]]
            cells.append(f"{statuses.count('cycle')}/{len(statuses)}")
            others += [s for s in statuses if s != "cycle"]
            for r in group:
                periods, truth = r["cycles"][kind].get("periods") or [], r["cycles"].get("true_period")
                errors["period_error"] += [abs(p / truth - 1) for p in periods if p and truth]
        amp = [r["cycles"][kind]["amplitude_error"] for r in group for kind in ("settled", "random")]
        amp_cell = (f"{100 * float(np.median([a['median'] for a in amp if a])):.3f} % "
                    f"[{100 * max(a['max'] for a in amp if a):.3f} %]") if any(amp) else "-"
        per = errors["period_error"]
        per_cell = f"{100 * float(np.median(per)):.3f} % [{100 * max(per):.3f} %]" if per else "-"
        other = ", ".join(f"{others.count(s)} {s}" for s in sorted(set(others))) or "none"
        true_period = group[0]["cycles"].get("true_period")
        lines.append(f"| {system} | {label} | {len(group)} | {fmt(true_period, '.1f')} | {' / '.join(cells)} | {other} | "
                     f"{per_cell} | {amp_cell} | {fmt(_median([r['train_s'] for r in group]), '.0f')} |")
    return lines


def write_docs(text: str) -> None:
    doc = DOCS.read_text()
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in doc and END in doc:
        doc = doc[: doc.index(BEGIN)] + block + doc[doc.index(END) + len(END) :]
    else:
        doc = doc.rstrip("\n") + "\n\n## Fidelity table\n\n" + block + "\n"
    DOCS.write_text(doc)


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` (default: the command line), train and evaluate the selected rows, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    systems = sorted({r.system for r in ROWS})
    parser.add_argument("--systems", nargs="+", default=systems, choices=systems)
    parser.add_argument("--models", nargs="+", default=None, help="row labels to run (default: every row)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of every row (default 2000 for rows without a recipe; a recipe's own otherwise)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    parser.add_argument("--eval-seed", type=int, default=1, help="seed of the held-out starts")
    parser.add_argument("--n-tests", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write every number here")
    parser.add_argument("--write-docs", action="store_true", help="replace the table in docs/benchmarks.md")
    parser.add_argument("--persistence", type=float, default=None, metavar="LT",
                        help="also run each trained model for LT Lyapunov times and report how long it stays chaotic")
    parser.add_argument("--runs", type=Path, default=None, help="also save every trained run here, as SYSTEM/LABEL/seedK")
    parser.add_argument("--cycles-only", action="store_true",
                        help="skip dyncore.evaluate: train and run only the limit-cycle check of the rows that have one")
    args = parser.parse_args(argv)
    args.epochs_override = args.epochs is not None
    args.epochs = 2000 if args.epochs is None else args.epochs
    torch.set_num_threads(args.threads)
    command = "python benchmarks/fidelity.py " + " ".join(sys.argv[1:] if argv is None else argv)
    rows = []
    for spec in ROWS:
        if spec.system not in args.systems or (args.models and spec.label not in args.models):
            continue
        if args.cycles_only and not spec.cycles:
            continue
        for seed in args.seeds if spec.trained else args.seeds[:1]:  # an untrained model is the same for every seed
            row = train_and_evaluate(spec, seed, args)
            rows.append(row)
            print(f"{spec.key} seed {seed}: {row['status']}, train {row['train_s']:.0f} s, "
                  f"evaluate {row.get('eval_s', 0.0):.0f} s", file=sys.stderr, flush=True)
            if args.json:
                args.json.write_text(json.dumps(rows, indent=2, default=float))
    text = "\n".join(_cycle_lines(rows)).strip() if args.cycles_only else markdown(rows, command.strip(), args)
    print(text)
    if args.write_docs:
        write_docs(text)


if __name__ == "__main__":
    main()
