"""Step: stiffness, Van der Pol for growing mu, explicit RK45 against implicit Radau."""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

import dyncore
from dyncore.errors import SolverError, StiffnessWarning
from dyncore.report import Section, Table
from dyncore.system import System
from dyncore_demo.base import Demo, simulate_cached


def counting(system: System) -> System:
    """A copy of ``system`` that counts its vector-field and Jacobian evaluations (``evaluations``, ``jacobians``).

    A subclass of the system's class, so every fact it declares (stiffness, solver, ...) stays as
    it is and ``dyncore.simulate`` integrates it as it would the system itself.
    """

    class Counting(type(system)):  # type: ignore[misc, valid-type]
        def vector_field(self, t: Any, x: Any) -> Any:
            self.evaluations += 1
            return super().vector_field(t, x)

        def numpy_vector_field(self, t: float, x: np.ndarray) -> np.ndarray:
            self.evaluations += 1
            return super().numpy_vector_field(t, x)

        def jacobian(self, t: Any, x: Any) -> Any:
            self.jacobians += 1
            return super().jacobian(t, x)

    counted = Counting(**system.params)
    counted.evaluations = counted.jacobians = 0
    return counted


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
                field_ = counting(system)
                start = time.perf_counter()
                try:
                    with warnings.catch_warnings():  # the explicit solver on the stiff system is the point of the step
                        warnings.simplefilter("ignore", StiffnessWarning)
                        dyncore.simulate(field_, t=times, solver=solver, transient=0.0, progress=False)
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


