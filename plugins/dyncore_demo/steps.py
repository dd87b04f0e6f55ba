"""The demo's steps in order, and :func:`run_demo`, which runs them into a report."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dyncore
from dyncore.errors import DyncoreError
from dyncore.io import check_output
from dyncore.report import Section, write_report
from dyncore.threads import ThreadChoice, threads_for
from dyncore_demo.base import Demo
from dyncore_demo.evaluation import evaluation_step
from dyncore_demo.kuramoto_sivashinsky import kuramoto_sivashinsky_step
from dyncore_demo.priors import priors_step
from dyncore_demo.schools import schools_step
from dyncore_demo.stiffness import stiffness_step
from dyncore_demo.zero_one import zero_one_step

STEPS: dict[str, Callable[[Demo], Section]] = {
    "spiral": lambda demo: schools_step(demo, "spiral"),
    "lorenz": lambda demo: schools_step(demo, "lorenz"),
    "evaluation": evaluation_step,
    "priors": priors_step,
    "zero_one": zero_one_step,
    "stiffness": stiffness_step,
    "kuramoto_sivashinsky": kuramoto_sivashinsky_step,
}

INTRO = (
    "Two schools learn dynamics from a trajectory. The RNN learns the trajectory as a time series; the Neural "
    "ODE learns the vector field and integrates it. This report trains both on the same data and asks whether "
    "each learned the system (its vector field, its attractor, its chaos) or only the points. Every step below "
    "lists the commands that reproduce it."
)


def run_demo(out: str | Path = "demo-report", *, quick: bool = False, device: str = "cpu", seed: int = 0,
             steps: list[str] | None = None, log: Callable[[str], None] | None = None,
             threads: int | str | None = None) -> dict[str, Any]:
    """Run the demo steps in order and write ``report.md``, ``report.html`` and ``metrics.json`` into ``out``.

    A failing step is reported in the report and in the returned ``failed`` list, and the others
    still run (a step that needs a failed one fails too, saying why). ``threads``: torch's intra-op
    threads (a count or ``"auto"``; default: chosen per step by its size, see :mod:`dyncore.threads`).

    Returns:
        ``{"report": path to report.html, "metrics": the metrics dict, "failed": {step: message}, "seconds": ...}``.
    """
    demo = Demo(Path(out), quick=quick, device=device, seed=seed, **({"log": log} if log else {}))
    chosen = steps or list(STEPS)
    unknown = [s for s in chosen if s not in STEPS]
    if unknown:
        raise dyncore.UnknownNameError("demo step", unknown[0], STEPS)
    check_output(demo.out, directory=True)
    demo.out.mkdir(parents=True, exist_ok=True)
    with threads_for(None, threads) as choice:
        demo.log(f"threads: {choice.describe()}; each training sizes its own (see its config.json)")
        return _run_steps(demo, chosen, choice)


def _run_steps(demo: Demo, chosen: list[str], choice: ThreadChoice) -> dict[str, Any]:
    """The body of :func:`run_demo`: each step in order, then the report."""
    sections, failed = [], {}
    start = time.perf_counter()
    for i, name in enumerate(chosen, 1):
        demo.log(f"[{i}/{len(chosen)}] {name}")
        step_start = time.perf_counter()
        try:
            sections.append(STEPS[name](demo))
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one step's failure must not lose the others
            message = str(exc) if isinstance(exc, DyncoreError) else f"{type(exc).__name__}: {exc}"
            failed[name] = message
            sections.append(Section(name, error=message))
            demo.log(f"  step {name!r} failed: {message}")
        demo.log(f"  {name} done in {time.perf_counter() - step_start:.1f} s")
    seconds = time.perf_counter() - start
    demo.metrics["demo"] = {"quick": demo.quick, "device": demo.device, "seed": demo.seed, "seconds": seconds, "failed": failed,
                            "threads": choice.as_dict(), "dyncore_version": dyncore.__version__}
    title = "dyncore demo: learning dynamics, trajectory versus vector field" + (" (quick)" if demo.quick else "")
    intro = INTRO + f"\n\nReproduce the whole report with: dyncore demo -o {demo.out}{demo.flag}"
    paths = write_report(demo.out, title, intro, sections, demo.metrics)
    return {"report": paths["html"], "markdown": paths["markdown"], "metrics": demo.metrics, "failed": failed, "seconds": seconds}
