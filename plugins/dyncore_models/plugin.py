"""Entry point of the dyncore_models plugin: registers its components by lazy target (no torch import)."""

