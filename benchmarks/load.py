"""A dyncore command on the machine as it is, then beside N busy processes: the slow-down under load.

Target (issue 14, "Under load"): `dyncore demo --quick` beside two busy background processes
(`python -c "while True: pass"` twice) at most 1.5x its time on an idle machine. Each case is a
fresh process in a fresh folder with dyncore's default threads (OMP_NUM_THREADS, MKL_NUM_THREADS
and DYNCORE_THREADS removed from its environment); the cases alternate as-found and busy, so that
slow drifts of the background load hit both.

A control runs beside them: a pure-Python loop of fixed work (no torch, one thread), timed the same
way. Its ratio is what the operating system's sharing of the cores alone costs one single-threaded
process here (1.5x on an otherwise idle 2-core machine with two spinners: it gets 2/3 of a core);
a dyncore ratio near the control's means dyncore adds nothing of its own under load.

Usage:

    python benchmarks/load.py [--command demo|train] [--epochs 400] [--spinners 2] [--repeat 1] [--timeout 900]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from threads import busy as spinners  # benchmarks/threads.py: N spinning background processes

CONTROL = [sys.executable, "-c", "s = 0\nfor i in range(60_000_000): s += i"]


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "DYNCORE_THREADS")}


def timed(cmd: list[str], cwd: Path, timeout: float) -> float:
    """Wall seconds of ``cmd`` (``inf`` past ``timeout``)."""
    start = time.perf_counter()
    try:
        subprocess.run(cmd, cwd=cwd, env=env(), check=True, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return float("inf")
    return time.perf_counter() - start


def fmt(seconds: float, timeout: float) -> str:
    return f"> {timeout:.0f}" if seconds == float("inf") else f"{seconds:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--command", choices=("demo", "train"), default="demo",
                        help="demo: `dyncore demo --quick`; train: `dyncore train node lorenz.npz --epochs E`")
    parser.add_argument("--epochs", type=int, default=400, help="epochs of the train command")
    parser.add_argument("--spinners", type=int, default=2, help="busy background processes in the loaded cases")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds after which a case is stopped")
    args = parser.parse_args()
    dyncore = [sys.executable, "-m", "dyncore"]
    results: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        subprocess.run([*dyncore, "simulate", "lorenz", "-o", "lorenz.npz"], cwd=root, env=env(), check=True, capture_output=True)
        count = 0

        def command() -> list[str]:
            if args.command == "demo":
                return [*dyncore, "demo", "--quick", "-o", f"out{count}"]
            return [*dyncore, "train", "node", "lorenz.npz", "--epochs", str(args.epochs), "-o", f"out{count}"]

        name = "demo --quick" if args.command == "demo" else f"train node lorenz.npz --epochs {args.epochs}"
        print(f"{os.cpu_count()} CPUs; `dyncore {name}` and the control, as found and beside {args.spinners} spinners")
        for _ in range(args.repeat):
            for load, n in (("as found", 0), (f"{args.spinners} busy", args.spinners)):
                with spinners(n):
                    for case, cmd in (("dyncore", command), ("control", lambda: CONTROL)):
                        count += 1
                        before = os.getloadavg()[0]
                        seconds = timed(cmd(), root, args.timeout)
                        results.setdefault((case, load), []).append(seconds)
                        print(f"  {case}, {load}: {fmt(seconds, args.timeout)} s (load average before {before:.2f})", flush=True)
    print(f"\n| case | as found (s) | {args.spinners} busy (s) | busy / as found |\n|---|---|---|---|")
    for case in ("dyncore", "control"):
        found = statistics.median(results[(case, "as found")])
        loaded = statistics.median(results[(case, f"{args.spinners} busy")])
        label = f"`dyncore {name}`" if case == "dyncore" else "control (pure-Python loop)"
        ratio = f"> {args.timeout / found:.2f}" if loaded == float("inf") else f"{loaded / found:.2f}"
        print(f"| {label} | {fmt(found, args.timeout)} | {fmt(loaded, args.timeout)} | {ratio} |")


if __name__ == "__main__":
    main()
