"""Hook implementations of dyncore-sindy (imported through its entry point; imports neither torch nor pysindy)."""

import dyncore


@dyncore.hookimpl
def register_models(registry):
    registry.add("sindy", "dyncore_sindy.model:Sindy", summary="PySINDy sparse regression: polynomial vector field, STLSQ, fitted in one call")
