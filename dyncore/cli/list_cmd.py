"""``dyncore list``: the registered systems, models, solvers, trainers, chaos tests and recipes."""

from __future__ import annotations

import json

import click

KIND_CHOICES = ["systems", "models", "solvers", "trainers", "chaos-tests", "recipes"]


def component_rows(kind: str | None = None) -> list[dict[str, str]]:
    """One dict per registered component (kind, name, summary, plugin, distribution), without importing any."""
    from dyncore.plugins import host

    keys = [kind.replace("-", "_")] if kind else list(host.registries)
    rows = []
    for key in keys:
        for spec in host.registries[key].specs():
            rows.append(
                {
                    "kind": key.replace("_", "-"),
                    "name": spec.name,
                    "summary": spec.summary,
                    "plugin": spec.plugin,
                    "distribution": spec.distribution,
                    "target": spec.target_path,
                }
            )
    return rows


@click.command("list")
@click.argument("kind", required=False, type=click.Choice(KIND_CHOICES))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_command(kind: str | None, as_json: bool) -> None:
    """List registered components: name, summary and the plugin that provides each."""
    rows = component_rows(kind)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    current = None
    width = max((len(r["name"]) for r in rows), default=4)
    for row in rows:
        if row["kind"] != current:
            current = row["kind"]
            click.echo(("" if current == rows[0]["kind"] else "\n") + click.style(current, bold=True))
        click.echo(f"  {row['name']:<{width}}  {row['summary']}  [{row['plugin']}]")
    if not rows:
        click.echo("nothing registered" + (f" under {kind}" if kind else ""))
