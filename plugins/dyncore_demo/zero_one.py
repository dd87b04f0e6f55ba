"""Step: the 0-1 test for chaos on Lorenz x versus the Van der Pol limit cycle, with p-q plots."""

from __future__ import annotations

from typing import Any

import dyncore
from dyncore.report import Section, Table
from dyncore_demo.base import Demo, simulate_cached


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


