"""``dyncore demo``: the reference study end to end, written as a report (added by the dyncore_demo plugin)."""

from __future__ import annotations

import click


@click.command("demo")
@click.option("-o", "--output", "out", default="demo-report", show_default=True, type=click.Path(file_okay=False),
              help="Report folder (re-running reuses its cached data and runs).")
@click.option("--quick", is_flag=True, help="Tiny epochs and short series: about a minute on a laptop CPU.")
@click.option("--device", default="cpu", show_default=True, help="Torch device for training: cpu or cuda.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seeds the data, training and evaluation.")
@click.option("--step", "steps", multiple=True, metavar="NAME",
              help="Run only this step (repeatable): spiral, lorenz, evaluation, priors, zero_one, stiffness, kuramoto_sivashinsky.")
def demo_command(out: str, quick: bool, device: str, seed: int, steps: tuple[str, ...]) -> None:
    """Reproduce the reference study: both schools on the spiral and Lorenz, their evaluation, learning with a
    prior, the 0-1 test, stiffness, and Kuramoto–Sivashinsky. Writes report.html, report.md and metrics.json.

    Python: dyncore_demo.run_demo(out, quick=..., device=..., seed=..., steps=[...]).
    """
    from dyncore.cli import fail
    from dyncore_demo.steps import run_demo

    result = run_demo(out, quick=quick, device=device, seed=seed, steps=list(steps) or None)
    click.echo(f"report: {result['report']} ({result['seconds']:.0f} s)")
    if result["failed"]:
        names = ", ".join(result["failed"])
        fail(f"demo step(s) failed: {names} (see the report; finished steps are kept and reused on the next run)")
