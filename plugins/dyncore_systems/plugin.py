"""Entry point of the dyncore_systems plugin: registers its components by lazy target (no torch import)."""

