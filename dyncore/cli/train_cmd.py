"""``dyncore train``: train a model on a data file into a run directory (resumable)."""

from __future__ import annotations

import signal
import time

import click


def _sigterm_as_interrupt(seen: list[int]):
    """A SIGTERM handler that records the signal and raises KeyboardInterrupt, as Ctrl-C does by default."""
    def handler(signum: int, frame: object) -> None:
        seen.append(signum)
        raise KeyboardInterrupt

    return handler


@click.command("train")
@click.argument("model")
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False), help="Run directory to create.")
@click.option("--recipe", help="Named preset of trainer, options and hyperparameters (e.g. blog); explicit options override it; see `dyncore list recipes`.")
@click.option("--trainer", help="Trainer name (default: the model's own, full_batch for node and rnn; on --resume the run's own); see `dyncore list trainers`.")
@click.option("--epochs", type=int, help="Number of epochs (default 2000).")
@click.option("--lr", type=float, help="Learning rate (default 1e-2; the last 10% of epochs run at lr / 10 unless --option lr_final=... is given).")
@click.option("--lookahead", type=int, help="Predicted steps per example (default 1; keep 1 for chaotic systems).")
@click.option("--hparam", "hparams", multiple=True, metavar="K=V", help="Model hyperparameter, repeatable (e.g. --hparam hidden=128).")
@click.option("--option", "options", multiple=True, metavar="K=V",
              help="Other trainer option, repeatable (e.g. --option snapshot_every=20, --option batch_size=64).")
@click.option("--device", help="cpu (default) or cuda.")
@click.option("--seed", type=int, help="Seed of the weight initialisation and shuffling (default 0).")
@click.option("--resume", is_flag=True, help="Continue the run in the output directory from its checkpoint.")
@click.option("--force", is_flag=True, help="Replace the run in the output directory.")
@click.option("--progress/--no-progress", default=None, help="Progress line on stderr (default: when stderr is a terminal).")
def train_command(model: str, data: str, out: str, recipe: str | None, trainer: str | None, epochs: int | None, lr: float | None,
                  lookahead: int | None, hparams: tuple[str, ...], options: tuple[str, ...], device: str | None,
                  seed: int | None, resume: bool, force: bool, progress: bool | None) -> None:
    """Train MODEL (e.g. node, rnn) on DATA (.npz or .csv) into the run directory -o.

    Ctrl-C or SIGTERM finishes the epoch, saves the run and a checkpoint and exits 130 (143 for
    SIGTERM); a second one abandons the running epoch. The directory is locked while training.

    Python: dyncore.train(model, data, trainer, hparams=..., out=..., resume=..., force=..., recipe=..., epochs=..., lr=...).
    """
    import dyncore
    from dyncore.cli import fail
    from dyncore.errors import ConfigError, TrainingInterrupted
    from dyncore.params import parse_assignments

    if resume and force:
        raise ConfigError("--resume and --force exclude each other: continue the run or replace it")
    given = parse_assignments(options, "--option")
    for key, value in (("epochs", epochs), ("lr", lr), ("lookahead", lookahead), ("device", device), ("seed", seed), ("progress", progress)):
        if value is not None:
            given[key] = value
    start = time.monotonic()
    terminated: list[int] = []
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt(terminated))  # before the loop takes it over
    try:
        run = dyncore.train(model, data, trainer, hparams=parse_assignments(hparams, "--hparam"), out=out,
                            resume=resume, force=force, recipe=recipe, **given)
    except TrainingInterrupted as exc:
        fail(f"{exc}; the run and its checkpoint are saved in {out}: continue with `dyncore train {model} {data} -o {out} --resume`",
             exc.exit_code)
        return
    except KeyboardInterrupt:
        what = "terminated (SIGTERM)" if terminated else "interrupted"
        fail(f"{what} before training started; {out} was left as it was", 128 + (terminated[0] if terminated else signal.SIGINT))
        return
    finally:
        signal.signal(signal.SIGTERM, previous)
    h = run.history
    tail = f", {h.stopped}" if h.stopped else ""
    loss = f"{h.loss[-1]:.4e}" if h else "n/a"
    threads = run.config.get("threads") or {}
    on = f", on {threads['threads']} thread{'s' if threads['threads'] != 1 else ''} ({threads['source']})" if threads else ""
    click.echo(f"wrote {out}: {run.model.name}, {len(h)} epochs, final loss {loss}{tail}{on} ({time.monotonic() - start:.1f} s)")
