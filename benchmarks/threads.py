"""Torch's default threads against dyncore's thread default, on an idle machine and with busy processes.

Target (issue 14, "Under load"): `dyncore demo --quick` with two busy background processes
(`python -c "while True: pass"` twice) at most 1.5x its time without them. Each case runs as a
fresh `dyncore` process in a fresh folder, "old" being torch's own default count (what dyncore
used before: DYNCORE_THREADS set to it) and "new" dyncore's default; OMP_NUM_THREADS and
MKL_NUM_THREADS are removed from the children's environment. The cases alternate, so that both
defaults see the same background load; the script prints the load average before each case,
since other users of the machine count too.

`--sizes` instead times NODE training epochs at growing batch sizes on 1 and 2 threads (no busy
processes), the measurement behind ``dyncore.threads.WORK_PER_THREAD``.

Usage:

    python benchmarks/threads.py [--repeat 1] [--epochs 400] [--no-demo] [--new-only] [--timeout 900]
    python benchmarks/threads.py --sizes
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

BUSY = [sys.executable, "-c", "while True: pass"]


@contextlib.contextmanager
def busy(n: int) -> Iterator[None]:
    """``n`` background processes spinning on a core each, stopped (by their own ids) on exit."""
    procs = [subprocess.Popen(BUSY) for _ in range(n)]
    try:
        time.sleep(1.0)
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def child_env(threads: str | None) -> dict[str, str]:
    """The environment of one case: no OpenMP/MKL variables; DYNCORE_THREADS = ``threads`` when given."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "DYNCORE_THREADS")}
    if threads is not None:
        env["DYNCORE_THREADS"] = threads
    return env


def timed(cmd: list[str], cwd: Path, threads: str | None, timeout: float) -> float:
    """Wall seconds of one command (``inf`` past ``timeout``, reported as ``> timeout``)."""
    start = time.perf_counter()
    try:
        subprocess.run(cmd, cwd=cwd, env=child_env(threads), check=True, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return float("inf")
    return time.perf_counter() - start


def fmt(seconds: float, timeout: float) -> str:
    return f"> {timeout:.0f}" if seconds == float("inf") else f"{seconds:.1f}"


def ratio_text(a: float, b: float, timeout: float) -> str:
    """``a / b``, as a bound where one of them ran past the timeout."""
    if a == b == float("inf"):
        return "n/a (both past the timeout)"
    if b == float("inf"):
        return f"< {a / timeout:.2f}"
    if a == float("inf"):
        return f"> {timeout / b:.2f}"
    return f"{a / b:.2f}"


def torch_default() -> int:
    """The count torch starts with here when nobody sets it (measured in a clean child)."""
    out = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"], env=child_env(None),
                         check=True, capture_output=True, text=True)
    return int(out.stdout)


def sizes() -> None:
    """Seconds per NODE epoch (3-256-3, one RK4 step, full batch) at growing batches, 1 and 2 threads."""
    import numpy as np
    import torch

    import dyncore

    print("| states (rows) | work of the biggest op (multiply-adds) | 1 thread (ms/epoch) | 2 threads (ms/epoch) | 2 / 1 |\n|---|---|---|---|---|")
    lorenz = dyncore.simulate("lorenz", t=np.arange(0, 10, 0.01))
    for batch in (1, 8, 32, 128):
        x0 = lorenz.x[:: max(1, len(lorenz.x) // batch)][:batch]
        data = dyncore.simulate("lorenz", x0=x0, t=np.arange(0, 10, 0.01)) if batch > 1 else lorenz
        rows = data.batch * (data.n - 1)
        times = {}
        for n in (1, 2):
            runs = []
            for _ in range(3):
                start = time.perf_counter()
                dyncore.train("node", data, epochs=10, threads=n, progress=False)
                runs.append((time.perf_counter() - start) / 10)
            times[n] = statistics.median(runs)
        print(f"| {rows} | {rows * 768:.3g} | {1e3 * times[1]:.2f} | {1e3 * times[2]:.2f} | {times[2] / times[1]:.2f} |")
    print(f"(torch {torch.__version__}, load average {os.getloadavg()[0]:.1f} at the end)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--no-demo", action="store_true", help="Time only `dyncore train`.")
    parser.add_argument("--timeout", type=float, default=900.0, help="Seconds after which a case is stopped.")
    parser.add_argument("--new-only", action="store_true", help="Time only dyncore's default (idle and busy).")
    parser.add_argument("--sizes", action="store_true", help="Only time epochs by batch size on 1 and 2 threads.")
    args = parser.parse_args()
    if args.sizes:
        sizes()
        return
    old = str(torch_default())
    dyncore = [sys.executable, "-m", "dyncore"]
    print(f"{os.cpu_count()} CPUs; torch's default: {old} threads; new: dyncore's default")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        subprocess.run([*dyncore, "simulate", "lorenz", "-o", "lorenz.npz"], cwd=root, env=child_env(None), check=True, capture_output=True)
        cases = {"train": lambda out: [*dyncore, "train", "node", "lorenz.npz", "--epochs", str(args.epochs), "-o", out]}
        if not args.no_demo:
            cases["demo --quick"] = lambda out: [*dyncore, "demo", "--quick", "-o", out]
        results: dict[tuple[str, str, str], list[float]] = {}
        count = 0
        for _ in range(args.repeat):
            for name, command in cases.items():
                for load, n_busy in (("idle", 0), ("2 busy", 2)):
                    with busy(n_busy):
                        for label, threads in (("old", old), ("new", None))[args.new_only:]:
                            count += 1
                            before = os.getloadavg()[0]
                            seconds = timed(command(f"out{count}"), root, threads, args.timeout)
                            results.setdefault((name, load, label), []).append(seconds)
                            print(f"  {name}, {load}, {label} default: {fmt(seconds, args.timeout)} s (load average before {before:.1f})",
                                  flush=True)
    labels = ("new",) if args.new_only else ("old", "new")
    print("\n| command | machine | " + " | ".join(f"{label} default (s)" for label in labels) + " | new / old |\n|---|---|---|---|---|")
    for name in cases:
        for load in ("idle", "2 busy"):
            times = [statistics.median(results[(name, load, label)]) for label in labels]
            ratio = ratio_text(times[-1], times[0], args.timeout) if len(times) == 2 else ""
            print(f"| `dyncore {name}` | {load} | " + " | ".join(fmt(t, args.timeout) for t in times) + f" | {ratio} |")
        for label in labels:
            i, b = (statistics.median(results[(name, load, label)]) for load in ("idle", "2 busy"))
            print(f"`dyncore {name}`, {label} default: busy / idle = {ratio_text(b, i, args.timeout)}")


if __name__ == "__main__":
    main()
