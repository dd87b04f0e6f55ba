"""Learning with priors: the rows of ``benchmarks/fidelity.py`` that compare models with and without known physics.

Lorenz (known model: rho 10 % low): the known model alone, the black-box NODE and the hybrid
(mixing and additive couplings). Kuramoto-Sivashinsky (L = 22, 64 modes): the black-box NODE and
the semilinear model with a learned and with the known linear operator. The rows, data and
protocol are fidelity.py's (held-out starts on the attractor, medians over seeds); this script
only selects them, and with ``--figure`` draws the KS space-time figure of docs/learning-with-priors.md
from runs saved by ``--runs``. Usage:

    python benchmarks/priors.py [--systems lorenz kuramoto_sivashinsky] [--seeds 0 1 2] [--runs DIR] [fidelity options]
    python benchmarks/priors.py --figure DIR        # docs/figures/ks-semilinear.png from DIR/kuramoto_sivashinsky/*/seed0
"""

from __future__ import annotations

import sys
from pathlib import Path

import fidelity
import numpy as np

LABELS = {
    "lorenz": ["known-rho25.2", "node", "hybrid-mixing", "hybrid-additive"],
    "kuramoto_sivashinsky": ["node", "semilinear-learned", "semilinear-known"],
}
FIGURE = Path(__file__).resolve().parents[1] / "docs" / "figures" / "ks-semilinear.png"
#: The space-time figure: seed-0 runs from one held-out start, over this many time units.
FIGURE_TIME = 150.0


def figure(runs: Path) -> Path:
    """Truth, prediction and error of each KS model saved under ``runs`` (seed 0), from one held-out start."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    import dyncore

    system = dyncore.systems.create("kuramoto_sivashinsky")
    t = np.arange(int(FIGURE_TIME / 0.25) + 1) * 0.25
    truth = system.simulate(None, t, batch=1, seed=1, transient=400.0).x[:, 0]
    labels = [label for label in LABELS["kuramoto_sivashinsky"] if (runs / "kuramoto_sivashinsky" / label / "seed0").is_dir()]
    fig, axes = plt.subplots(1 + 2 * len(labels), 1, figsize=(9, 1.3 * (1 + 2 * len(labels))), sharex=True, constrained_layout=True)
    vmax = float(np.abs(truth).max())
    extent = (t[0] * 0.048, t[-1] * 0.048, 0.0, 22.0)

    def show(ax, field, name):
        ax.imshow(np.ma.masked_invalid(field.T), aspect="auto", origin="lower", cmap="RdBu_r", vmin=-vmax, vmax=vmax, extent=extent)
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
        ax.set_yticks([])

    show(axes[0], truth, "truth")
    for i, label in enumerate(labels):
        model = dyncore.Run.load(runs / "kuramoto_sivashinsky" / label / "seed0").model
        try:
            with torch.no_grad():
                predicted = model.rollout(torch.as_tensor(truth[:1]), torch.as_tensor(t)).numpy()
        except dyncore.DyncoreError:
            predicted = np.full_like(truth, np.nan)
        predicted[~np.isfinite(predicted).all(axis=1) | (np.abs(predicted).max(axis=1) > 3 * vmax)] = np.nan
        show(axes[1 + 2 * i], predicted, label)
        show(axes[2 + 2 * i], predicted - truth, f"{label}\nerror")
    axes[-1].set_xlabel("t (Lyapunov times)")
    FIGURE.parent.mkdir(exist_ok=True)
    fig.savefig(FIGURE, dpi=50)
    return FIGURE


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["--figure"] and len(argv) == 2:
        print(figure(Path(argv[1])))
        return
    systems = list(LABELS)
    if "--systems" in argv:
        i = argv.index("--systems")
        systems = []
        for value in argv[i + 1 :]:
            if value.startswith("--"):
                break
            systems.append(value)
        argv = argv[:i] + argv[i + 1 + len(systems) :]
    labels = sorted({label for system in systems for label in LABELS[system]})
    fidelity.main(["--systems", *systems, "--models", *labels, *argv])


if __name__ == "__main__":
    main()
