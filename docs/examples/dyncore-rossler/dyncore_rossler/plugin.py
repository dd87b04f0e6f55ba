"""Hook implementations of the dyncore-rossler plugin (imported by dyncore through its entry point)."""

import dyncore


@dyncore.hookimpl
def register_systems(registry):
    registry.add("rossler", "dyncore_rossler.system:Rossler", summary="Rössler attractor (a=0.2, b=0.2, c=5.7)")
