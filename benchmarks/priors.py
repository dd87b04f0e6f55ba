"""Learning with a prior on Lorenz: the wrong known model alone, the black-box NODE and the hybrid, side by side.

The known model is Lorenz with rho 10 % low (25.2 instead of 28). Every model is trained on the
reference data (1000 points, t in [0, 10]) with the full-batch reference recipe (2000 epochs) for
each training seed, and evaluated by ``dyncore.evaluate`` on the same 20 held-out starts settled on
the attractor (held-out seed 1), over a horizon of 22 time units (20 Lyapunov times) so that long
valid prediction times are not cut off. Prints one row per model: VPT at NRMSE 0.5 in Lyapunov
times (median over every held-out start of every seed, and the 25-75 % range), lambda_1 and 0-1 K
(median over seeds). Usage:

    python benchmarks/priors.py [--seeds 0 1 2] [--epochs 2000] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import torch

import dyncore

KNOWN = {"known": "lorenz", "known_params": {"rho": 25.2}}
#: label -> (model, hyperparameters, trained?)
MODELS: dict[str, tuple[str, dict[str, Any], bool]] = {
    "known model alone (rho 25.2)": ("hybrid", KNOWN, False),
    "node (black box)": ("node", {}, True),
    "hybrid, mixing": ("hybrid", {**KNOWN, "coupling": "mixing"}, True),
    "hybrid, additive": ("hybrid", {**KNOWN, "coupling": "additive"}, True),
}
HORIZON = 22.0
LAMBDA_1 = 0.906


def measure(label: str, seeds: list[int], epochs: int, data: dyncore.Trajectory) -> dict[str, Any]:
    name, hparams, trained = MODELS[label]
    vpts, lambdas, ks, seconds = [], [], [], []
    for seed in seeds if trained else seeds[:1]:  # the untrained known model is the same for every seed
        start = time.perf_counter()
        if trained:
            model = dyncore.train(name, data, epochs=epochs, seed=seed, hparams=hparams, progress=False).model
        else:
            model = dyncore.models.create(name, **hparams)
            model.prepare(data)
        seconds.append(time.perf_counter() - start)
        result = dyncore.evaluate(model, "lorenz", n_tests=20, seed=1, dt=float(data.t[1] - data.t[0]), horizon=HORIZON)
        vpts.extend(np.asarray(result.vpt[0.5].per_start) * LAMBDA_1)
        lambdas.append(result.lyapunov.learned[0] if result.lyapunov.learned else float("nan"))
        ks.append(result.zero_one.model if result.zero_one.model is not None else float("nan"))
    q25, median, q75 = np.percentile(vpts, [25, 50, 75])
    return {
        "model": label, "seeds": len(seconds), "vpt_median": median, "vpt_q25": q25, "vpt_q75": q75,
        "lambda_1": float(np.nanmedian(lambdas)), "zero_one_k": float(np.nanmedian(ks)), "train_s": float(np.median(seconds)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = dyncore.simulate("lorenz")
    rows = []
    print("| model | VPT (Lyapunov times), median [25-75 %] | lambda_1 (true 0.906) | 0-1 K | train s |")
    print("|---|---|---|---|---|")
    for label in MODELS:
        row = measure(label, args.seeds, args.epochs, data)
        rows.append(row)
        print(
            f"| {row['model']} | {row['vpt_median']:.2f} [{row['vpt_q25']:.2f}-{row['vpt_q75']:.2f}] | "
            f"{row['lambda_1']:.3f} | {row['zero_one_k']:.3f} | {row['train_s']:.0f} |",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
