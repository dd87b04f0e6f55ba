"""dyncore: learn dynamical systems from data, with RNNs and Neural ODEs, and test what was learned.

Everything is imported on first use: ``import dyncore`` loads no plugin and no torch.

>>> import dyncore
>>> "lorenz" in dyncore.systems.names()
True
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # registries, filled by plugins on first use
    "systems",
    "models",
    "solvers",
    "trainers",
    "chaos_tests",
    "recipes",
    # for plugin authors
    "hookimpl",
    "System",
    "SemilinearSystem",
    "Model",
    "VectorFieldModel",
    "Solver",
    "Trainer",
    "Callback",
    "History",
    "ChaosTest",
    "ChaosResult",
    "Recipe",
    "Trajectory",
    "PluginStatus",
    "plugin_statuses",
    # errors
    "DyncoreError",
    "ConfigError",
    "UnknownNameError",
    "PluginError",
    "DataError",
    "CheckpointError",
    "SolverError",
    "TrainingDiverged",
    # the data flow, one function per arrow
    "simulate",
    "train",
    "Run",
    "evaluate",
    "Evaluation",
    "sweep",
    # how the work runs
    "set_threads",
    "compare",
]

_LAZY = {
    "hookimpl": "dyncore.plugins:hookimpl",
    "System": "dyncore.system:System",
    "SemilinearSystem": "dyncore.system:SemilinearSystem",
    "Model": "dyncore.model:Model",
    "VectorFieldModel": "dyncore.model:VectorFieldModel",
    "Solver": "dyncore.solver:Solver",
    "Trainer": "dyncore.trainer:Trainer",
    "Callback": "dyncore.trainer:Callback",
    "History": "dyncore.trainer:History",
    "ChaosTest": "dyncore.chaos:ChaosTest",
    "ChaosResult": "dyncore.chaos:ChaosResult",
    "Recipe": "dyncore.recipe:Recipe",
    "Trajectory": "dyncore.trajectory:Trajectory",
    "PluginStatus": "dyncore.plugins:PluginStatus",
    "plugin_statuses": "dyncore.plugins:statuses",
    "DyncoreError": "dyncore.errors:DyncoreError",
    "ConfigError": "dyncore.errors:ConfigError",
    "UnknownNameError": "dyncore.errors:UnknownNameError",
    "PluginError": "dyncore.errors:PluginError",
    "DataError": "dyncore.errors:DataError",
    "CheckpointError": "dyncore.errors:CheckpointError",
    "SolverError": "dyncore.errors:SolverError",
    "TrainingDiverged": "dyncore.errors:TrainingDiverged",
    "simulate": "dyncore.simulation:simulate",
    "train": "dyncore.training:train",
    "Run": "dyncore.runs:Run",
    "evaluate": "dyncore.evaluation:evaluate",
    "Evaluation": "dyncore.evaluation:Evaluation",
    "sweep": "dyncore.sweeps:sweep",
    "set_threads": "dyncore.threads:set_threads",
    "compare": "dyncore.comparison:compare",
}
_REGISTRIES = ("systems", "models", "solvers", "trainers", "chaos_tests", "recipes")


def __getattr__(name: str) -> Any:
    if name in _REGISTRIES:
        from dyncore.plugins import host

        value = host.registries[name]
    elif name in _LAZY:
        module, _, attr = _LAZY[name].partition(":")
        value = getattr(importlib.import_module(module), attr)
    else:
        raise AttributeError(f"module 'dyncore' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
