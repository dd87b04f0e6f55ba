"""``dyncore evaluate``: did a trained model learn the system? VPT, Lyapunov exponents, 0-1 test, distances."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("evaluate")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--data", "data_path", type=click.Path(path_type=Path), default=None,
              help="Held-out trajectories (.npz/.csv, (n, [batch,] dim) on a uniform grid).")
@click.option("--system", "system_name", default=None,
              help="Draw held-out trajectories from this system (default: the one the run was trained on).")
@click.option("--n-tests", type=int, default=20, show_default=True, help="Held-out starts drawn from the system.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the held-out starts (the data default is 0).")
@click.option("--horizon", type=float, default=None, help="Length of the VPT trajectories [10 Lyapunov times].")
@click.option("--long-time", type=float, default=None, help="Length of the long free runs [100 Lyapunov times, else 4 reference spans].")
@click.option("--transient", type=float, default=None,
              help="Time integrated before each held-out start [20 Lyapunov times, else 5 periods, else the system's transient].")
@click.option("--persistence", type=float, default=None, metavar="LT",
              help="Also run 8 free runs for LT Lyapunov times and report when each stops being chaotic (minutes; see `dyncore persistence`).")
@click.option("--cycles", is_flag=True, help="Also compare the model's limit cycle (period, amplitude) with the system's (systems with a published period).")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Write the metrics as JSON.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON instead of a table.")
def evaluate_command(run_dir: Path, data_path: Path | None, system_name: str | None, n_tests: int, seed: int,
                     horizon: float | None, long_time: float | None, transient: float | None, persistence: float | None, cycles: bool,
                     output: Path | None, force: bool, as_json: bool) -> None:
    """Evaluate the trained model in RUN_DIR on held-out trajectories that start on the attractor.

    Prints valid prediction times, the learned largest Lyapunov exponent against the true one,
    the 0-1 test of a long free run, and invariant-measure and power-spectrum distances.
    Distances come with their noise floor (truth against truth). lambda_1, when the system publishes
    none, is computed from it; VPT is then in Lyapunov times too.
    Python: dyncore.evaluate(dyncore.Run.load(RUN_DIR), system_or_data, n_tests=..., seed=..., transient=..., persistence=..., cycles=...).
    """
    import dyncore
    from dyncore.errors import ConfigError
    from dyncore.evaluation import format_table
    from dyncore.io import atomic_write, check_output

    if data_path is not None and system_name is not None:
        raise ConfigError("give either --data or --system, not both")
    if output is not None:
        check_output(output, force)  # before the minutes of work, not after
    run = dyncore.Run.load(run_dir)
    target = dyncore.Trajectory.load(data_path) if data_path is not None else system_name
    result = dyncore.evaluate(run, target, n_tests=n_tests, seed=seed, horizon=horizon, long_time=long_time, transient=transient,
                              persistence=persistence, cycles=cycles)
    text = json.dumps(result.to_dict(), indent=2, default=float)
    if output is not None:
        with atomic_write(output, "w") as f:
            f.write(text + "\n")
    click.echo(text if as_json else format_table(result))
    if output is not None and not as_json:
        click.echo(f"wrote {output}")
