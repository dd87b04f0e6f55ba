"""The catalogue of dyncore's extension points.

A plugin is a module named by an entry point in the ``dyncore`` group. It implements any of the
hooks below with functions decorated by :data:`dyncore.hookimpl`. Every hook is called once per
process, the first time a registry or the CLI needs the plugins, and each plugin's call runs in
its own ``try`` so a failing plugin only breaks its own components.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("dyncore")


@hookspec
def register_systems(registry):
    """Register dynamical systems (subclasses of :class:`dyncore.System`).

    :param registry: a :class:`dyncore.registry.Registrar`; call
        ``registry.add(name, "package.module:Class", summary=...)`` once per system.
    """


@hookspec
def register_models(registry):
    """Register learnable models (subclasses of :class:`dyncore.Model`).

    :param registry: a :class:`dyncore.registry.Registrar` for models.
    """


@hookspec
def register_solvers(registry):
    """Register ODE solvers (subclasses of :class:`dyncore.Solver`).

    :param registry: a :class:`dyncore.registry.Registrar` for solvers.
    """


@hookspec
def register_trainers(registry):
    """Register training loops (subclasses of :class:`dyncore.Trainer`).

    :param registry: a :class:`dyncore.registry.Registrar` for trainers.
    """


@hookspec
def register_chaos_tests(registry):
    """Register tests for chaos (subclasses of :class:`dyncore.ChaosTest`).

    :param registry: a :class:`dyncore.registry.Registrar` for chaos tests.
    """


@hookspec
def register_recipes(registry):
    """Register training recipes (subclasses of :class:`dyncore.Recipe`): named presets of trainer,
    options and hyperparameters that ``dyncore train --recipe NAME`` applies.

    :param registry: a :class:`dyncore.registry.Registrar` for recipes.
    """


@hookspec
def register_commands(cli):
    """Add commands to the ``dyncore`` command line.

    Called when the CLI starts, after the built-in commands exist. If it raises, the commands it
    added before stay, and a placeholder named after the plugin prints its error when run.

    :param cli: the root :class:`click.Group`; use ``@cli.command()`` or ``cli.add_command``.
    """
