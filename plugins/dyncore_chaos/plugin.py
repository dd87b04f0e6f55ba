"""Entry point of the dyncore_chaos plugin: registers its components by lazy target (no torch import)."""

