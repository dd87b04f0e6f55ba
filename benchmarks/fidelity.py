"""The fidelity table: every built-in model trained on every built-in system by its reference recipe, then evaluated.

Each model is trained with the full-batch trainer's reference recipe (Adam, lr 1e-2 then 1e-3 for
the last 10 %, all consecutive pairs as one batch) on the reference data of its system, and
evaluated by ``dyncore.evaluate`` on held-out trajectories whose starts are seeded random states
integrated onto the attractor (never the training trajectory). The table is how later changes to
models and trainers are judged, so every number comes from this one script. Usage:

    python benchmarks/fidelity.py [--epochs 2000] [--seed 0] [--eval-seed 1] [--n-tests 20]
                                  [--systems lorenz ...] [--models node rnn] [--json out.json]
                                  [--write-docs] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

import dyncore
from dyncore.evaluation import evaluate

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
BEGIN, END = "<!-- fidelity:begin -->", "<!-- fidelity:end -->"

#: Per system: options of the reference data (``simulate``) and each model's hyperparameters.
RECIPES: dict[str, dict[str, Any]] = {
    # the reference spiral: 2-128-2 NODE; the RNN at its defaults (window 3, 2 x 128)
    "spiral": {"data": {}, "hparams": {"node": {"hidden": 128}, "rnn": {}}},
    # the reference Lorenz: 3-256-3 NODE, 2 x 128 RNN, 1000 points over t in [0, 10]
    "lorenz": {"data": {}, "hparams": {"node": {}, "rnn": {}}},
    "van_der_pol": {"data": {}, "hparams": {"node": {}, "rnn": {}}},
    # L = 22, N = 64 after a transient of 100; small models. The NODE rolls out with the RK4 step
    # it was trained as (dt = 0.25): its field is as stiff as the PDE's, and an adaptive solver
    # would take thousands of tiny steps on it.
    "kuramoto_sivashinsky": {
        "data": {"transient": 100.0},
        "hparams": {"node": {"hidden": 128, "rollout_solver": "rk4"}, "rnn": {"hidden": 64}},
    },
}
MODELS = ("node", "rnn")


def train_and_evaluate(system_name: str, model_name: str, args: argparse.Namespace) -> dict[str, Any]:
    recipe = RECIPES[system_name]
    system = dyncore.systems.create(system_name)
    data = system.simulate(**recipe["data"])
    hparams = recipe["hparams"].get(model_name, {})
    row: dict[str, Any] = {"system": system_name, "model": model_name, "hparams": hparams, "points": data.n}
    start = time.perf_counter()
    try:
        run = dyncore.train(model_name, data, epochs=args.epochs, seed=args.seed, hparams=hparams)
    except dyncore.TrainingDiverged as exc:
        row.update(status="diverged", error=str(exc), train_s=time.perf_counter() - start)
        return row
    row.update(status=run.status, train_s=time.perf_counter() - start, final_loss=run.history.loss[-1])
    start = time.perf_counter()
    row["metrics"] = evaluate(run, system, n_tests=args.n_tests, seed=args.eval_seed).to_dict()
    row["eval_s"] = time.perf_counter() - start
    return row


def fmt(value: Any, spec: str = ".3f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def markdown(rows: list[dict[str, Any]], command: str, args: argparse.Namespace) -> str:
    lines = [
        f"Command: `{command}` (training seed {args.seed}, held-out seed {args.eval_seed}, "
        f"{args.n_tests} held-out starts, {args.epochs} epochs), measured {time.strftime('%Y-%m-%d')} on "
        f"{platform.machine()} CPU, torch {torch.__version__}, {torch.get_num_threads()} thread(s).",
        "",
        "| system | model | train (s) | final loss | VPT 0.5 (Lyap. times) | VPT 0.05 | lambda_1 learned | lambda_1 true "
        "| K model / truth | hist TV | sliced W | spectrum |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for row in rows:
        head = f"| {row['system']} | {row['model']} | {row['train_s']:.0f} |"
        if "metrics" not in row:
            lines.append(head + f" {row['status']} | - | - | - | - | - | - | - | - |")
            continue
        m = row["metrics"]
        vpt = m["vpt"]

        def vpt_cell(level: str, m=m, vpt=vpt) -> str:
            v = vpt.get(level)
            if v is None:
                return "-"
            lyap = f" ({fmt(v['lyapunov_times'], '.2f')})" if v["lyapunov_times"] is not None else ""
            censored = f", {v['censored']} cens." if v["censored"] else ""
            return f"{fmt(v['mean'], '.2f')}{lyap}{censored}"

        ly = m["lyapunov"]
        learned = fmt(ly["learned"][0]) if ly["learned"] else "-"
        true = fmt(ly["true"][0]) if ly["true"] else "-"
        if ly.get("true_source") == "computed":
            true += " (c)"
        z, d, floor = m["zero_one"], m["distances"], m.get("noise_floor") or {}

        def distance(key: str, spec: str, d=d, floor=floor) -> str:
            return fmt(d[key], spec) + (f" ({fmt(floor[key], spec)})" if key in floor else "")

        lines.append(
            head + f" {row['final_loss']:.1e} | {vpt_cell('0.5')} | {vpt_cell('0.05')} | {learned} | {true} | "
            f"{fmt(z['model'], '.2f')} / {fmt(z['truth'], '.2f')} | {distance('histogram', '.2f')} | "
            f"{distance('sliced_wasserstein', '.3g')} | {distance('power_spectrum', '.2f')} |"
        )
        notes += [f"- {row['system']} / {row['model']}: {note}" for note in m["notes"]]
    lines += [
        "",
        "VPT in time units (Lyapunov times in brackets where lambda_1 is known); \"cens.\" counts held-out "
        "starts whose error never crossed the threshold within the horizon. \"(c)\": lambda_1 computed from "
        "the system's own vector field (no published value). Distances: model long free runs against the "
        "truth's from the same starts; in brackets the noise floor, the same distance between the two halves "
        "of the truth's own long runs (finite samples keep even the truth above 0).",
    ]
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines)


def write_docs(text: str) -> None:
    doc = DOCS.read_text()
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in doc and END in doc:
        doc = doc[: doc.index(BEGIN)] + block + doc[doc.index(END) + len(END) :]
    else:
        doc = doc.rstrip("\n") + "\n\n## Fidelity table\n\n" + block + "\n"
    DOCS.write_text(doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--eval-seed", type=int, default=1, help="seed of the held-out starts")
    parser.add_argument("--n-tests", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write every number here")
    parser.add_argument("--write-docs", action="store_true", help="replace the table in docs/benchmarks.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    command = "python benchmarks/fidelity.py " + " ".join(sys.argv[1:])
    rows = []
    for system_name in args.systems:
        for model_name in args.models:
            row = train_and_evaluate(system_name, model_name, args)
            rows.append(row)
            print(f"{system_name} / {model_name}: {row['status']}, train {row['train_s']:.0f} s, "
                  f"evaluate {row.get('eval_s', 0.0):.0f} s", file=sys.stderr, flush=True)
            if args.json:
                args.json.write_text(json.dumps(rows, indent=2, default=float))
    text = markdown(rows, command.strip(), args)
    print(text)
    if args.write_docs:
        write_docs(text)


if __name__ == "__main__":
    main()
