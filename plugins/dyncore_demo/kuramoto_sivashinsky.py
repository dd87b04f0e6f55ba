"""Step: Kuramoto–Sivashinsky simulated with ETDRK4, a small NODE trained on it, its prediction error."""

from __future__ import annotations

from typing import Any

import numpy as np

import dyncore
from dyncore.report import Section, Table
from dyncore_demo.base import Demo, simulate_cached, train_cached

KS_RECIPE = {"hidden": 256, "rollout_solver": "rk4"}


def kuramoto_sivashinsky_step(demo: Demo) -> Section:
    """KS (L = 22, N = 64) simulated with ETDRK4, a small NODE trained on it, and its prediction error."""

    def compute() -> dict[str, Any]:
        import torch

        from dyncore import plotting
        from dyncore.metrics import nrmse, valid_prediction_time

        system = dyncore.systems.create("kuramoto_sivashinsky")
        n_train, n_test = (200, 200) if demo.quick else (1000, 400)
        grid = system.default_times()
        dt = float(grid[1] - grid[0])
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


