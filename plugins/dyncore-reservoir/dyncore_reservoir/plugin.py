"""Hook implementations of dyncore-reservoir (imported through its entry point; imports neither torch nor reservoirpy)."""

import dyncore


@dyncore.hookimpl
def register_models(registry):
    registry.add("esn", "dyncore_reservoir.model:EchoStateNetwork", summary="ReservoirPy echo state network, ridge readout fitted in one call")
