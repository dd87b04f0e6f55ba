"""``dyncore plugins``: every installed plugin, its distribution, version, state and hooks.

``--check`` also imports every lazy target, so a component that would fail only when used shows
its plugin as BROKEN now (and the command exits 1): what a plugin author runs in CI.
"""

from __future__ import annotations

import json

import click

from dyncore.errors import PluginError, UnknownNameError


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--traceback", "traceback_of", metavar="NAME", help="Show the full error of plugin NAME.")
@click.option("--check", is_flag=True, help="Import every registered component's lazy target too; exit 1 if any plugin is broken.")
def plugins_command(as_json: bool, traceback_of: str | None, check: bool) -> None:
    """Show installed plugins: name, distribution, version, OK/BROKEN, hooks."""
    from dyncore.plugins import host, statuses

    if check:
        host.check_targets()
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
    else:
        for s in found:
            state = click.style(s.state, fg="green" if s.state == "OK" else "red")
            click.echo(f"{s.name:<20} {s.distribution} {s.version:<8} {state:<6} {', '.join(s.hooks) or '-'}")
            for line in s.problems + [f"note: {note}" for note in s.notes]:
                click.echo(f"    {line}")
    broken = [s.name for s in found if s.state == "BROKEN"]
    if check and broken:
        raise PluginError(f"{len(broken)} plugin(s) broken: {', '.join(broken)}; see `dyncore plugins --traceback NAME`")
