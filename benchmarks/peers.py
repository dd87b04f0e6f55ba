"""One NODE training recipe in dyncore, plain torchdiffeq, a jitted JAX step and diffrax, side by side.

The recipe (issue 14): Lorenz, B trajectories of 1000 points (``dyncore.simulate("lorenz", batch=B,
seed=0)``), every state but the last of each trajectory a start (N = 999 B states), one RK4 step over
the sampling interval, mean squared error against the next state, Adam (lr 1e-2), an MLP 3-256-3
with ReLU, float32, full batch: one optimizer step per epoch. Rows:

- dyncore: ``dyncore.train("node", data, epochs=E, device=...)``; ms per epoch from its
  ``History.wall_time`` after the warm-up epochs (the loop reads the loss once per epoch, a device
  synchronisation). dyncore learns in normalised states and time; that costs nothing per epoch.
- torchdiffeq: the plain script a practitioner writes (``odeint(func, y0, t[:2], method="rk4")``,
  ``torch.optim.Adam``), as in benchmarks/train.py.
- JAX: the same step written in JAX (RK4 by hand), ``jax.value_and_grad`` and ``optax.adam`` in one
  ``jax.jit`` function with donated buffers; the loop blocks once at the end (JAX may pipeline).
- diffrax: the JAX row with the RK4 step taken by ``diffrax.diffeqsolve`` (classical RK4 given as a
  ``ButcherTableau``: diffrax has no built-in RK4), one constant step from 0 to dt.
Rows whose package is missing are skipped with one line (``pip install -e ".[bench]"``).

The memory-traffic bound. Per epoch, each RK stage and hidden layer makes two N x H float32
intermediates that a step cannot avoid storing without recomputation: the hidden activation (written
in the forward, read in the backward) and its gradient (written and read in the backward); each
written once and read once is 4 N H x 4 bytes per stage and layer. The N x dim tensors add
(2 + 4 stages) N dim x 4 bytes (start, target, and per stage its input and slope, each once each way).
The bound is those bytes at the device's copy bandwidth, which the script measures (one large
``copy_``: read + write bytes over time). At B = 1024 (N = 1.02 M, H = 256, 4 stages) that is
16.8 GB per epoch. A fully fused kernel that keeps the gradient on chip would need half the
activation traffic, one that recomputes the activations almost none: the bound is a yardstick for
materialised intermediates, not a physical limit. The "% of bound" column is bound / measured.

Usage:

    python benchmarks/peers.py [--device cpu|cuda] [--sizes 1,16,64] [--epochs 50] [--warmup 5] [--repeat 3]
                               [--variants] [--jax-one-thread] [--no-diffrax]

Defaults: sizes 1, 16, 64 on CPU and 1, 16, 256, 1024 on CUDA. Per-epoch figures are medians of
``--repeat`` rounds, each running every implementation once in turn (``--variants``: dyncore eager
and dyncore compiled, in the first round only).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

import dyncore

HIDDEN, LR, STAGES = 256, 1e-2, 4


def data_for(batch: int) -> Any:
    """B trajectories of Lorenz, 1000 points each (the system's default grid), seeded."""
    return dyncore.simulate("lorenz", batch=batch, seed=0) if batch > 1 else dyncore.simulate("lorenz", seed=0)


def starts_and_targets(traj: Any) -> tuple[np.ndarray, np.ndarray, float]:
    """Every state a start: ``(N, 3)`` starts, ``(N, 3)`` next states, float32, and the step dt."""
    x = traj.x if traj.x.ndim == 3 else traj.x[:, None]
    y0 = x[:-1].reshape(-1, x.shape[-1]).astype(np.float32)
    y1 = x[1:].reshape(-1, x.shape[-1]).astype(np.float32)
    return y0, y1, float(traj.t[1] - traj.t[0])


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


# -- the rows --------------------------------------------------------------------------------------


def run_dyncore(traj: Any, epochs: int, warmup: int, device: str, **options: Any) -> float:
    """Seconds per epoch of ``dyncore.train`` past ``warmup`` epochs (its own per-epoch clock)."""
    run = dyncore.train("node", traj, epochs=warmup + epochs, device=device, progress=False, **options)
    wall = run.history.wall_time
    return (wall[-1] - wall[warmup - 1]) / epochs


class Field(nn.Module):
    """The practitioner's 3-256-3 ReLU MLP with an ``odeint``-style ``forward(t, x)``."""

    def __init__(self, dim: int = 3, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.lin1, self.lin2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(torch.relu(self.lin1(x)))


def run_torchdiffeq(traj: Any, epochs: int, warmup: int, device: str) -> float:
    """Seconds per epoch of the plain torchdiffeq script (one rk4 step of odeint from every state)."""
    from torchdiffeq import odeint

    torch.manual_seed(0)
    y0, y1, dt = starts_and_targets(traj)
    y0, y1 = torch.from_numpy(y0).to(device), torch.from_numpy(y1).to(device)
    t = torch.tensor([0.0, dt], device=device)
    func = Field().to(device)
    optimizer = torch.optim.Adam(func.parameters(), lr=LR)

    def epoch() -> None:
        optimizer.zero_grad()
        loss = torch.mean((odeint(func, y0, t, method="rk4")[1] - y1) ** 2)
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        epoch()
    sync(device)
    start = time.perf_counter()
    for _ in range(epochs):
        epoch()
    sync(device)
    return (time.perf_counter() - start) / epochs


def jax_available() -> str | None:
    """``None`` when JAX and optax import, else the reason (one line)."""
    try:
        import jax  # noqa: F401
        import optax  # noqa: F401
    except ImportError as exc:
        return f"{exc.name or 'jax'} is not installed (pip install -e \".[bench]\")"
    return None


def jax_device(device: str) -> Any:
    """The JAX device matching ``device`` (``None`` when JAX has no such backend here)."""
    import jax

    kind = "gpu" if device.startswith("cuda") else "cpu"
    try:
        return jax.devices(kind)[0]
    except RuntimeError:
        return None


def _jax_init(key: Any, dim: int = 3, hidden: int = HIDDEN) -> dict[str, Any]:
    """PyTorch's default Linear initialisation (uniform in +-1/sqrt(fan_in)), in JAX."""
    import jax

    k = jax.random.split(key, 4)

    def uniform(key: Any, shape: tuple[int, ...], fan_in: int) -> Any:
        bound = 1.0 / np.sqrt(fan_in)
        return jax.random.uniform(key, shape, minval=-bound, maxval=bound, dtype=np.float32)

    return {"w1": uniform(k[0], (dim, hidden), dim), "b1": uniform(k[1], (hidden,), dim),
            "w2": uniform(k[2], (hidden, dim), hidden), "b2": uniform(k[3], (dim,), hidden)}


def _jax_field(params: dict[str, Any], x: Any) -> Any:
    import jax.numpy as jnp

    return jnp.maximum(x @ params["w1"] + params["b1"], 0.0) @ params["w2"] + params["b2"]


def _rk4_by_hand(params: dict[str, Any], y: Any, dt: float) -> Any:
    k1 = _jax_field(params, y)
    k2 = _jax_field(params, y + 0.5 * dt * k1)
    k3 = _jax_field(params, y + 0.5 * dt * k2)
    k4 = _jax_field(params, y + dt * k3)
    return y + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def _rk4_diffrax(dt: float) -> Callable[[dict[str, Any], Any, float], Any]:
    """One classical RK4 step by ``diffrax.diffeqsolve`` (RK4 as an explicit Butcher tableau)."""
    import diffrax
    import numpy as onp

    rk4_tableau = diffrax.ButcherTableau(
        c=onp.array([0.5, 0.5, 1.0]),
        b_sol=onp.array([1 / 6, 1 / 3, 1 / 3, 1 / 6]),
        b_error=onp.zeros(4),
        a_lower=(onp.array([0.5]), onp.array([0.0, 0.5]), onp.array([0.0, 0.0, 1.0])),
    )

    class RK4(diffrax.AbstractERK):
        """Classical fourth-order Runge-Kutta."""

        tableau = rk4_tableau  # noqa: RUF045
        interpolation_cls = diffrax.ThirdOrderHermitePolynomialInterpolation.from_k

        def order(self, terms: Any) -> int:
            return 4

    solver = RK4()

    def step(params: dict[str, Any], y: Any, dt_: float) -> Any:
        term = diffrax.ODETerm(lambda t, x, p: _jax_field(p, x))
        sol = diffrax.diffeqsolve(term, solver, t0=0.0, t1=dt_, dt0=dt_, y0=y, args=params,
                                  stepsize_controller=diffrax.ConstantStepSize(), saveat=diffrax.SaveAt(t1=True), max_steps=1)
        return sol.ys[0]

    return step


def run_jax(traj: Any, epochs: int, warmup: int, device: str, use_diffrax: bool = False) -> float:
    """Seconds per epoch of one ``jax.jit`` step (loss, gradient, optax.adam update) on ``device``."""
    import jax
    import jax.numpy as jnp
    import optax

    where = jax_device(device)
    y0, y1, dt = starts_and_targets(traj)
    with jax.default_device(where):
        params = _jax_init(jax.random.PRNGKey(0))
        y0, y1 = jax.device_put(y0, where), jax.device_put(y1, where)
        optimizer = optax.adam(LR)
        opt_state = optimizer.init(params)
        rk4 = _rk4_diffrax(dt) if use_diffrax else _rk4_by_hand

        def loss_fn(p: dict[str, Any]) -> Any:
            return jnp.mean((rk4(p, y0, dt) - y1) ** 2)

        def step(p: dict[str, Any], s: Any) -> tuple[Any, Any, Any]:
            loss, grads = jax.value_and_grad(loss_fn)(p)
            updates, s = optimizer.update(grads, s, p)
            return optax.apply_updates(p, updates), s, loss

        step = jax.jit(step, donate_argnums=(0, 1))
        for _ in range(warmup):
            params, opt_state, loss = step(params, opt_state)
        jax.block_until_ready((params, opt_state, loss))
        start = time.perf_counter()
        for _ in range(epochs):
            params, opt_state, loss = step(params, opt_state)
        jax.block_until_ready((params, opt_state, loss))
        return (time.perf_counter() - start) / epochs


# -- the bound -------------------------------------------------------------------------------------


def copy_bandwidth(device: str) -> float:
    """Bytes per second of one large ``copy_`` on ``device`` (bytes read + bytes written), best of 5."""
    n = (256 if device.startswith("cuda") else 64) * 2**20 // 4  # float32 elements: 256 MiB (GPU), 64 MiB (CPU)
    a, b = torch.ones(n, device=device), torch.empty(n, device=device)
    best = float("inf")
    for _ in range(6):
        sync(device)
        start = time.perf_counter()
        b.copy_(a)
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * 4 * n / best


def traffic_bytes(states: int, dim: int = 3, hidden: int = HIDDEN, layers: int = 1, stages: int = STAGES) -> float:
    """The memory traffic of one epoch in the model of this module's docstring."""
    return 4.0 * (4 * stages * layers * states * hidden + (2 + 4 * stages) * states * dim)


# -- main ------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--sizes", help="comma-separated B (default 1,16,64 on CPU; 1,16,256,1024 on CUDA)")
    parser.add_argument("--epochs", type=int, default=50, help="timed epochs per measurement")
    parser.add_argument("--warmup", type=int, default=5, help="untimed epochs first (JIT compilation, capture)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the figures are medians over them")
    parser.add_argument("--no-diffrax", action="store_true", help="skip the diffrax row")
    parser.add_argument("--variants", action="store_true",
                        help="also dyncore with capture=False (eager) and with compile=True (torch.compile, then captured)")
    parser.add_argument("--jax-one-thread", action="store_true",
                        help="run XLA on one CPU thread (XLA_FLAGS), as dyncore and torchdiffeq run here; default: XLA's own pool")
    args = parser.parse_args()
    if args.jax_one_thread:  # read when jax is first imported
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # JAX would take 75 % of the GPU's memory from torch
    dev = args.device
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([1, 16, 256, 1024] if dev.startswith("cuda") else [1, 16, 64])

    rows: dict[str, Callable[[Any], float]] = {
        "dyncore": lambda traj: run_dyncore(traj, args.epochs, args.warmup, dev),
        "torchdiffeq": lambda traj: run_torchdiffeq(traj, args.epochs, args.warmup, dev),
    }
    variants = []
    if args.variants:
        rows["dyncore eager"] = lambda traj: run_dyncore(traj, args.epochs, args.warmup, dev, capture=False)
        rows["dyncore compiled"] = lambda traj: run_dyncore(traj, args.epochs, args.warmup, dev, compile=True)
        variants = ["dyncore eager", "dyncore compiled"]
    reason = jax_available()
    if reason is None and jax_device(dev) is None:
        reason = f"JAX has no {'GPU' if dev.startswith('cuda') else 'CPU'} backend here (for CUDA: JAX's CUDA plugin, e.g. pip install 'jax[cuda12]')"
    if reason is None:
        rows["jax"] = lambda traj: run_jax(traj, args.epochs, args.warmup, dev)
        if not args.no_diffrax:
            try:
                import diffrax  # noqa: F401

                rows["diffrax"] = lambda traj: run_jax(traj, args.epochs, args.warmup, dev, use_diffrax=True)
            except ImportError:
                print("diffrax rows skipped: diffrax is not installed (pip install -e \".[bench]\")")
    else:
        print(f"JAX rows skipped: {reason}")

    machine = torch.cuda.get_device_name(dev) if dev.startswith("cuda") else f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    versions = f"torch {torch.__version__}"
    if "jax" in rows:
        import jax

        versions += f", jax {jax.__version__}" + (" (XLA on one thread)" if args.jax_one_thread else "")
    bandwidth = copy_bandwidth(dev)
    print(f"{machine}; {versions}; {torch.get_num_threads()} torch threads before dyncore's own choice; "
          f"copy bandwidth {bandwidth / 1e9:.1f} GB/s; load average {os.getloadavg()[0]:.2f}")
    print(f"{args.epochs} timed epochs after {args.warmup} warm-up, median of {args.repeat} rounds\n")

    names = list(rows)
    peers = [n for n in names[1:] if n not in variants]
    header = ["B (states)", *(f"{n} (ms)" for n in names), *(f"dyncore / {n}" for n in peers),
              "dyncore states/s", "traffic (GB)", "bound (ms)", "dyncore % of bound"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for batch in sizes:
        traj = data_for(batch)
        states = (traj.n - 1) * traj.batch
        times: dict[str, list[float]] = {n: [] for n in names}
        for round_ in range(args.repeat):
            for name in names:
                if name not in variants or round_ == 0:  # the variants once: each torch.compile takes a while
                    times[name].append(rows[name](traj))
        med = {n: statistics.median(v) for n, v in times.items()}
        ratios = [statistics.median(a / b for a, b in zip(times["dyncore"], times[n])) for n in peers]
        traffic = traffic_bytes(states)
        bound = traffic / bandwidth
        cells = [f"{batch} ({states:,})", *(f"{1e3 * med[n]:.2f}" for n in names), *(f"{r:.2f}" for r in ratios),
                 f"{states / med['dyncore']:.3g}", f"{traffic / 1e9:.3g}", f"{1e3 * bound:.3g}", f"{100 * bound / med['dyncore']:.1f}"]
        print("| " + " | ".join(cells) + " |", flush=True)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
