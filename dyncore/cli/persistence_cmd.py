"""``dyncore persistence``: does a trained model stay chaotic over 10^4 Lyapunov times, and if not, onto what does it fall?"""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("persistence")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--system", "system_name", default=None, help="True system the starts come from (default: the one the run was trained on).")
@click.option("--lyapunov-times", type=float, default=1e4, show_default=True, help="Length of each free run, in Lyapunov times.")
@click.option("--window-lyapunov-times", type=float, default=100.0, show_default=True,
              help="Length of each window the 0-1 test reads, in Lyapunov times.")
@click.option("--duration", type=float, default=None, help="Length of each run in time units (needed without a positive lambda_1).")
@click.option("--window", type=float, default=None, help="Window length in time units (needed without a positive lambda_1).")
@click.option("--n-starts", type=int, default=8, show_default=True, help="Starts on the true attractor, run as one batch.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the starts and of the 0-1 test.")
@click.option("--dt", type=float, default=None, help="Sampling step [the run's training step].")
@click.option("--threshold", type=float, default=None, help="K below which a window is not chaotic [0.8, the 0-1 test's].")
@click.option("--rollout", type=click.Choice(["quick", "full"]), default="quick", show_default=True,
              help="quick: the model's training step on the output grid; full: its rollout (adaptive for a NODE, ~70x slower).")
@click.option("-o", "--plot", "plot_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Save the figure (K per window against time): .png, .svg or .pdf.")
@click.option("--force", is_flag=True, help="Replace an existing figure.")
@click.option("--json", "as_json", is_flag=True, help="Print every number as JSON.")
@click.option("--progress/--no-progress", default=None, help="Progress on stderr (default: when stderr is a terminal).")
def persistence_command(run_dir: Path, system_name: str | None, lyapunov_times: float, window_lyapunov_times: float,
                        duration: float | None, window: float | None, n_starts: int, seed: int, dt: float | None,
                        threshold: float | None, rollout: str, plot_path: Path | None, force: bool, as_json: bool,
                        progress: bool | None) -> None:
    """Run the model in RUN_DIR freely from several starts for a long time; report when each stops being chaotic.

    The 0-1 test's K is computed on successive windows; a start stops being chaotic where K stays
    below the threshold to the end, and its fate (fixed point, cycle, regular, blow-up) is read from
    its last window. Python: dyncore.persistence.chaos_persistence(run, system, lyapunov_times=...).
    """
    import dyncore
    from dyncore import plotting
    from dyncore.errors import ConfigError
    from dyncore.io import check_output
    from dyncore.persistence import chaos_persistence

    if plot_path is not None:
        if plot_path.suffix.lower() not in plotting.FORMATS:
            raise ConfigError(f"cannot save a figure as {plot_path.name}: use a {', '.join(plotting.FORMATS)} file name")
        check_output(plot_path, force)  # before the minutes of work, not after
    run = dyncore.Run.load(run_dir)
    result = chaos_persistence(run, system_name, lyapunov_times=lyapunov_times, window_lyapunov_times=window_lyapunov_times,
                               duration=duration, window=window, n_starts=n_starts, seed=seed, dt=dt, threshold=threshold,
                               rollout=rollout, progress=progress)
    if plot_path is not None:
        plotting.save(plotting.persistence(result), plot_path)
    if as_json:
        click.echo(json.dumps(result.to_dict()))
    else:
        click.echo(f"{result.model} on {result.system}: {result.headline()}")
        for i, (stop, fate, period, blew) in enumerate(zip(result.stopped, result.fates, result.periods, result.blew_up)):
            when = "never stopped" if stop is None else f"stopped at {result.in_units(stop):.4g}"
            extra = f", period {period:.4g} time units" if period else ""
            extra += f", blew up at {result.in_units(blew):.4g}" if blew is not None else ""
            if fate == "fixed point" and len(result.ends[i]) <= 4:
                extra += ", at (" + ", ".join(f"{v:.4g}" for v in result.ends[i]) + ")"
            click.echo(f"  start {i}: {fate} ({when}{extra})")
        for note in result.notes:
            click.echo(f"  note: {note}")
    if plot_path is not None:
        click.echo(f"wrote {plot_path}", err=as_json)
