"""``dyncore simulate``: integrate a registered system and write the trajectory to .npz or .csv."""

from __future__ import annotations

import time
from pathlib import Path

import click


@click.command("simulate")
@click.argument("system")
@click.option("--param", "params", multiple=True, metavar="K=V", help="System parameter, repeatable (e.g. --param rho=28).")
@click.option("--x0", metavar="A,B,...", help="Initial state, comma-separated (default: the system's).")
@click.option("--t-end", type=float, help="Last output time (default: the end of the system's default grid).")
@click.option("--dt", type=float, help="Output spacing (default: the default grid's).")
@click.option("--n-points", type=int, help="Number of output points instead of --dt.")
@click.option("--solver", help="Solver name (default: the system's data-generation solver); see `dyncore list solvers`.")
@click.option("--rtol", type=float, help="Relative tolerance of an adaptive solver.")
@click.option("--atol", type=float, help="Absolute tolerance of an adaptive solver.")
@click.option("--solver-option", "solver_options", multiple=True, metavar="K=V",
              help="Other solver option, repeatable (e.g. --solver-option step_size=0.01, max_steps=1000000).")
@click.option("--batch", type=int, help="Simulate this many seeded random initial states.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of random states, sub-sampling and noise.")
@click.option("--noise", type=float, default=0.0, show_default=True, help="Std of additive Gaussian observation noise.")
@click.option("--irregular", is_flag=True, help="Keep a seeded random half of the time grid (the first point always).")
@click.option("--transient", type=float, help="Integrate this long first and drop it (default: the system's).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output file, .npz or .csv.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--progress/--no-progress", default=None, help="Show progress on stderr (default: for long runs on a terminal).")
def simulate_command(system: str, params: tuple[str, ...], x0: str | None, t_end: float | None, dt: float | None,
                     n_points: int | None, solver: str | None, rtol: float | None, atol: float | None,
                     solver_options: tuple[str, ...], batch: int | None, seed: int, noise: float, irregular: bool, transient: float | None,
                     output: str, force: bool, progress: bool | None) -> None:
    """Simulate SYSTEM and write its trajectory (times, states, metadata) to a file.

    Python: dyncore.simulate(system, x0, t, solver=..., rtol=..., batch=..., seed=..., noise=...,
    irregular=..., transient=...).
    """
    import dyncore
    from dyncore.errors import ConfigError
    from dyncore.io import check_output
    from dyncore.params import parse_assignments, parse_vector
    from dyncore.simulation import time_grid

    path = Path(output)
    if path.suffix not in (".npz", ".csv"):
        raise ConfigError(f"output {output!r} must end in .npz or .csv")
    check_output(path, force)
    model = dyncore.systems.create(system, **parse_assignments(params))
    t = time_grid(model, t_end=t_end, dt=dt, n_points=n_points)
    start = time.monotonic()
    trajectory = dyncore.simulate(
        model,
        parse_vector(x0) if x0 is not None else None,
        t,
        solver=solver,
        rtol=rtol,
        atol=atol,
        solver_options=parse_assignments(solver_options, "--solver-option"),
        batch=batch,
        seed=seed,
        noise=noise,
        irregular=irregular,
        transient=transient,
        progress=progress,
    )
    trajectory.save(path)
    shape = f"{trajectory.n} times x {trajectory.batch} x {trajectory.dim}" if trajectory.batched else f"{trajectory.n} times x {trajectory.dim}"
    click.echo(
        f"wrote {path}: {model.name}, {shape}, solver {trajectory.meta['solver']}, "
        f"hash {trajectory.meta['content_hash'][:12]} ({time.monotonic() - start:.1f} s)"
    )
