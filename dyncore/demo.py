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
from dyncore.io import atomic_write
from dyncore.report import Section, Table
from dyncore.trajectory import Trajectory

#: Bumped whenever a step's recipe changes, so that stale caches are recomputed.
CACHE_VERSION = 1


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
