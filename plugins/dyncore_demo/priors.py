"""Step: learning with a prior on Lorenz: a wrong known model alone, the black-box NODE and the hybrid, side by side.

The known model is Lorenz with rho 10 % low (25.2 instead of 28), as in benchmarks/priors.py and
docs/learning-with-priors.md. The NODE is the Lorenz step's (the same run, reused when that step
ran); the hybrid has the same network and training, and starts from the known model.
"""

from __future__ import annotations

from typing import Any

import dyncore
from dyncore.report import Section, Table
from dyncore_demo.base import Demo, epochs, simulate_cached, snapshot_every, train_cached
from dyncore_demo.schools import RECIPES, train_command, train_school

#: The known, wrong model: Lorenz at rho 25.2 (the truth: 28).
KNOWN = {"known": "lorenz", "known_params": {"rho": 25.2}}
#: The hybrid: the Lorenz NODE's network and integrator, plus the known model (mixing coupling).
HYBRID = {**RECIPES["lorenz"]["node"], **KNOWN}
LABELS = {
    "known": "known model alone (rho 25.2, untrained)",
    "node": "Neural ODE (black box)",
    "hybrid": "hybrid: known model + Neural ODE",
}


def priors_step(demo: Demo) -> Section:
    """Evaluate the known model alone, the Lorenz NODE and the hybrid trained on the same data, with the same metrics."""

    def compute() -> dict[str, Any]:
        data = simulate_cached(demo, "lorenz", "lorenz", seed=demo.seed)
        known = dyncore.models.create("hybrid", **HYBRID)  # untrained: its learned part starts at zero
        known.prepare(data)
        node = train_school(demo, "lorenz", "node", data)
        hybrid = train_cached(demo, "lorenz_hybrid", "hybrid", data, HYBRID)
        step = float(data.t[1] - data.t[0])
        subjects = {"known": (known, 0.0, 0), "node": (node, node.history.wall_time[-1], len(node.history)),
                    "hybrid": (hybrid, hybrid.history.wall_time[-1], len(hybrid.history))}
        kwargs = {"n_tests": 3, "lyapunov_steps": 200, "long_time": 30.0} if demo.quick else {"n_tests": 20}
        rows = {}
        for name, (subject, seconds, done) in subjects.items():
            result = demo.metrics.get("evaluation", {}).get("lorenz_node") if name == "node" else None
            if result is None:  # the evaluation step, when it ran, measured the same NODE the same way
                demo.log(f"  evaluating the {LABELS[name]}")
                result = dyncore.evaluate(subject, "lorenz", seed=demo.seed + 1, dt=step, **kwargs).to_dict()
            vpt = result["vpt"]["0.5"]
            rows[name] = {
                "vpt": vpt["mean"], "vpt_lyapunov_times": vpt.get("lyapunov_times"),
                "lambda_1": (result["lyapunov"].get("learned") or [None])[0],
                "lambda_1_true": (result["lyapunov"].get("true") or [None])[0],
                "zero_one_k": result["zero_one"].get("model"), "epochs": done, "train_seconds": seconds,
            }
        return {"rows": rows, "n_tests": kwargs["n_tests"]}

    results = demo.cached("priors", compute)
    demo.metrics["priors"] = results["rows"]
    rows = [[LABELS[name], r["epochs"], r["vpt"], r["vpt_lyapunov_times"], r["lambda_1"], r["lambda_1_true"], r["zero_one_k"],
             r["train_seconds"]] for name, r in results["rows"].items()]
    known_params = ",".join(f"{k}={v}" for k, v in KNOWN["known_params"].items())
    hparams = "".join(f" --hparam {k}={v}" for k, v in RECIPES["lorenz"]["node"].items())
    return Section(
        "Learning with a prior: a wrong known model, the black box and the hybrid",
        text=(
            "What is already known can go into the vector field: the hybrid (a knowledge-based Neural ODE) learns "
            "f = A f_k + B g, where f_k is a known model, here Lorenz with rho 10 % low (25.2 instead of 28), and "
            "g a network that starts at zero, so the untrained hybrid is the known model. The black-box Neural ODE "
            "learns all of f from the same data. All three are evaluated with the same metrics on the same "
            f"{results['n_tests']} held-out starts (VPT at normalised error 0.5). "
            + ("In this quick run both networks train for a few epochs only, so the numbers show the pipeline, not "
               "the result; " if demo.quick else "")
            + "benchmarks/priors.py repeats this over seeds (docs/learning-with-priors.md has the table)."
        ),
        tables=[Table(["model", "epochs", "VPT", "VPT (Lyapunov times)", "λ1 learned", "λ1 true", "K model", "training seconds"], rows)],
        commands=[
            "dyncore simulate lorenz -o lorenz.npz",
            train_command(demo, "lorenz", "node"),
            f"dyncore train hybrid lorenz.npz -o runs/lorenz_hybrid --epochs {epochs(demo)} --option snapshot_every={snapshot_every(demo)}"
            + hparams + f" --hparam known=lorenz --hparam known_params={known_params}",
            "dyncore evaluate runs/lorenz_hybrid --system lorenz -o lorenz_hybrid_metrics.json",
        ],
    )
