"""Entry point of the dyncore_training plugin: registers its components by lazy target (no torch import)."""

