"""The demo: the reference study end to end, as a report (``dyncore demo``).

Each step is a public function taking a :class:`Demo` and returning a report
:class:`~dyncore.report.Section`; :func:`run_demo` runs them in order. A step's results are cached in
``REPORT_DIR/steps/<step>.json`` (data and runs in ``data/`` and ``runs/``), so a re-run reuses what
is done; a step that fails is reported by name and the others still run.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import dyncore
from dyncore.errors import DyncoreError, SolverError
from dyncore.io import atomic_write, check_output
from dyncore.report import Section, Table, write_report
from dyncore.threads import ThreadChoice, threads_for
from dyncore.trajectory import Trajectory

#: Bumped whenever a step's recipe changes, so that stale caches are recomputed.
CACHE_VERSION = 2


@dataclass
class Demo:
    """Where the demo writes, how big it runs, and what the steps have produced so far.

    Args:
        out: the report folder.
        quick: tiny epochs and short series (about a minute on a laptop CPU).
        device: torch device for training ("cpu" or "cuda").
        seed: seeds data, training and evaluation.
        log: progress sink (one line per message).
    """

    out: Path
    quick: bool = False
    device: str = "cpu"
    seed: int = 0
    log: Callable[[str], None] = field(default=lambda message: print(message, file=sys.stderr, flush=True))
    metrics: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.out = Path(self.out)

    @property
    def flag(self) -> str:
        """The CLI flags that reproduce this configuration."""
        return " --quick" * self.quick + (f" --device {self.device}" if self.device != "cpu" else "") + (
            f" --seed {self.seed}" if self.seed else ""
        )

    def path(self, *parts: str) -> Path:
        path = self.out.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def figure(self, fig: Any, name: str) -> str:
        """Save ``fig`` as ``figures/name.png``; returns the path relative to the report."""
        from dyncore import plotting

        plotting.save(fig, self.path("figures", f"{name}.png"))
        return f"figures/{name}.png"

    def cached(self, step: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The JSON results of ``step``: from its cache file when it matches this configuration, else computed."""
        key = {"version": CACHE_VERSION, "quick": self.quick, "seed": self.seed, "device": self.device}
        path = self.path("steps", f"{step}.json")
        if path.exists():
            try:
                stored = json.loads(path.read_text())
                if stored.get("key") == key and all((self.out / f).exists() for f in stored.get("files", [])):
                    self.log(f"  {step}: cached")
                    return stored["results"]
            except (OSError, json.JSONDecodeError):
                pass  # a damaged cache is recomputed
        results = compute()
        files = [f for f, _ in results.get("figures", [])]
        with atomic_write(path, "w") as f:
            json.dump({"key": key, "files": files, "results": results}, f, indent=1, default=float)
        return results


def simulate_cached(demo: Demo, name: str, system: str, **kwargs: Any) -> Trajectory:
    """Simulate ``system`` once into ``data/name.npz``; later runs load the file."""
    path = demo.path("data", f"{name}.npz")
    if path.exists():
        try:
            return Trajectory.load(path)
        except DyncoreError:
            demo.log(f"  data/{name}.npz is unreadable; simulating it again")
    trajectory = dyncore.simulate(system, **kwargs)
    trajectory.save(path)
    return trajectory


# -- step 3: the 0-1 test on Lorenz versus a limit cycle -----------------------------------------
def zero_one_step(demo: Demo) -> Section:
    """The 0-1 test on Lorenz x (chaotic) and on the Van der Pol limit cycle (regular), with p-q plots."""

    def compute() -> dict[str, Any]:
        import torch

        from dyncore import plotting

        n = 2000 if demo.quick else 5000
        times = torch.arange(n, dtype=torch.float64) * 0.1
        lorenz = simulate_cached(demo, "zero_one_lorenz", "lorenz", t=times, transient=20.0, seed=demo.seed)
        cycle = simulate_cached(demo, "zero_one_van_der_pol", dyncore.systems.create("van_der_pol", mu=1.0),
                                t=times, transient=50.0, seed=demo.seed)
        test = dyncore.chaos_tests.create("zero_one", subsample="auto", seed=demo.seed)
        results = {"Lorenz x (chaotic)": test.run(lorenz.x[:, 0]), "Van der Pol x, mu = 1 (limit cycle)": test.run(cycle.x[:, 0])}
        figure = demo.figure(plotting.zero_one_test(results), "zero_one_lorenz_vs_limit_cycle")
        return {
            "K": {label: float(r.statistic) for label, r in results.items()},
            "verdict": {label: r.verdict for label, r in results.items()},
            "n": n,
            "figures": [(figure, "0-1 test: the p-q path of Lorenz x diffuses (K ≈ 1); the limit cycle's stays bounded (K ≈ 0)")],
        }

    results = demo.cached("zero_one", compute)
    demo.metrics["zero_one"] = {"K": results["K"], "verdict": results["verdict"]}
    rows = [[label, k, results["verdict"][label]] for label, k in results["K"].items()]
    return Section(
        "The 0-1 test for chaos: Lorenz versus a limit cycle",
        text=(
            f"Gottwald and Melbourne's 0-1 test turns a scalar series (here {results['n']} samples every 0.1 time "
            "units) into a planar path (p, q). For chaotic dynamics the path wanders like a random walk and its mean "
            "square displacement grows linearly (K ≈ 1); for regular dynamics it stays bounded (K ≈ 0). Samples "
            "taken too densely make a chaotic flow look regular, so the series is subsampled automatically."
        ),
        tables=[Table(["series", "K", "verdict"], rows)],
        figures=[tuple(f) for f in results["figures"]],
        commands=[
            "dyncore simulate lorenz --t-end 500 --dt 0.1 --transient 20 -o lorenz_tau01.npz",
            "dyncore chaos-test lorenz_tau01.npz --test zero_one --subsample auto --plot pq.png",
        ],
    )


# -- step 4: stiffness -------------------------------------------------------------------------------
class CountingField:
    """Wraps a system so that a solver's vector-field and Jacobian evaluations are counted."""

    def __init__(self, system: Any) -> None:
        self.system = system
        self.stiff = system.stiff
        self.evaluations = 0
        self.jacobians = 0

    def __call__(self, t: Any, x: Any) -> Any:
        self.evaluations += 1
        return self.system.vector_field(t, x)

    def numpy_vector_field(self, t: float, x: np.ndarray) -> np.ndarray:
        self.evaluations += 1
        return self.system.numpy_vector_field(t, x)

    def jacobian(self, t: Any, x: Any) -> Any:
        self.jacobians += 1
        return self.system.jacobian(t, x)


def stiffness_step(demo: Demo) -> Section:
    """Van der Pol for growing mu: the explicit solver's step count explodes, the implicit one's does not."""

    def compute() -> dict[str, Any]:
        from dyncore import plotting

        mus = [1.0, 10.0, 100.0] if demo.quick else [1.0, 10.0, 100.0, 1000.0]
        budget = 20_000 if demo.quick else 200_000
        rows = []
        for mu in mus:
            system = dyncore.systems.create("van_der_pol", mu=mu)
            times = system.default_times()
            for solver_name in ("rk45", "radau"):
                solver = dyncore.solvers.create(solver_name, rtol=1e-6, atol=1e-9, max_steps=budget)
                field_ = CountingField(system)
                start = time.perf_counter()
                try:
                    solver.solve(field_, system.default_x0(), times)
                    reached, outcome = float(times[-1]), "finished"
                except SolverError as exc:
                    reached, outcome = float("nan"), f"gave up: {str(exc).split(';')[0]}"
                rows.append({
                    "mu": mu, "solver": solver_name, "span": float(times[-1]), "evaluations": field_.evaluations,
                    "jacobians": field_.jacobians, "seconds": time.perf_counter() - start, "outcome": outcome, "reached": reached,
                })
                demo.log(f"  van_der_pol mu={mu:g} {solver_name}: {field_.evaluations} evaluations, {outcome}")
        stiff = dyncore.systems.create("van_der_pol", mu=mus[-1])
        trajectory = simulate_cached(demo, f"van_der_pol_mu{int(mus[-1])}", stiff)
        figures = [
            (demo.figure(_evaluations_figure(rows), "stiffness_evaluations"),
             "Vector-field evaluations over three periods: explicit RK45 grows like mu, implicit Radau stays flat"),
            (demo.figure(plotting.trajectory(trajectory, title=f"Van der Pol, mu = {mus[-1]:g} (Radau)", labels=("x", "dx/dt")), "van_der_pol_stiff"),
             "Relaxation oscillations: slow drift, then jumps on a time scale 1/mu: the source of stiffness"),
        ]
        return {"rows": rows, "budget": budget, "figures": figures}

    results = demo.cached("stiffness", compute)
    demo.metrics["stiffness"] = {f"mu={r['mu']:g}/{r['solver']}": r["evaluations"] for r in results["rows"]}
    return Section(
        "Stiffness: Van der Pol with a large mu",
        text=(
            "For large mu the Van der Pol oscillator alternates slow drifts with fast jumps. An explicit solver's step "
            "is limited by stability on the fast time scale even where the solution is smooth, so its cost grows "
            "with mu; an implicit solver (Radau, using the analytic Jacobian) takes steps sized by accuracy alone. "
            f"Each solver had a budget of {results['budget']:,} steps."
        ),
        tables=[Table(["mu", "solver", "span", "f evaluations", "Jacobians", "seconds", "outcome"],
                      [[r["mu"], r["solver"], r["span"], r["evaluations"], r["jacobians"], r["seconds"], r["outcome"]]
                       for r in results["rows"]])],
        figures=[tuple(f) for f in results["figures"]],
        commands=["dyncore simulate van_der_pol --param mu=1000 --solver radau -o vdp1000.npz",
                  "dyncore simulate van_der_pol --param mu=1000 --solver rk45 -o vdp1000_rk45.npz   # fails: say so, suggests radau"],
    )


def _evaluations_figure(rows: list[dict[str, Any]]) -> Any:
    from dyncore.plotting import MODEL_COLORS, _figure

    fig = _figure(6.5, 4)
    ax = fig.add_subplot(1, 1, 1)
    for i, solver in enumerate(("rk45", "radau")):
        mine = [r for r in rows if r["solver"] == solver]
        done = [r for r in mine if r["outcome"] == "finished"]
        ax.loglog([r["mu"] for r in done], [r["evaluations"] for r in done], "o-", color=MODEL_COLORS[i], label=solver)
        failed = [r for r in mine if r["outcome"] != "finished"]
        if failed:
            ax.loglog([r["mu"] for r in failed], [r["evaluations"] for r in failed], "x", ms=10, color=MODEL_COLORS[i],
                      label=f"{solver}: step budget exhausted")
    ax.set_xlabel("mu")
    ax.set_ylabel("vector-field evaluations (three periods)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title("Explicit versus implicit on stiff Van der Pol")
    return fig


# -- step 1: the two schools on the spiral and on Lorenz -----------------------------------------
#: The reference recipes: NODE width 128 for the spiral, 256 for Lorenz; the RNN of the article. The NODE's
#: free runs use RK4 on the data grid (the integrator it was trained with), which is cheap and accurate there.
RECIPES = {
    "spiral": {"node": {"hidden": 128, "rollout_solver": "rk4"}, "rnn": {}},
    "lorenz": {"node": {"hidden": 256, "rollout_solver": "rk4"}, "rnn": {}},
}
MODEL_LABELS = {"rnn": "RNN (learns the trajectory)", "node": "Neural ODE (learns the vector field)"}


def epochs(demo: Demo) -> int:
    return 60 if demo.quick else 2000


def snapshot_every(demo: Demo) -> int:
    """Eight snapshots per run in the quick demo, one every 20 epochs (as in the article) in the full one."""
    return epochs(demo) // 8 if demo.quick else 20


def train_cached(demo: Demo, name: str, model: str, data: Trajectory, hparams: dict[str, Any], **options: Any) -> dyncore.Run:
    """Train into ``runs/name`` unless a complete run with the same recipe and data is already there."""
    out = demo.path("runs", name)
    options = {"epochs": epochs(demo), "seed": demo.seed, "device": demo.device, **options}
    if (out / "config.json").exists():
        try:
            run = dyncore.Run.load(out, device=demo.device)
            same_recipe = all(run.config["trainer"]["options"].get(k) == v for k, v in options.items())
            if run.status == "complete" and same_recipe and run.config["data"]["hash"] == data.content_hash():
                demo.log(f"  {name}: reusing the trained run in {out}")
                return run
        except DyncoreError as exc:
            demo.log(f"  {name}: cannot reuse {out} ({exc}); training again")
    demo.log(f"  {name}: training {model} for {options['epochs']} epochs")
    return dyncore.train(model, data, hparams=hparams, out=out, force=True, snapshot_every=snapshot_every(demo), **options)


def schools_step(demo: Demo, system: str) -> Section:
    """Train the RNN and the NODE on the reference data of ``system``; snapshots, predictions, learned field."""
    from dyncore import plotting

    def compute() -> dict[str, Any]:
        data = simulate_cached(demo, system, system, seed=demo.seed)
        figures = [(demo.figure(plotting.trajectory(data, title=f"{system}: the reference data"), f"{system}_data"),
                    f"The {system} data: {data.n} points on t in [{data.t[0]:g}, {data.t[-1]:g}], coloured by time")]
        runs, summary = {}, {}
        for model, hparams in RECIPES[system].items():
            run = train_cached(demo, f"{system}_{model}", model, data, hparams)
            runs[model] = run
            prediction = run.predict()
            mse = float(np.mean((prediction.x - data.x) ** 2))
            summary[model] = {"final_loss": run.history.loss[-1], "rollout_mse": mse,
                              "seconds": run.history.wall_time[-1], "epochs": len(run.history)}
            epochs_ = sorted(run.history.snapshots)
            if epochs_:
                states = np.stack([run.history.snapshots[e] for e in epochs_])
                figures.append((demo.figure(plotting.training_snapshots(epochs_, run.snapshot_t, states, data,
                                                                        title=f"{system}, {MODEL_LABELS[model]}: free rollout during training (grey: data)"),
                                            f"{system}_{model}_snapshots"),
                                f"{MODEL_LABELS[model]} on {system}: the free rollout from the first state as training proceeds"))
            figures.append((demo.figure(plotting.prediction_vs_data(data, prediction, title=f"{system}, {MODEL_LABELS[model]}: prediction versus data"),
                                        f"{system}_{model}_prediction"),
                            f"{MODEL_LABELS[model]} on {system}: free prediction (coloured) over the data (grey), MSE {mse:.3g}"))
        figures.append((demo.figure(plotting.loss_curves({MODEL_LABELS[m]: r.history for m, r in runs.items()}, title=f"{system}: training loss"),
                                    f"{system}_loss"), f"Training loss on {system}"))
        if system == "spiral":
            truth = dyncore.systems.create(system)
            bound = 1.1 * float(np.abs(data.x).max())
            fig = plotting.vector_fields({"true field": truth.vector_field, "learned by the NODE": runs["node"].model.vector_field},
                                         (-bound, bound, -bound, bound), data, title="spiral: true versus learned vector field")
            figures.append((demo.figure(fig, "spiral_vector_field"),
                            "The NODE learns the field itself, so it can be drawn (and integrated) anywhere; the RNN has no field to draw"))
        return {"summary": summary, "figures": figures}

    results = demo.cached(f"schools_{system}", compute)
    demo.metrics[f"training_{system}"] = results["summary"]
    rows = [[MODEL_LABELS[m], s["epochs"], s["final_loss"], s["rollout_mse"], s["seconds"]] for m, s in results["summary"].items()]
    return Section(
        f"Two schools on the {system}",
        text=(
            "The RNN is fed a sliding window of past states and predicts the next one: it learns the trajectory as a "
            "time series, an implicit integrator with a fixed step. The Neural ODE learns the vector field "
            "x' = f(x) with an MLP and integrates it with RK4: every point of the data is an initial condition, "
            "integrated one step (lookahead 1) and compared with the next point, all in one full batch. "
            "The snapshots show each model's free rollout from the first state as training proceeds."
        ),
        tables=[Table(["model", "epochs", "final training loss", "free-rollout MSE on the data", "training seconds"], rows)],
        figures=[tuple(f) for f in results["figures"]],
        commands=[
            f"dyncore simulate {system} -o {system}.npz",
            *[f"dyncore train {m} {system}.npz -o runs/{system}_{m} --epochs {epochs(demo)} --option snapshot_every={snapshot_every(demo)}"
              + "".join(f" --hparam {k}={v}" for k, v in RECIPES[system][m].items()) for m in RECIPES[system]],
            f"dyncore plot runs/{system}_node --kind snapshots -o {system}_node_snapshots.png",
        ],
    )


# -- step 2: the same metrics for all four models ---------------------------------------------------
def evaluation_step(demo: Demo) -> Section:
    """Evaluate the four trained models with the same metrics on held-out starts from each attractor."""
    from dyncore import plotting

    def compute() -> dict[str, Any]:
        results: dict[str, Any] = {}
        for system in RECIPES:
            for model in RECIPES[system]:
                path = demo.out / "runs" / f"{system}_{model}"
                demo.log(f"  evaluating {system}_{model}")
                kwargs = {"n_tests": 3, "lyapunov_steps": 200, "long_time": 30.0} if demo.quick else {"n_tests": 20}
                results[f"{system}_{model}"] = dyncore.evaluate(dyncore.Run.load(path, device=demo.device), system, seed=demo.seed + 1, **kwargs)
        spectra = {MODEL_LABELS[m]: results[f"lorenz_{m}"]["lyapunov"]["learned"] for m in RECIPES["lorenz"]
                   if results[f"lorenz_{m}"]["lyapunov"].get("learned")}
        figures = []
        if spectra:
            figure = plotting.lyapunov_spectra(spectra, results["lorenz_node"]["lyapunov"].get("true"),
                                               title="Lorenz: Lyapunov spectrum learned versus true")
            figures.append((demo.figure(figure, "lorenz_lyapunov_spectrum"),
                            "Lyapunov exponents of the learned models (autograd Jacobians of the learned field or step map) versus the true ones"))
        return {"results": results, "figures": figures}

    cached = demo.cached("evaluation", compute)
    results = cached["results"]
    demo.metrics["evaluation"] = results
    rows = []
    for name, r in results.items():
        vpt = r.get("vpt", {}).get("0.5", {})
        lyap = r.get("lyapunov", {})
        learned, true = (lyap.get("learned") or [None])[0], (lyap.get("true") or [None])[0]
        k = r.get("zero_one", {})
        distances, floor = r.get("distances", {}), r.get("noise_floor", {})
        rows.append([name.replace("_", " "), vpt.get("mean"), vpt.get("lyapunov_times"), learned, true,
                     k.get("model"), k.get("truth"), with_floor(distances.get("sliced_wasserstein"), floor.get("sliced_wasserstein")),
                     with_floor(distances.get("power_spectrum"), floor.get("power_spectrum"))])
    notes = [f"{name.replace('_', ' ')}: {note}" for name, r in results.items() for note in r.get("notes", [])]
    return Section(
        "Did they learn the system? The same metrics for all four models",
        text=(
            "Short term: the valid prediction time (VPT), the time until the normalised error of a free prediction "
            "from a held-out start on the attractor first exceeds 0.5, in time units and in Lyapunov times. Long "
            "term: the largest Lyapunov exponent of the learned model, the 0-1 test K on a long free run (K ≈ 1: the "
            "model is chaotic, K ≈ 0: it settled on a fixed point or a cycle), and distances between the invariant "
            "measures and power spectra of long free runs and of the truth. In brackets, each distance's noise floor: "
            "the same distance between two halves of the truth's own long runs. Finite samples keep even the truth "
            "above 0, so a model is as good as the data can tell when it reaches the floor."
            + "".join(f"\n\nNote, {note}" for note in notes)
        ),
        tables=[Table(["run", "VPT", "VPT (Lyapunov times)", "λ1 learned", "λ1 true", "K model", "K truth",
                       "measure distance (noise floor)", "spectrum distance (noise floor)"], rows)],
        figures=[tuple(f) for f in cached["figures"]],
        commands=[f"dyncore evaluate runs/{name} --system {name.split('_')[0]} -o {name}_metrics.json" for name in results],
    )


def with_floor(value: float | None, floor: float | None) -> str | float | None:
    """A distance with its noise floor in brackets, ``"0.1234 (0.0712)"``; the bare value when there is no floor."""
    if value is None or floor is None:
        return value
    return f"{value:.4g} ({floor:.4g})"


# -- step 5: Kuramoto–Sivashinsky ---------------------------------------------------------------------
KS_RECIPE = {"hidden": 256, "rollout_solver": "rk4"}


def kuramoto_sivashinsky_step(demo: Demo) -> Section:
    """KS (L = 22, N = 64) simulated with ETDRK4, a small NODE trained on it, and its prediction error."""

    def compute() -> dict[str, Any]:
        import torch

        from dyncore import plotting
        from dyncore.metrics import nrmse, valid_prediction_time

        system = dyncore.systems.create("kuramoto_sivashinsky")
        n_train, n_test = (200, 200) if demo.quick else (1000, 400)
        dt = system.default_dt
        data = simulate_cached(demo, "kuramoto_sivashinsky", system, t=dt * torch.arange(n_train, dtype=torch.float64),
                               transient=100.0, seed=demo.seed)
        test = simulate_cached(demo, "kuramoto_sivashinsky_test", system, x0=data.x[-1],
                               t=data.t[-1] + dt * torch.arange(n_test, dtype=torch.float64), seed=demo.seed)
        run = train_cached(demo, "kuramoto_sivashinsky_node", "node", data, KS_RECIPE,
                           epochs=30 if demo.quick else 1000)
        prediction = run.predict(data=test)
        sigma = data.x.std(axis=0).mean() * np.ones(data.dim)  # one scale for the whole field
        error = nrmse(prediction.x, test.x, sigma)
        vpt = float(valid_prediction_time(error, test.t)[0])
        lyapunov = system.reference().get("largest_lyapunov_exponent")
        figures = [
            (demo.figure(plotting.space_time(data, title="Kuramoto–Sivashinsky, L = 22: training data"), "ks_data"),
             "The training data: u(x, t) on 64 grid points, ETDRK4 with dt = 0.25, after a transient of 100"),
            (demo.figure(plotting.space_time(test, prediction, title="Kuramoto–Sivashinsky: held-out continuation, NODE prediction, error"),
                         "ks_prediction"),
             f"From the end of the training data on: truth, the NODE's free prediction and the error; VPT {vpt:.1f} time units"),
        ]
        return {
            "vpt": vpt,
            "vpt_lyapunov_times": vpt * lyapunov if lyapunov else None,
            "final_loss": run.history.loss[-1],
            "epochs": len(run.history),
            "figures": figures,
        }

    results = demo.cached("kuramoto_sivashinsky", compute)
    demo.metrics["kuramoto_sivashinsky"] = {k: v for k, v in results.items() if k != "figures"}
    return Section(
        "A chaotic PDE: Kuramoto–Sivashinsky",
        text=(
            "u_t + u u_x + u_xx + u_xxxx = 0 on a periodic domain of length 22 is spatio-temporally chaotic with one "
            "positive Lyapunov exponent (about 0.048). It is stiff (the fourth derivative), so the data come from the "
            "exponential integrator ETDRK4 on a pseudo-spectral grid with real FFTs. A small NODE (an MLP 64-256-64) "
            "is trained on the 64 grid values with lookahead 1 and predicts the held-out continuation from its first "
            "state; the valid prediction time (normalised error 0.5) is honest about how far it gets."
        ),
        tables=[Table(["epochs", "final training loss", "VPT (time)", "VPT (Lyapunov times)"],
                      [[results["epochs"], results["final_loss"], results["vpt"], results["vpt_lyapunov_times"]]])],
        figures=[tuple(f) for f in results["figures"]],
        commands=[
            "dyncore simulate kuramoto_sivashinsky --transient 100 -o ks.npz",
            "dyncore train node ks.npz -o runs/ks_node --hparam hidden=256 --hparam rollout_solver=rk4",
            "dyncore plot ks.npz --kind space-time -o ks.png",
        ],
    )


# -- the whole demo ----------------------------------------------------------------------------------
STEPS: dict[str, Callable[[Demo], Section]] = {
    "spiral": lambda demo: schools_step(demo, "spiral"),
    "lorenz": lambda demo: schools_step(demo, "lorenz"),
    "evaluation": evaluation_step,
    "zero_one": zero_one_step,
    "stiffness": stiffness_step,
    "kuramoto_sivashinsky": kuramoto_sivashinsky_step,
}

INTRO = (
    "Two schools learn dynamics from a trajectory. The RNN learns the trajectory as a time series; the Neural "
    "ODE learns the vector field and integrates it. This report trains both on the same data and asks whether "
    "each learned the system (its vector field, its attractor, its chaos) or only the points. Every step below "
    "lists the commands that reproduce it."
)


def run_demo(out: str | Path = "demo-report", *, quick: bool = False, device: str = "cpu", seed: int = 0,
             steps: list[str] | None = None, log: Callable[[str], None] | None = None,
             threads: int | str | None = None) -> dict[str, Any]:
    """Run the demo steps in order and write ``report.md``, ``report.html`` and ``metrics.json`` into ``out``.

    A failing step is reported in the report and in the returned ``failed`` list, and the others
    still run (a step that needs a failed one fails too, saying why). ``threads``: torch's intra-op
    threads (a count or ``"auto"``; default: chosen per step by its size, see :mod:`dyncore.threads`).

    Returns:
        ``{"report": path to report.html, "metrics": the metrics dict, "failed": {step: message}, "seconds": ...}``.
    """
    demo = Demo(Path(out), quick=quick, device=device, seed=seed, **({"log": log} if log else {}))
    chosen = steps or list(STEPS)
    unknown = [s for s in chosen if s not in STEPS]
    if unknown:
        raise dyncore.UnknownNameError("demo step", unknown[0], STEPS)
    check_output(demo.out, directory=True)
    demo.out.mkdir(parents=True, exist_ok=True)
    with threads_for(None, threads) as choice:
        demo.log(f"threads: {choice.describe()}; each training sizes its own (see its config.json)")
        return _run_steps(demo, chosen, choice)


def _run_steps(demo: Demo, chosen: list[str], choice: ThreadChoice) -> dict[str, Any]:
    """The body of :func:`run_demo`: each step in order, then the report."""
    sections, failed = [], {}
    start = time.perf_counter()
    for i, name in enumerate(chosen, 1):
        demo.log(f"[{i}/{len(chosen)}] {name}")
        step_start = time.perf_counter()
        try:
            sections.append(STEPS[name](demo))
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one step's failure must not lose the others
            message = str(exc) if isinstance(exc, DyncoreError) else f"{type(exc).__name__}: {exc}"
            failed[name] = message
            sections.append(Section(name, error=message))
            demo.log(f"  step {name!r} failed: {message}")
        demo.log(f"  {name} done in {time.perf_counter() - step_start:.1f} s")
    seconds = time.perf_counter() - start
    demo.metrics["demo"] = {"quick": demo.quick, "device": demo.device, "seed": demo.seed, "seconds": seconds, "failed": failed,
                            "threads": choice.as_dict(), "dyncore_version": dyncore.__version__}
    title = "dyncore demo: learning dynamics, trajectory versus vector field" + (" (quick)" if demo.quick else "")
    intro = INTRO + f"\n\nReproduce the whole report with: dyncore demo -o {demo.out}{demo.flag}"
    paths = write_report(demo.out, title, intro, sections, demo.metrics)
    return {"report": paths["html"], "markdown": paths["markdown"], "metrics": demo.metrics, "failed": failed, "seconds": seconds}
