"""``dyncore plugins``: every installed plugin, its distribution, version, state and hooks."""

from __future__ import annotations

import json

import click

from dyncore.errors import UnknownNameError


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--traceback", "traceback_of", metavar="NAME", help="Show the full error of plugin NAME.")
def plugins_command(as_json: bool, traceback_of: str | None) -> None:
    """Show installed plugins: name, distribution, version, OK/BROKEN, hooks."""
    from dyncore.plugins import statuses

    found = statuses()
    if traceback_of:
        by_name = {s.name: s for s in found}
        if traceback_of not in by_name:
            raise UnknownNameError("plugin", traceback_of, by_name)
        status = by_name[traceback_of]
        click.echo("\n".join(status.problems) or f"plugin {status.name!r} is OK")
        if status.traceback:
            click.echo(status.traceback.rstrip())
        return
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in found], indent=2))
        return
    for s in found:
        state = click.style(s.state, fg="green" if s.state == "OK" else "red")
        click.echo(f"{s.name:<20} {s.distribution} {s.version:<8} {state:<6} {', '.join(s.hooks) or '-'}")
        for problem in s.problems:
            click.echo(f"    {problem}")
