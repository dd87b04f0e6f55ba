"""Training speed and reference results, each ratio against a plain torch + torchdiffeq script contained here.

Targets (issue 4), all measured in one run, side by side:
- seconds per epoch, NODE on the reference Lorenz data (999 x 3 batch, 3-256-3 ReLU MLP, one RK4
  step, full batch): dyncore / plain <= 0.5;
- a whole 2000-epoch run with a snapshot (free rollout from the first state) every 20 epochs:
  dyncore / plain <= 0.1 (the plain recipe re-integrates with adaptive dopri5 at torchdiffeq's
  default tolerance, as the reference notebook did; dyncore takes fixed RK4 steps on the data grid);
- seconds per epoch, windowed RNN (window 3, 2 x 128 ReLU, Linear head): dyncore / plain <= 1.0.
Reference results from the same runs: dyncore's NODE one-step training MSE (physical units) at
most the plain recipe's with the same seed and epochs, its free rollout bounded and not collapsed
to a point; the spiral NODE (2-128-2) reproduces its training trajectory to MSE < 1e-3.

Private-API rows (issue 10): each private torch call dyncore makes is kept only while a row of its
own shows it gains over the public API, measured side by side (ratios within one run, alternated):
- the fused NODE step's activation derivatives: ``aten.threshold_backward`` and the other
  ``aten.*_backward`` ops (private, in place) / public tensor operations, one row per activation;
- the fused NODE step itself / plain autograd through the MLP (``rk_step``).
(A lean Adam step over ``torch._fused_adam_`` was measured the same way and removed: NODE 1.06,
RNN 1.01 against ``torch.optim.Adam(fused=True)``; see docs/benchmarks.md.)

Usage:

    python benchmarks/train.py [--repeat 3] [--epochs 300] [--run-epochs 2000] [--threads 1] [--device cpu] [--only private-api]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn
from torchdiffeq import odeint

import dyncore

# -- the plain reference recipes, written as a practitioner would ---------------------------------


class LorenzTrain(nn.Module):
    """The reference notebook's NODE network: 3-256-3 with ReLU, a ``forward(t, x)`` for odeint."""

    def __init__(self, dim: int = 3, hidden: int = 256) -> None:
        super().__init__()
        self.lin = nn.Linear(dim, hidden)
        self.lin3 = nn.Linear(hidden, dim)
        self.relu = nn.ReLU()

    def forward(self, t, x):
        return self.lin3(self.relu(self.lin(x)))


def plain_node(traj, epochs: int, snapshot_every: int, device: str, seed: int = 0, hidden: int = 256):
    """Full-batch NODE training with torchdiffeq: odeint(rk4) over [t0, t1] from all 999 states at once."""
    torch.manual_seed(seed)
    true_y = torch.tensor(traj.x, dtype=torch.float32, device=device)
    t = torch.tensor(traj.t, dtype=torch.float32, device=device)
    func = LorenzTrain(traj.dim, hidden).to(device)
    optimizer = torch.optim.Adam(func.parameters(), lr=1e-2)
    batch_y0, batch_t = true_y[:-1], t[:2]
    batch_y = torch.stack([true_y[:-1], true_y[1:]])
    snapshots = []
    start = time.perf_counter()
    for itr in range(epochs):
        if itr == int(0.9 * epochs):
            for group in optimizer.param_groups:
                group["lr"] = 1e-3
        optimizer.zero_grad()
        pred_y = odeint(func, batch_y0, batch_t, method="rk4")
        loss = torch.mean((pred_y - batch_y) ** 2)
        loss.backward()
        optimizer.step()
        if snapshot_every and (itr + 1) % snapshot_every == 0:
            with torch.no_grad():
                snapshots.append(odeint(func, true_y[0], t).cpu().numpy())  # dopri5, rtol 1e-7, atol 1e-9
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        one_step = odeint(func, batch_y0, batch_t, method="rk4")[1]
        mse = float(torch.mean((one_step - true_y[1:]) ** 2))
    return seconds, mse, snapshots


class FcRNN(nn.Module):
    """The reference notebook's RNN: nn.RNN(relu, batch_first) and a Linear head on the last output."""

    def __init__(self, input_size: int, hidden_dim: int, output_size: int, n_layers: int) -> None:
        super().__init__()
        self.hidden_dim, self.n_layers = hidden_dim, n_layers
        self.rnn = nn.RNN(input_size, hidden_dim, n_layers, nonlinearity="relu", batch_first=True)
        self.fc = nn.Linear(hidden_dim, output_size)

    def forward(self, x):
        bs = x.shape[0]
        h0 = torch.zeros(self.n_layers, bs, self.hidden_dim, device=x.device).requires_grad_()
        out, _ = self.rnn(x, h0.detach())
        out = self.fc(out.reshape(bs, -1, self.hidden_dim))
        return out[:, -1, :]


def plain_rnn(traj, epochs: int, device: str, window: int = 3, seed: int = 0) -> float:
    torch.manual_seed(seed)
    z = torch.tensor(traj.x, dtype=torch.float32, device=device)
    inputs = torch.stack([z[i : i + window] for i in range(len(z) - window)])
    targets = z[window:]
    model = FcRNN(traj.dim, 128, traj.dim, 2).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    start = time.perf_counter()
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = torch.mean((model(inputs) - targets) ** 2)
        loss.backward()
        optimizer.step()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / epochs


# -- dyncore -------------------------------------------------------------------------------------


def ours(model: str, traj, epochs: int, device: str, **options):
    run = dyncore.train(model, traj, epochs=epochs, device=device, progress=False, **options)
    return run.history.wall_time[-1], run


def one_step_mse(run, traj) -> float:
    """Physical-units MSE of one training-method step from every state, as the plain recipe measures it."""
    context = torch.as_tensor(traj.x[:-1])[None]  # (1, 999, 3): every state a start
    with torch.no_grad():
        pred = run.model.quick_rollout(context, torch.as_tensor(traj.t[:2]))[1]
    return float(np.mean((pred.cpu().numpy() - traj.x[1:]) ** 2))


def on_attractor(x: np.ndarray, data: np.ndarray) -> str:
    """'yes' when the second half of a free run is bounded (within 2x the data's range) and still moving."""
    tail = x[len(x) // 2 :]
    bounded = np.all(np.abs(tail) <= 2 * np.abs(data).max())
    moving = np.all(tail.std(axis=0) > 0.2 * data.std(axis=0))
    return "yes" if bounded and moving else f"no (bounded {bounded}, moving {moving})"


def median_ratio(pairs: list[tuple[float, float]]) -> tuple[float, float, float]:
    ours_s = statistics.median(p[0] for p in pairs)
    plain_s = statistics.median(p[1] for p in pairs)
    return ours_s, plain_s, statistics.median(p[0] / p[1] for p in pairs)


# -- private torch API against its public counterpart ---------------------------------------------


#: The fused NODE step's activation derivatives, ``grad *= act'(z)`` in place: by torch's private
#: ``aten.*_backward`` ops, and by public tensor operations (what :mod:`dyncore_models.mlp` would use instead).
SQRT_2, SQRT_2PI = 2.0**0.5, (2.0 * 3.141592653589793) ** 0.5
PRIVATE_DERIVATIVES = {
    "relu": lambda g, z, a: torch.ops.aten.threshold_backward.grad_input(g, a, 0, grad_input=g),
    "tanh": lambda g, z, a: torch.ops.aten.tanh_backward.grad_input(g, a, grad_input=g),
    "softplus": lambda g, z, a: torch.ops.aten.softplus_backward.grad_input(g, z, 1, 20, grad_input=g),
    "gelu": lambda g, z, a: torch.ops.aten.gelu_backward.grad_input(g, z, grad_input=g),
    "silu": lambda g, z, a: torch.ops.aten.silu_backward.grad_input(g, z, grad_input=g),
}
PUBLIC_DERIVATIVES = {
    "relu": lambda g, z, a: g.masked_fill_(a <= 0, 0),
    "tanh": lambda g, z, a: g.mul_(1 - a * a),
    "softplus": lambda g, z, a: g.mul_(torch.sigmoid(z).masked_fill_(z > 20, 1.0)),
    "gelu": lambda g, z, a: g.mul_(0.5 * (1 + torch.erf(z / SQRT_2)) + z * torch.exp(-0.5 * z * z) / SQRT_2PI),
    "silu": lambda g, z, a: g.mul_(torch.sigmoid(z) * (1 + z * (1 - torch.sigmoid(z)))),
}


@contextlib.contextmanager
def derivative(name: str, table: dict) -> Iterator[None]:
    """The fused step's ``name`` derivative taken from ``table`` for the duration."""
    import dataclasses

    from dyncore_models import mlp

    saved = mlp.ACTIVATIONS[name]
    mlp.ACTIVATIONS[name] = dataclasses.replace(saved, backward_=table[name])
    try:
        yield
    finally:
        mlp.ACTIVATIONS[name] = saved


@contextlib.contextmanager
def autograd_step(on: bool) -> Iterator[None]:
    """With ``on``: the NODE's training step by plain autograd through the MLP (``rk_step``), not :class:`FusedMLPStep`."""
    from dyncore_models.node import NeuralODE

    saved = NeuralODE.fused
    if on:
        NeuralODE.fused = property(lambda self: False)
    try:
        yield
    finally:
        NeuralODE.fused = saved


def private_api_rows(traj, epochs: int, repeat: int, dev: str) -> None:
    """One row per private call: the private variant / the public one, alternated, ratios per run and their median."""
    rows = []
    for name in PRIVATE_DERIVATIVES:
        rows.append(("NODE", f"{name} derivative", lambda n=name: derivative(n, PRIVATE_DERIVATIVES),
                     lambda n=name: derivative(n, PUBLIC_DERIVATIVES), {"hparams": {"activation": name}}))
    rows.append(("NODE", "fused step vs plain autograd", lambda: autograd_step(False), lambda: autograd_step(True), {}))
    for model, label, private, public, options in rows:
        for variant in (private, public):  # warm-up of both paths
            with variant():
                ours(model.lower(), traj, 10, dev, **options)
        pairs = []
        for _ in range(repeat):
            with private():
                a, _ = ours(model.lower(), traj, epochs, dev, **options)
            with public():
                b, _ = ours(model.lower(), traj, epochs, dev, **options)
            pairs.append((a / epochs, b / epochs))
        o, p, r = median_ratio(pairs)
        spread = ", ".join(f"{x / y:.2f}" for x, y in pairs)
        print(f"{model} epoch, {label}: private {o * 1e3:.2f} ms, public {p * 1e3:.2f} ms, ratio {r:.3f} "
              f"(runs: {spread}; below 1: the private call gains)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="side-by-side repetitions of the per-epoch timings")
    parser.add_argument("--epochs", type=int, default=300, help="epochs per per-epoch timing")
    parser.add_argument("--run-epochs", type=int, default=2000, help="epochs of the whole runs (0 skips them)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", choices=["private-api"], help="run only these rows")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = args.device
    lorenz = dyncore.simulate("lorenz")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {dev}")
    if args.only == "private-api":
        private_api_rows(lorenz, args.epochs, args.repeat, dev)
        return

    ours("node", lorenz, 20, dev)  # warm-up (imports, allocator)
    plain_node(lorenz, 20, 0, dev)
    pairs = []
    for _ in range(args.repeat):
        o, _ = ours("node", lorenz, args.epochs, dev)
        p, _, _ = plain_node(lorenz, args.epochs, 0, dev)
        pairs.append((o / args.epochs, p / args.epochs))
    o, p, r = median_ratio(pairs)
    print(f"NODE epoch (Lorenz, 999 x 3, 3-256-3, RK4): dyncore {o * 1e3:.2f} ms, plain {p * 1e3:.2f} ms, ratio {r:.3f} (target <= 0.5)")

    pairs = []
    ours("rnn", lorenz, 20, dev)
    for _ in range(args.repeat):
        o, _ = ours("rnn", lorenz, args.epochs, dev)
        pairs.append((o / args.epochs, plain_rnn(lorenz, args.epochs, dev)))
    o, p, r = median_ratio(pairs)
    print(f"RNN epoch (Lorenz, window 3, 2 x 128): dyncore {o * 1e3:.2f} ms, plain {p * 1e3:.2f} ms, ratio {r:.3f} (target <= 1.0)")

    if args.run_epochs:
        n = args.run_epochs
        o, run = ours("node", lorenz, n, dev, snapshot_every=20)
        p, plain_mse, plain_snaps = plain_node(lorenz, n, 20, dev)
        print(f"whole run, {n} epochs, snapshot every 20: dyncore {o:.1f} s, plain {p:.1f} s, ratio {o / p:.3f} (target <= 0.1)")
        mse = one_step_mse(run, lorenz)
        print(f"NODE one-step training MSE after {n} epochs (seed 0): dyncore {mse:.3e}, plain {plain_mse:.3e} "
              f"({'at most' if mse <= plain_mse else 'ABOVE'} plain)")
        with torch.no_grad():
            free = run.model.rollout(torch.as_tensor(lorenz.x[:1]), torch.as_tensor(np.linspace(0, 50, 5001))).numpy()
        print(f"NODE free rollout over t in [0, 50] stays on the attractor: {on_attractor(free, lorenz.x)}; "
              f"plain's last snapshot: {on_attractor(plain_snaps[-1], lorenz.x)}")

        spiral = dyncore.simulate("spiral")
        _, run = ours("node", spiral, n, dev, hparams={"hidden": 128})
        with torch.no_grad():
            x = run.model.rollout(torch.as_tensor(spiral.x[:1]), torch.as_tensor(spiral.t)).numpy()
        print(f"spiral NODE (2-128-2, {n} epochs): rollout MSE against its training trajectory {np.mean((x - spiral.x) ** 2):.2e} (target < 1e-3)")

    private_api_rows(lorenz, args.epochs, args.repeat, dev)


if __name__ == "__main__":
    main()
