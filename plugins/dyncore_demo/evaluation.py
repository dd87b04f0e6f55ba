"""Step: the same metrics for the four trained models of the schools steps."""

from __future__ import annotations

from typing import Any

import dyncore
from dyncore.report import Section, Table
from dyncore_demo.base import Demo
from dyncore_demo.schools import MODEL_LABELS, RECIPES


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
                results[f"{system}_{model}"] = dyncore.evaluate(dyncore.Run.load(path, device=demo.device), system, seed=demo.seed + 1, **kwargs).to_dict()
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


