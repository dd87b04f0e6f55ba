"""Entry point of the dyncore_chaos plugin: registers its components by lazy target (no torch import)."""

import dyncore


@dyncore.hookimpl
def register_chaos_tests(registry):
    registry.add(
        "zero_one",
        "dyncore_chaos.zero_one:ZeroOneTest",
        summary="Gottwald–Melbourne 0-1 test: K near 1 chaotic, near 0 regular (noise also gives 1)",
    )
    registry.add(
        "lyapunov",
        "dyncore_chaos.lyapunov:LyapunovTest",
        summary="largest Lyapunov exponent of a series (Rosenstein): chaotic when clearly positive",
    )
