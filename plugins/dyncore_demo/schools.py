"""Step: the two schools (RNN and Neural ODE) trained on the spiral and on Lorenz."""

from __future__ import annotations

from typing import Any

import numpy as np

import dyncore
from dyncore.report import Section, Table
from dyncore_demo.base import Demo, epochs, simulate_cached, snapshot_every, train_cached

#: The reference recipes: NODE width 128 for the spiral, 256 for Lorenz; the RNN of the article. The NODE's
#: free runs use RK4 on the data grid (the integrator it was trained with), which is cheap and accurate there.
RECIPES = {
    "spiral": {"node": {"hidden": 128, "rollout_solver": "rk4"}, "rnn": {}},
    "lorenz": {"node": {"hidden": 256, "rollout_solver": "rk4"}, "rnn": {}},
}
MODEL_LABELS = {"rnn": "RNN (learns the trajectory)", "node": "Neural ODE (learns the vector field)"}
#: The documented recipe (docs/recipes.md) a model trains with in the full demo; the quick demo keeps the article's.
FULL_DEMO_RECIPES = {("lorenz", "node"): "chaotic"}


def recipe_of(demo: Demo, system: str, model: str) -> str | None:
    """The recipe ``model`` trains with on ``system`` in this demo (None: the article's setup, RECIPES)."""
    return None if demo.quick else FULL_DEMO_RECIPES.get((system, model))


def train_school(demo: Demo, system: str, model: str, data: Any) -> dyncore.Run:
    """Train (or reuse) ``model`` on ``system``'s data as the demo does: by its documented recipe, else the article's."""
    recipe = recipe_of(demo, system, model)
    hparams = {"rollout_solver": RECIPES[system][model]["rollout_solver"]} if recipe else RECIPES[system][model]
    return train_cached(demo, f"{system}_{model}", model, data, hparams, recipe=recipe)


def train_command(demo: Demo, system: str, model: str) -> str:
    """The CLI line that trains what :func:`train_school` trains."""
    recipe = recipe_of(demo, system, model)
    head = f"dyncore train {model} {system}.npz -o runs/{system}_{model} --option snapshot_every={snapshot_every(demo)}"
    if recipe:
        return head + f" --recipe {recipe} --hparam rollout_solver={RECIPES[system][model]['rollout_solver']}"
    return head + f" --epochs {epochs(demo)}" + "".join(f" --hparam {k}={v}" for k, v in RECIPES[system][model].items())


def schools_step(demo: Demo, system: str) -> Section:
    """Train the RNN and the NODE on the reference data of ``system``; snapshots, predictions, learned field."""
    from dyncore import plotting

    def compute() -> dict[str, Any]:
        data = simulate_cached(demo, system, system, seed=demo.seed)
        figures = [(demo.figure(plotting.trajectory(data, title=f"{system}: the reference data"), f"{system}_data"),
                    f"The {system} data: {data.n} points on t in [{data.t[0]:g}, {data.t[-1]:g}], coloured by time")]
        runs, summary = {}, {}
        for model in RECIPES[system]:
            run = train_school(demo, system, model, data)
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
            + ("" if demo.quick or system not in {s for s, _ in FULL_DEMO_RECIPES} else
               " The Lorenz NODE trains with the documented recipe for chaotic ODEs (--recipe chaotic: a smooth 2 x 128 GELU "
               "network, 4000 epochs; docs/recipes.md); the quick demo keeps the article's setup.")
        ),
        tables=[Table(["model", "epochs", "final training loss", "free-rollout MSE on the data", "training seconds"], rows)],
        figures=[tuple(f) for f in results["figures"]],
        commands=[
            f"dyncore simulate {system} -o {system}.npz",
            *[train_command(demo, system, m) for m in RECIPES[system]],
            f"dyncore plot runs/{system}_node --kind snapshots -o {system}_node_snapshots.png",
        ],
    )


