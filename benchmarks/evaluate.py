"""Time of ``dyncore.evaluate`` with its defaults beyond three dimensions, stage by stage (issue 14).

Target: ``dyncore evaluate`` with its defaults under 1 minute for systems up to 64 dimensions on 2 cores.
Cases, on Lorenz-96 with N = 10 and N = 64: "exact", a model whose field is Lorenz-96 itself (RK4
rollout, one step per sample: evaluate's own cost, whatever the training); a NODE (default
hyperparameters, ``--epochs`` full-batch epochs); "node-rk4", the same weights with
``rollout_solver="rk4"`` (the rollout by the training method); and the echo state network of
plugins/dyncore-reservoir (600 units) when it is installed. Lorenz-96 is defined here (no built-in
plugin ships it): ``x_i' = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F``, F = 8, periodic, sampled every
0.05; it publishes no exponents, so ``evaluate`` computes the true ones (part of "plan").

Each evaluate call is timed as a whole and per stage (plan: step, lengths and the true exponents;
held-out data; short term: the VPT forecasts; long term: the long free runs, of which "forecast"
is the model's own rollout and "lyapunov" the learned exponents). Run one case per process on a
loaded machine (the numbers then say as much about the load as about dyncore; report ``uptime``).

Usage:

    OMP_NUM_THREADS=1 python benchmarks/evaluate.py [--n 10 64] [--models exact node node-rk4 esn] [--epochs 500]
        [--lyapunov-steps N]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np
import torch

import dyncore
import dyncore.evaluation as evaluation
import dyncore.metrics as metrics
from dyncore.system import System


class Lorenz96(System):
    """Lorenz-96 with ``n`` sites and forcing ``F``: chaotic for F = 8 and n >= 5 (lambda_1 ~ 1.2 at n = 10)."""

    name = "lorenz96"
    default_params: ClassVar[dict[str, Any]] = {"n": 10, "forcing": 8.0}
    default_solver: ClassVar[str] = "dop853"
    default_transient: ClassVar[float] = 10.0

    @property
    def dim(self) -> int:
        return int(self.params["n"])

    def vector_field(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return (torch.roll(x, -1, -1) - torch.roll(x, 2, -1)) * torch.roll(x, 1, -1) - x + self.params["forcing"]

    def default_x0(self) -> torch.Tensor:
        x = torch.full((self.dim,), float(self.params["forcing"]), dtype=torch.float64)
        x[0] += 0.01
        return x

    def default_times(self) -> torch.Tensor:
        return torch.linspace(0.0, 20.0, 401, dtype=torch.float64)

    def random_x0(self, batch: int, seed: int) -> torch.Tensor:
        return torch.from_numpy(np.random.default_rng(seed).normal(0.0, 3.0, size=(batch, self.dim)))


class ExactLorenz96(dyncore.Model):
    """A model whose field is Lorenz-96 itself, rolled out by one classic RK4 step per sample: evaluate's own cost, no training."""

    name: ClassVar[str] = "exact_lorenz96"
    default_hparams: ClassVar[dict[str, Any]] = {"n": 10}

    @property
    def context_length(self) -> int:
        return 1

    def prepare(self, trajectory: Any = None, dim: int | None = None) -> None:
        self.dim = int(self.hparams["n"])
        self.system = Lorenz96(n=self.dim)

    def examples(self, trajectory: Any, lookahead: int = 1) -> dict[str, torch.Tensor]:
        return {"x": torch.as_tensor(trajectory.x)}

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return batch["x"].sum() * 0.0

    def vector_field(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.system.vector_field(t, x)

    def rollout(self, context: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        x, out = context[-1], [context[-1]]
        for h in torch.diff(torch.as_tensor(t, dtype=x.dtype)).tolist():
            x = metrics.classic_rk4_step(self.vector_field, h)(x)
            out.append(x)
        return torch.stack(out)


@contextlib.contextmanager
def stage_timers() -> Iterator[dict[str, float]]:
    """Wrap evaluate's stages (module globals, looked up at call time) with timers; yields seconds per stage."""
    seconds: dict[str, float] = defaultdict(float)
    patched: list[tuple[Any, str, Callable]] = []

    def wrap(owner: Any, attr: str, label: str) -> None:
        original = getattr(owner, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                seconds[label] += time.perf_counter() - start

        patched.append((owner, attr, original))
        setattr(owner, attr, timed)

    for attr, label in (("plan_evaluation", "plan"), ("_compute_exponents", "true exponents"), ("held_out_data", "held-out data"),
                        ("short_term", "short term"), ("long_term", "long term"), ("_learned_lyapunov", "lyapunov")):
        wrap(evaluation, attr, label)
    wrap(metrics, "forecast", "long forecast")  # long_term calls metrics.forecast; the VPT's forecast is inside short term
    try:
        yield seconds
    finally:
        for owner, attr, original in reversed(patched):
            setattr(owner, attr, original)


def train(model: str, system: Lorenz96, epochs: int) -> Any:
    if model == "exact":
        exact = ExactLorenz96(n=system.dim)
        exact.prepare()
        return exact
    data = system.simulate(batch=8, seed=0, transient=10.0)
    options: dict[str, Any] = {"seed": 0, "progress": False}
    if model == "esn":
        return dyncore.train("esn", data, hparams={"reservoir": 600}, **options)
    return dyncore.train("node", data, epochs=epochs, **options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10, 64], help="Lorenz-96 sizes")
    parser.add_argument("--models", nargs="+", default=["exact", "node", "node-rk4", "esn"], choices=["exact", "node", "node-rk4", "esn"])
    parser.add_argument("--epochs", type=int, default=500, help="NODE training epochs (full batch)")
    parser.add_argument("--lyapunov-steps", type=int, default=None, help="override evaluate's default (to time a slow model per step)")
    args = parser.parse_args()
    if "esn" in args.models and "esn" not in dyncore.models:
        print("esn: skipped (plugins/dyncore-reservoir is not installed)")
        args.models = [m for m in args.models if m != "esn"]
    print("| model | N | evaluate (s) | plan | of it true exponents | held-out data | short term | long term | of it forecast | of it lyapunov | long run | lambda_1 learned / true |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in args.n:
        system = Lorenz96(n=n)
        runs: dict[str, dyncore.Run] = {}
        for label in args.models:
            base = label.removesuffix("-rk4")
            if base not in runs:
                runs[base] = train(base, system, args.epochs)
            run = runs[base]
            if label == "node-rk4":  # the same weights, rolled out by the training method
                run = copy.copy(run)
                run.model = copy.deepcopy(run.model)
                run.model.hparams["rollout_solver"] = "rk4"
            evaluation._TRUE_SPECTRA.clear()  # as in a fresh `dyncore evaluate` process
            with stage_timers() as seconds:
                start = time.perf_counter()
                result = dyncore.evaluate(run, system, lyapunov_steps=args.lyapunov_steps)
                total = time.perf_counter() - start
            learned = result.lyapunov.learned[0] if result.lyapunov.learned else None
            true = result.lyapunov.true[0] if result.lyapunov.true else None
            cells = [label, str(n), f"{total:.1f}"] + [f"{seconds[k]:.1f}" for k in ("plan", "true exponents", "held-out data", "short term", "long term")]
            cells += [f"{seconds['long forecast']:.1f}", f"{seconds['lyapunov']:.1f}", result.long_run,
                      f"{learned if learned is None else round(learned, 3)} / {true if true is None else round(true, 3)}"]
            print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
