"""Entry point of the dyncore_solvers plugin: registers its components by lazy target (no torch import)."""

