"""``dyncore chaos-test``: is a recorded series (or a trained model's free run) chaotic or regular?"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import click

from dyncore.defaults import DEFAULT_CHAOS_TEST


def parse_subsample(value: str | None) -> str | int | None:
    """``"auto"`` or a positive integer stride, from the command line."""
    if value is None or value == "auto":
        return value
    try:
        stride = int(value)
    except ValueError:
        stride = 0
    if stride < 1:
        raise click.BadParameter(f"{value!r} is neither 'auto' nor a positive integer stride", param_hint="--subsample")
    return stride


@click.command("chaos-test")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--test", "test_name", default=DEFAULT_CHAOS_TEST, show_default=True, help="Registered chaos test (see `dyncore list chaos-tests`).")
@click.option("--component", type=int, default=None, help="Column to test [zero_one: 0; lyapunov: all columns as the state].")
@click.option("--subsample", default=None, help="zero_one only: 'auto' or a stride N (use every N-th sample).")
@click.option("--steps", type=int, default=20000, show_default=True, help="RUN_DIR only: length of the model's free run.")
@click.option("--plot", "plot_path", type=click.Path(path_type=Path), default=None,
              help="Save the test's figure (e.g. the p-q path): .png, .svg or .pdf.")
@click.option("--force", is_flag=True, help="Replace an existing --plot file.")
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
def chaos_test_command(
    source: Path, test_name: str, component: int | None, subsample: str | None, steps: int, plot_path: Path | None, force: bool,
    as_json: bool
) -> None:
    """Run a chaos test on SOURCE: a data file (.npz or .csv; the first member of a batch) or a run directory.

    For a run directory the trained model runs freely for --steps steps from the start of its
    training data, on the training step, and the test runs on that series. Python:
    dyncore.chaos_tests.create(name, **options).run(series, dt), and Run.load(dir).predict(t_end=...).
    """
    import dyncore
    from dyncore.errors import ConfigError, DataError
    from dyncore.io import check_output
    from dyncore.plotting import FORMATS
    from dyncore.timegrid import uniform_step

    stride = parse_subsample(subsample)
    if plot_path is not None:
        if plot_path.suffix.lower() not in FORMATS:
            raise ConfigError(f"cannot save a figure as {plot_path.name}: use a {', '.join(FORMATS)} file name")
        check_output(plot_path, force)
    options: dict[str, object] = {}
    if component is not None:
        options["component"] = component
    if stride is not None:
        options["subsample"] = stride
    test = dyncore.chaos_tests.create(test_name, **options)

    if source.is_dir():
        run = dyncore.Run.load(source)
        info = run.config.get("data", {})
        if steps <= run.model.context_length or not info.get("dt"):
            raise DataError(f"a free run needs more than {run.model.context_length} steps and the training step; got --steps {steps}")
        trajectory = run.predict(t_end=float(info.get("t0", 0.0)) + (steps - 1) * float(info["dt"]))
    else:
        trajectory = dyncore.Trajectory.load(source)
    if trajectory.batched:
        trajectory = trajectory.member(0)
    dt = uniform_step(trajectory.t)
    if dt is None:
        raise DataError(f"{source}: the chaos tests need uniformly sampled data; resample it onto an even time grid")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = test.run(trajectory.x, dt=dt)
    for problem in result.warnings or [str(w.message) for w in caught]:
        click.echo(f"dyncore: warning: {problem}", err=True)

    if plot_path is not None:
        save_plot(test, result, plot_path)
    if as_json:
        click.echo(json.dumps(result.as_dict()))
        return
    d = result.details
    extra = f", stride {d['stride']}" if d.get("stride", 1) != 1 else ""
    click.echo(f"{result.test}: {result.statistic:.4f} -> {result.verdict} ({trajectory.n} samples{extra})")


def save_plot(test, result, path: Path) -> None:
    """Draw ``test.plot(result, ax)`` on a fresh figure and save it to ``path`` atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dyncore import plotting
    from dyncore.errors import DyncoreError

    fig, ax = plt.subplots(figsize=(5, 5))
    try:
        test.plot(result, ax)
        fig.tight_layout()
        plotting.save(fig, path)
    except (OSError, ValueError) as exc:
        raise DyncoreError(f"cannot save the plot to {path}: {exc}; choose a writable .png/.pdf/.svg path") from None
    finally:
        plt.close(fig)
