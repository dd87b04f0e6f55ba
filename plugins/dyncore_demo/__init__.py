"""The built-in demo plugin: the reference study end to end, as a report (``dyncore demo``).

Each step is a public function taking a :class:`Demo` and returning a report
:class:`~dyncore.report.Section`, one module per step; :func:`run_demo` runs them in order. A
step's results are cached in ``REPORT_DIR/steps/<step>.json`` (data and runs in ``data/`` and
``runs/``), so a re-run reuses what is done; a step that fails is reported by name and the others
still run. The plugin adds the ``demo`` command through ``register_commands``; the names below
load on first use, so the CLI starts without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> the module that defines it
_NAMES = {
    "Demo": "base", "CACHE_VERSION": "base", "simulate_cached": "base", "train_cached": "base", "epochs": "base",
    "snapshot_every": "base",
    "run_demo": "steps", "STEPS": "steps", "INTRO": "steps",
    "schools_step": "schools", "RECIPES": "schools", "MODEL_LABELS": "schools",
    "evaluation_step": "evaluation", "with_floor": "evaluation",
    "priors_step": "priors",
    "zero_one_step": "zero_one",
    "stiffness_step": "stiffness", "counting": "stiffness",
    "kuramoto_sivashinsky_step": "kuramoto_sivashinsky", "KS_RECIPE": "kuramoto_sivashinsky",
}
__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module 'dyncore_demo' has no attribute {name!r}")
    return getattr(importlib.import_module(f"dyncore_demo.{_NAMES[name]}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
