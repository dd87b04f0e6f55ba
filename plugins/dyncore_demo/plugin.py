"""Entry point of the dyncore_demo plugin: adds the ``demo`` command (imports click only, no torch)."""

import dyncore


@dyncore.hookimpl
def register_commands(cli):
    from dyncore_demo.command import demo_command

    cli.add_command(demo_command)
