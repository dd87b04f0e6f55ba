"""``dyncore predict``: free rollout of a trained run, written as a trajectory file."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("predict")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--x0", metavar="A,B,...", help="Starting state(s), comma-separated; an RNN needs window x dim numbers.")
@click.option("--data", type=click.Path(dir_okay=False), help="Start from this file's first state(s), on its time grid.")
@click.option("--t-end", type=float, help="Last output time (default: the training data's, or --data's).")
@click.option("--dt", type=float, help="Output spacing (default: the training step; an RNN runs only on it).")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output file, .npz or .csv.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
def predict_command(run_dir: str, x0: str | None, data: str | None, t_end: float | None, dt: float | None,
                    device: str, output: str, force: bool) -> None:
    """Roll out the model trained in RUN_DIR and write the predicted trajectory.

    Python: dyncore.Run.load(run_dir).predict(x0, data=..., t_end=..., dt=...).
    """
    import dyncore
    from dyncore.errors import ConfigError
    from dyncore.io import check_output
    from dyncore.params import parse_vector

    path = Path(output)
    if path.suffix not in (".npz", ".csv"):
        raise ConfigError(f"output {output!r} must end in .npz or .csv")
    check_output(path, force)
    run = dyncore.Run.load(run_dir, device=device)
    prediction = run.predict(parse_vector(x0) if x0 is not None else None, data=data, t_end=t_end, dt=dt)
    prediction.save(path)
    click.echo(f"wrote {path}: {run.model.name} rollout, {prediction.n} times x {prediction.dim} from {prediction.meta['start']}")
