"""Speed of the 0-1 test and of Lyapunov spectra, each against a plain reference contained here.

Targets: the 0-1 test at N = 10^4 with 100 c at least 15x faster than the O(n_c N n_cut) double
loop with K identical to 4 decimals, and N = 10^5 in under 1 s; the Lyapunov spectrum of Lorenz over
10^4 steps timed against a plain loop (one start, full autograd Jacobian and QR per step), and the
strict accuracy check (0.906, 0, -14.57) within 2 %. Usage:

    python benchmarks/chaos.py [--repeat 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import warnings

import numpy as np
import torch
from dyncore_chaos.zero_one import ZeroOneTest, correlation_k

import dyncore
from dyncore.metrics import lyapunov_spectrum, rk4_step, settle, starts_near
from dyncore.testing.chaos import logistic_series


def naive_k(x: np.ndarray, c: np.ndarray, n_cut: int) -> np.ndarray:
    """K_c by the textbook double loop: O(N) work for every lag n and every c."""
    j = np.arange(1, len(x) + 1)
    lags = np.arange(1, n_cut + 1)
    out = []
    for cc in c:
        p, q = np.cumsum(x * np.cos(j * cc)), np.cumsum(x * np.sin(j * cc))
        m = np.array([np.mean((p[n:] - p[:-n]) ** 2 + (q[n:] - q[:-n]) ** 2) for n in lags])
        d = m - np.mean(x) ** 2 * (1 - np.cos(lags * cc)) / (1 - np.cos(cc))
        out.append(np.corrcoef(lags, d)[0, 1])
    return np.array(out)


def timed(fn, repeat: int):
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def plain_lyapunov(system, x0: torch.Tensor, dt: float, n_steps: int) -> np.ndarray:
    """Reference: one start, the full Jacobian of the RK4 step by autograd and a QR at every step."""
    step = rk4_step(system.vector_field, dt)
    x, basis = x0.clone(), torch.eye(len(x0), dtype=torch.float64)
    total = torch.zeros(len(x0), dtype=torch.float64)
    for _ in range(n_steps):
        jac = torch.autograd.functional.jacobian(step, x)
        with torch.no_grad():
            x = step(x)
        basis, r = torch.linalg.qr(jac @ basis)
        total += torch.log(torch.diagonal(r).abs())
    return (total / (n_steps * dt)).numpy()


def zero_one_section(repeat: int) -> None:
    c = np.random.default_rng(0).uniform(math.pi / 5, 4 * math.pi / 5, 100)
    x = logistic_series(3.97, 10_000)
    t_naive, k_naive = timed(lambda: naive_k(x, c, 1000), repeat)
    t_fast, k_fast = timed(lambda: correlation_k(x, c, 1000), repeat)
    print("## 0-1 test\n")
    print("| case | median time (s) | K |\n|---|---|---|")
    print(f"| N = 10^4, 100 c, double loop | {t_naive:.3f} | {np.median(k_naive):.6f} |")
    print(f"| N = 10^4, 100 c, FFT + cumulative sums | {t_fast:.4f} | {np.median(k_fast):.6f} |")
    print(f"\nspeed-up {t_naive / t_fast:.1f}x; largest |K_c difference| {np.max(np.abs(k_naive - k_fast)):.1e}; "
          f"K equal to 4 decimals: {round(np.median(k_naive), 4) == round(np.median(k_fast), 4)}")
    big = logistic_series(3.97, 100_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_big, result = timed(lambda: ZeroOneTest().run(big), repeat)
    print(f"\nN = 10^5, 100 c, full ZeroOneTest.run (with the p-q path): {t_big:.3f} s, K = {result.statistic:.4f}\n")


def lyapunov_section(repeat: int) -> None:
    lorenz = dyncore.systems.create("lorenz")
    dt, n_steps = 0.01, 10_000
    one = settle(lorenz, starts_near(lorenz, 1), dt=dt, n_steps=2000)
    many = settle(lorenz, starts_near(lorenz, 64), dt=dt, n_steps=2000)
    t_plain, plain = timed(lambda: plain_lyapunov(lorenz, one[0], dt, n_steps), 1)
    t_one, s_one = timed(lambda: lyapunov_spectrum(lorenz, one, dt=dt, n_steps=n_steps, n_transient=0), repeat)
    t_many, s_many = timed(lambda: lyapunov_spectrum(lorenz, many, dt=dt, n_steps=n_steps, n_transient=500), 1)
    print("## Lyapunov spectrum of Lorenz, 10^4 RK4 steps of 0.01\n")
    print("| method | starts | time (s) | per start-step (us) | exponents |\n|---|---|---|---|---|")
    for label, t, starts, value in [
        ("plain loop: autograd Jacobian + QR per step", t_plain, 1, plain),
        ("`lyapunov_spectrum` (double-vjp JVPs, batched QR)", t_one, 1, s_one.exponents),
        ("`lyapunov_spectrum`, batch of starts", t_many, 64, s_many.exponents),
    ]:
        print(f"| {label} | {starts} | {t:.2f} | {1e6 * t / (starts * n_steps):.1f} | {np.round(value, 3).tolist()} |")
    print(f"\nsingle start: {t_plain / t_one:.1f}x faster than the plain loop; batch of 64: "
          f"{t_plain * 64 / t_many:.0f}x more start-steps per second")
    reference = np.array([0.906, 0.0, -14.572])
    error = np.abs(s_many.exponents - reference)
    print(f"batch of 64 against (0.906, 0, -14.572): lambda_1 off by {100 * error[0] / 0.906:.2f} %, "
          f"lambda_3 by {100 * error[2] / 14.572:.2f} %, |lambda_2| = {error[1]:.4f}; "
          f"standard errors {np.round(s_many.stderr, 4).tolist()}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the numpy FFTs are single-threaded)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    zero_one_section(args.repeat)
    lyapunov_section(args.repeat)


if __name__ == "__main__":
    main()
