"""``dyncore compare``: train node, rnn, sindy and esn on the same data and judge them on the same held-out starts."""

from __future__ import annotations

from pathlib import Path

import click

from dyncore.defaults import COMPARE_MODELS


@click.command("compare")
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--models", default=",".join(COMPARE_MODELS), show_default=True, help="Comma-separated model names.")
@click.option("--system", "system_name", default=None, help="System of the held-out starts (default: the data's own).")
@click.option("--seeds", type=int, default=3, show_default=True, help="Training seeds per model (0, 1, ...).")
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for compare.md, compare.csv, compare.json and compare.png.")
@click.option("--epochs", type=int, default=None, help="Epochs of the gradient-trained models (default: their recipe, 2000).")
@click.option("--n-tests", type=int, default=8, show_default=True, help="Held-out starts, the same for every model.")
@click.option("--lyapunov-steps", type=int, default=None, help="Steps averaged per start for lambda_1 (default: evaluate's).")
@click.option("--long-time", type=float, default=None, help="Length of the long free runs (default: evaluate's, 100 Lyapunov times).")
@click.option("--horizon", type=float, default=None, help="Length of the VPT trajectories (default: evaluate's, 10 Lyapunov times).")
@click.option("--force", is_flag=True, help="Replace a comparison in the output directory.")
def compare_command(data: Path, models: str, system_name: str | None, seeds: int, out: Path, epochs: int | None,
                    n_tests: int, lyapunov_steps: int | None, long_time: float | None, horizon: float | None, force: bool) -> None:
    """Train each model on DATA with its own recipe, evaluate all on the same held-out starts, write one table.

    A model whose plugin is not installed is skipped with the extra that installs it; one that fails
    is recorded in the table with its reason.
    Python: dyncore.compare(data, models, system=..., seeds=..., out=..., epochs=..., n_tests=...).
    """
    from dyncore.comparison import compare, markdown

    names = [m.strip() for m in models.split(",") if m.strip()]
    result = compare(data, names, system=system_name, seeds=seeds, out=out, force=force, epochs=epochs, n_tests=n_tests,
                     lyapunov_steps=lyapunov_steps, long_time=long_time, horizon=horizon, progress=lambda line: click.echo(f"compare: {line}", err=True))
    click.echo(markdown(result), nl=False)
    click.echo(f"wrote {out}/compare.md, compare.csv, compare.json, compare.png")
