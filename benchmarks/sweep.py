"""Sweep executors: speed-up over workers, Ray against the local pool, and the overhead per cell, in one run.

The same small cells (an RNN trained on the spiral, no evaluation) run four ways: serially in this
process (``run_cell`` in a loop: the compute alone), on the local pool with 1 worker and with
``--workers`` workers, and on an embedded Ray cluster with ``--workers`` CPUs. Wall times include
each executor's start-up (process pool, Ray cluster) and the writing of results, tables and figures.
The overhead per cell is ``(wall - sum of the cells' own times / workers) / cells``, start-up
included (an upper bound); the start-up alone is the wall time of a one-cell sweep less that cell's
own time (the first local sweep of a process also starts the fork server; later ones reuse it).
Targets (docs/sweeps.md): 2 workers >= 1.7x faster than 1 on a 2-core machine; Ray within 1.3x of
the local pool; overhead under 0.5 s per cell on either. Usage:

    python benchmarks/sweep.py [--cells 8] [--epochs 1500] [--workers 2] [--executors local ray] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import dyncore
from dyncore.sweeps import load_spec, run_cell


def spec(cells: int, epochs: int, hidden: int) -> dict[str, Any]:
    return {
        "seeds": list(range(cells)),
        "systems": [{"name": "spiral", "data": {"t_end": 10.0, "dt": 0.05}}],
        "models": [{"name": "rnn", "hparams": {"hidden": hidden}}],
        "trainer": {"epochs": epochs},
        "evaluate": {"enabled": False},
    }


def timed_sweep(grid: dict[str, Any], executor: str, workers: int, root: Path) -> dict[str, Any]:
    out = root / f"{executor}-{workers}-{len(grid['seeds'])}"
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    result = dyncore.sweep(grid, out, executor=executor, workers=workers, progress=False)
    wall = time.perf_counter() - start
    if result.failed:
        raise SystemExit(f"{result.failed} cells failed on {executor}: {[r['error'] for r in result.rows if r['error']]}")
    return {"wall_s": wall, "cells_s": sum(r["wall_s"] for r in result.rows), "rows": result.rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=1500)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--executors", nargs="+", default=["local", "ray"], choices=["local", "ray"])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    grid = spec(args.cells, args.epochs, args.hidden)
    cells = load_spec(grid).cells
    run_cell(cells[0].config)  # warm-up: imports and first-call costs are not compute
    start = time.perf_counter()
    for cell in cells:
        run_cell(cell.config)
    serial = time.perf_counter() - start
    report: dict[str, Any] = {
        "command": "python benchmarks/sweep.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), "
                   f"torch {torch.__version__}, python {platform.python_version()}",
        "cells": args.cells, "serial_s": serial,
    }
    runs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="dyncore-bench-sweep-") as tmp:
        root = Path(tmp)
        plan = [("local", 1), ("local", args.workers)] + ([("ray", args.workers)] if "ray" in args.executors else [])
        if "local" not in args.executors:
            plan = [p for p in plan if p[0] != "local"]
        for executor, workers in plan:
            one = timed_sweep(spec(1, args.epochs, args.hidden), executor, workers, root)
            full = timed_sweep(grid, executor, workers, root)
            startup = max(0.0, one["wall_s"] - one["cells_s"])
            overhead = (full["wall_s"] - full["cells_s"] / workers) / args.cells
            runs[f"{executor}-{workers}"] = {"wall_s": full["wall_s"], "cells_s": full["cells_s"], "startup_s": startup,
                                             "overhead_per_cell_s": overhead}
            numbers = [r["final_loss"] for r in full["rows"]]
            runs[f"{executor}-{workers}"]["final_loss"] = numbers
            print(f"{executor} x{workers}: wall {full['wall_s']:.1f} s (start-up {startup:.1f} s, cells {full['cells_s']:.1f} s "
                  f"of compute), overhead {overhead:.3f} s per cell with start-up", file=sys.stderr, flush=True)
    report["runs"] = runs
    w = args.workers
    if "local-1" in runs and f"local-{w}" in runs:
        report["local_speedup"] = runs["local-1"]["wall_s"] / runs[f"local-{w}"]["wall_s"]
        report["speedup_over_serial"] = serial / runs[f"local-{w}"]["wall_s"]
    if f"ray-{w}" in runs and f"local-{w}" in runs:
        report["ray_over_local"] = runs[f"ray-{w}"]["wall_s"] / runs[f"local-{w}"]["wall_s"]
        report["same_numbers"] = runs[f"ray-{w}"]["final_loss"] == runs[f"local-{w}"]["final_loss"]
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
