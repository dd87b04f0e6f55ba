"""What every demo step shares: the :class:`Demo` (where it writes, how big it runs) and cached data and runs."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dyncore
from dyncore.errors import DyncoreError
from dyncore.io import atomic_write
from dyncore.trajectory import Trajectory

#: Bumped whenever a step's recipe changes, so that stale caches are recomputed.
CACHE_VERSION = 3  # 3: the full demo trains the Lorenz NODE with the chaotic recipe


@dataclass
class Demo:
    """Where the demo writes, how big it runs, and what the steps have produced so far.

    Args:
        out: the report folder.
        quick: tiny epochs and short series (about a minute on a laptop CPU).
        device: torch device for training ("cpu" or "cuda").
        seed: seeds data, training and evaluation.
        log: progress sink (one line per message).
    """

    out: Path
    quick: bool = False
    device: str = "cpu"
    seed: int = 0
    log: Callable[[str], None] = field(default=lambda message: print(message, file=sys.stderr, flush=True))
    metrics: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.out = Path(self.out)

    @property
    def flag(self) -> str:
        """The CLI flags that reproduce this configuration."""
        return " --quick" * self.quick + (f" --device {self.device}" if self.device != "cpu" else "") + (
            f" --seed {self.seed}" if self.seed else ""
        )

    def path(self, *parts: str) -> Path:
        path = self.out.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def figure(self, fig: Any, name: str) -> str:
        """Save ``fig`` as ``figures/name.png``; returns the path relative to the report."""
        from dyncore import plotting

        plotting.save(fig, self.path("figures", f"{name}.png"))
        return f"figures/{name}.png"

    def cached(self, step: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The JSON results of ``step``: from its cache file when it matches this configuration, else computed."""
        key = {"version": CACHE_VERSION, "quick": self.quick, "seed": self.seed, "device": self.device}
        path = self.path("steps", f"{step}.json")
        if path.exists():
            try:
                stored = json.loads(path.read_text())
                if stored.get("key") == key and all((self.out / f).exists() for f in stored.get("files", [])):
                    self.log(f"  {step}: cached")
                    return stored["results"]
            except (OSError, json.JSONDecodeError):
                pass  # a damaged cache is recomputed
        results = compute()
        files = [f for f, _ in results.get("figures", [])]
        with atomic_write(path, "w") as f:
            json.dump({"key": key, "files": files, "results": results}, f, indent=1, default=float)
        return results


def simulate_cached(demo: Demo, name: str, system: str, **kwargs: Any) -> Trajectory:
    """Simulate ``system`` once into ``data/name.npz``; later runs load the file."""
    path = demo.path("data", f"{name}.npz")
    if path.exists():
        try:
            return Trajectory.load(path)
        except DyncoreError:
            demo.log(f"  data/{name}.npz is unreadable; simulating it again")
    trajectory = dyncore.simulate(system, **kwargs)
    trajectory.save(path)
    return trajectory


def epochs(demo: Demo) -> int:
    return 60 if demo.quick else 2000


def snapshot_every(demo: Demo) -> int:
    """Eight snapshots per run in the quick demo, one every 20 epochs (as in the article) in the full one."""
    return epochs(demo) // 8 if demo.quick else 20


def train_cached(demo: Demo, name: str, model: str, data: Trajectory, hparams: dict[str, Any], recipe: str | None = None,
                 **options: Any) -> dyncore.Run:
    """Train into ``runs/name`` unless a complete run with the same recipe and data is already there.

    With a named ``recipe`` its own epochs and options apply (``docs/recipes.md``); without, the demo's epochs.
    """
    out = demo.path("runs", name)
    options = {**({} if recipe else {"epochs": epochs(demo)}), "seed": demo.seed, "device": demo.device, **options}
    if (out / "config.json").exists():
        try:
            run = dyncore.Run.load(out, device=demo.device)
            same_recipe = run.config.get("recipe") == recipe and all(run.config["trainer"]["options"].get(k) == v for k, v in options.items())
            if run.status == "complete" and same_recipe and run.config["data"]["hash"] == data.content_hash():
                demo.log(f"  {name}: reusing the trained run in {out}")
                return run
        except DyncoreError as exc:
            demo.log(f"  {name}: cannot reuse {out} ({exc}); training again")
    demo.log(f"  {name}: training {model} " + (f"with recipe {recipe!r}" if recipe else f"for {options['epochs']} epochs"))
    return dyncore.train(model, data, hparams=hparams, out=out, force=True, snapshot_every=snapshot_every(demo), recipe=recipe, **options)
