"""Entry point of the dyncore_systems plugin: registers its components by lazy target (no torch import)."""

from __future__ import annotations

import dyncore


@dyncore.hookimpl
def register_systems(registry):
    registry.add("spiral", "dyncore_systems.spiral:Spiral", summary="Cubic spiral x' = W x**3 (the reference NODE demo)")
    registry.add("lorenz", "dyncore_systems.lorenz:Lorenz", summary="Lorenz-63 chaotic attractor (sigma, rho, beta)")
    registry.add(
        "van_der_pol", "dyncore_systems.van_der_pol:VanDerPol", summary="Van der Pol oscillator; stiff for large mu"
    )
    registry.add(
        "kuramoto_sivashinsky",
        "dyncore_systems.kuramoto_sivashinsky:KuramotoSivashinsky",
        summary="Kuramoto-Sivashinsky PDE, periodic, pseudo-spectral with real FFTs",
    )
