"""``dyncore sweep``: run a grid of systems x models x settings x seeds from a TOML spec, locally or on Ray."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("sweep")
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Sweep directory: cells/, results.csv, results.json, summary.md, figures/.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: a process pool on this machine; ray: a Ray cluster (pip install 'dyncore[ray]').")
@click.option("--address", default=None, help="Ray cluster to join (ray.init(address=...)); default: start a local one.")
@click.option("--workers", type=int, default=None, help="Cells run at once [this machine's cores].")
@click.option("--seeds", type=int, default=None, help="Replace the spec's seeds by 0 .. N-1.")
@click.option("--resume", is_flag=True, help="Continue the sweep in the directory: finished cells are kept, the rest run.")
@click.option("--yes", is_flag=True, help="Run a grid of more than 10,000 cells.")
@click.option("--retries", type=int, default=3, show_default=True, help="Restarts of a cell whose worker process died.")
@click.option("--quiet", is_flag=True, help="No progress lines.")
def sweep_command(spec: Path, output: Path, executor: str, address: str | None, workers: int | None, seeds: int | None,
                  resume: bool, yes: bool, retries: int, quiet: bool) -> None:
    """Train and evaluate every cell of the sweep SPEC (TOML) and write a results table, a summary and figures.

    Each cell (system, model, settings, seed) is a directory named by a hash of its configuration;
    finished cells are never redone, so --resume after Ctrl-C or a lost worker runs only the rest.
    A failing cell is recorded with its one-line error and the sweep goes on; the exit status is 1
    when any cell failed. See docs/sweeps.md.
    Python: dyncore.sweep(SPEC, OUTPUT, executor=..., address=..., workers=..., resume=...).
    """
    import dyncore
    from dyncore.errors import DyncoreError

    result = dyncore.sweep(spec, output, executor=executor, address=address, workers=workers, resume=resume, yes=yes,
                           seeds=seeds, retries=retries, progress=not quiet)
    total = len(result.rows)
    click.echo(f"{total - result.failed} of {total} cells ok ({result.ran} run now, {result.skipped} already finished); "
               f"wrote {output / 'results.csv'}, {output / 'summary.md'}")
    if result.failed:
        raise DyncoreError(f"{result.failed} of {total} cells failed (their errors: column 'error' of {output / 'results.csv'}); "
                           f"fix them and rerun with --resume, which runs only the failed and unfinished cells")
