"""The few names of built-in components that the core uses as defaults, in one table.

The core imports no plugin: it names these components and looks them up in the registries when
used, so a third-party plugin can provide one under the same name, and with a built-in plugin
disabled (``DYNCORE_DISABLE_PLUGINS``) only what needs that component fails, saying which name
is missing; optional uses (the 0-1 test inside ``evaluate``) become notes.
"""

from __future__ import annotations

#: trainer of a model that names no other (``Model.default_trainer``, a sweep without a trainer name)
DEFAULT_TRAINER = "full_batch"
#: solver of ``simulate`` when neither the call nor the system names one
DEFAULT_SOLVER = "dop853"
#: chaos test of ``dyncore chaos-test``, ``evaluate`` and the 0-1 figure of ``dyncore plot``
DEFAULT_CHAOS_TEST = "zero_one"
#: exponential integrator for a system's semilinear split (the metrics' reference runs of PDEs)
SEMILINEAR_SOLVER = "etdrk4"
#: models that ``dyncore compare`` trains when none are given
COMPARE_MODELS = ("node", "rnn", "sindy", "esn")

#: every default, by what it is the default of
DEFAULTS = {
    "trainer": DEFAULT_TRAINER,
    "solver": DEFAULT_SOLVER,
    "chaos test": DEFAULT_CHAOS_TEST,
    "semilinear solver": SEMILINEAR_SOLVER,
    "compared models": COMPARE_MODELS,
}

__all__ = ["COMPARE_MODELS", "DEFAULTS", "DEFAULT_CHAOS_TEST", "DEFAULT_SOLVER", "DEFAULT_TRAINER", "SEMILINEAR_SOLVER"]
