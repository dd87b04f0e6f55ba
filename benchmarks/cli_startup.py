"""How long `dyncore list` and `dyncore --help` take, against a bare interpreter start in the same run.

Target: `dyncore list` under 0.5 s on the 2-core development machine. Usage:

    python benchmarks/cli_startup.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def median_seconds(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    cases = {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        "dyncore --help": [sys.executable, "-m", "dyncore", "--help"],
        "dyncore list": [sys.executable, "-m", "dyncore", "list"],
        "dyncore list --json": [sys.executable, "-m", "dyncore", "list", "--json"],
        "python -c 'import torch' (for scale)": [sys.executable, "-c", "import torch"],
    }
    print(f"| command | median of {args.repeat} (s) |\n|---|---|")
    for label, cmd in cases.items():
        print(f"| `{label}` | {median_seconds(cmd, args.repeat):.3f} |")


if __name__ == "__main__":
    main()
