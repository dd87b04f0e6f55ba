"""``dyncore plot``: one figure of a data file or a run directory."""

from __future__ import annotations

import click

KINDS = ["trajectory", "space-time", "zero-one", "snapshots", "loss", "prediction", "vector-field"]


@click.command("plot")
@click.argument("source", type=click.Path())
@click.option("--kind", type=click.Choice(KINDS),
              help="Figure to draw. Data files: trajectory (default), space-time, zero-one. "
                   "Run directories: snapshots (default), loss, prediction, vector-field.")
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False), help="Figure file: .png, .svg or .pdf.")
@click.option("--force", is_flag=True, help="Replace an existing figure file.")
def plot_command(source: str, kind: str | None, out: str, force: bool) -> None:
    """Draw a figure of SOURCE (a .npz/.csv data file or a run directory) into -o.

    Python: dyncore.plotting.figure_from_path(source, kind), then dyncore.plotting.save(fig, path).
    """
    from pathlib import Path

    from dyncore import plotting
    from dyncore.errors import ConfigError
    from dyncore.io import check_output

    target = Path(out)
    if target.suffix.lower() not in plotting.FORMATS:
        raise ConfigError(f"cannot save a figure as {target.name}: use a {', '.join(plotting.FORMATS)} file name")
    check_output(target, force)
    plotting.save(plotting.figure_from_path(source, kind), target)
    click.echo(f"wrote {target}")
