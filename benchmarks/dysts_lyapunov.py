"""lambda_1 of every catalogued dysts system by dyncore's own tools, against dysts' published value.

For each system: 8 starts near the published initial condition are simulated with dyncore's
default solver over a transient (``--settle`` Lyapunov times, at least ``--min-periods`` published
periods), then lambda_1 is measured by dyncore's batch Lyapunov path (RK4 tangent dynamics at
dt = period / 100, all starts in one batch) over 10 Lyapunov times, capped at ``--max-steps`` steps
and ``--timeout`` seconds per system (an alarm; the sweep runs in one process). Writes one JSON line
per system and prints the counts within 10 % and 25 % of dysts' ``maximum_lyapunov_estimated`` and
of the first exponent of its ``lyapunov_spectrum_estimated``. Usage:

    python benchmarks/dysts_lyapunov.py [--only Lorenz,Rossler] [--timeout 20] [--max-steps 1000] [-o dysts_lyapunov.jsonl]
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import time
import warnings

#: Starts per system, measured as one batch.
STARTS = 8


def measure(name: str, max_steps: int, settle_times: float, min_periods: float) -> dict:
    """lambda_1 of ``dysts.<name>``: dyncore's default solver for the transient, the batch Lyapunov path after."""
    import torch

    import dyncore
    from dyncore.metrics import lyapunov_spectrum, starts_near

    warnings.simplefilter("ignore")
    system = dyncore.systems.create(f"dysts.{name}")
    ref = system.reference()
    published = ref.get("largest_lyapunov_exponent")
    period = float(ref["period"])
    dt = period / 100
    lam = published if published and published > 0 else 1.0 / period
    transient = max(settle_times / lam, min_periods * period)
    n_settle = min(max_steps, max(2, math.ceil(transient / dt)))
    t = torch.arange(n_settle + 1, dtype=torch.float64) * dt
    start = time.perf_counter()
    x = system.simulate(starts_near(system, STARTS), t).x[-1]
    settle_s = time.perf_counter() - start
    needed = max(1000, math.ceil(10.0 / (lam * dt)))
    steps = min(max_steps, needed)
    start = time.perf_counter()
    spectrum = lyapunov_spectrum(system, torch.as_tensor(x), dt=dt, n_steps=steps, n_transient=min(250, steps // 4), n_exponents=1)
    published_spectrum = (ref.get("lyapunov_spectrum_estimated") or [None])[0]
    return {"name": name, "published": published, "published_spectrum": published_spectrum, "measured": spectrum.largest, "stderr": float(spectrum.stderr[0]),
            "dt": dt, "steps": steps, "capped": needed > max_steps, "settle_s": round(settle_s, 2),
            "lyapunov_s": round(time.perf_counter() - start, 2), "dim": system.dim}


class _OverCap(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _OverCap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="Comma-separated dysts names (default: the whole catalogue).")
    parser.add_argument("--timeout", type=int, default=20, help="Seconds per system (SIGALRM), beyond which it is reported as capped.")
    parser.add_argument("--max-steps", type=int, default=1000, help="Cap on the settling and averaging steps.")
    parser.add_argument("--settle", type=float, default=10.0, help="Settling transient in Lyapunov times.")
    parser.add_argument("--min-periods", type=float, default=20.0, help="... and at least this many published periods.")
    parser.add_argument("-o", "--output", default="dysts_lyapunov.jsonl")
    args = parser.parse_args()
    import torch
    from dyncore_dysts.plugin import CATALOGUE

    torch.set_num_threads(1)
    names = args.only.split(",") if args.only else sorted(json.loads(CATALOGUE.read_text())["systems"])
    signal.signal(signal.SIGALRM, _alarm)
    start = time.perf_counter()
    counts = {"10": 0, "25": 0, "10s": 0, "25s": 0, "total": 0}
    with open(args.output, "w") as out:
        for name in names:
            signal.alarm(args.timeout)
            try:
                row = measure(name, args.max_steps, args.settle, args.min_periods)
            except _OverCap:
                row = {"name": name, "failed": f"over the {args.timeout} s cap"}
            except Exception as exc:  # a system whose integration fails is a row with the reason, not the end of the sweep
                row = {"name": name, "failed": f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"}
            finally:
                signal.alarm(0)
            if row.get("measured") is not None and row.get("published"):
                row["rel_error"] = abs(row["measured"] - row["published"]) / abs(row["published"])
                counts["10"] += row["rel_error"] <= 0.10
                counts["25"] += row["rel_error"] <= 0.25
            if row.get("measured") is not None and row.get("published_spectrum"):
                row["rel_error_spectrum"] = abs(row["measured"] - row["published_spectrum"]) / abs(row["published_spectrum"])
                counts["10s"] += row["rel_error_spectrum"] <= 0.10
                counts["25s"] += row["rel_error_spectrum"] <= 0.25
            counts["total"] += 1
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(f"{name:28s} published {row.get('published') or float('nan'):8.4f}  measured "
                  f"{row.get('measured', float('nan')):8.4f}  {row.get('failed', '')}", flush=True)
    print(f"against maximum_lyapunov_estimated: {counts['10']}/{counts['total']} within 10 %, {counts['25']}/{counts['total']} "
          f"within 25 %; against lyapunov_spectrum_estimated[0]: {counts['10s']}/{counts['total']} within 10 %, "
          f"{counts['25s']}/{counts['total']} within 25 % ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
