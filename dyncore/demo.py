"""Deprecated: the demo is the built-in plugin ``dyncore_demo`` (``dyncore demo`` is its command).

``dyncore.demo.NAME`` still gives ``dyncore_demo.NAME``, with a :class:`DeprecationWarning`; the
core imports no plugin, so the name is looked up only when asked for.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from dyncore.errors import PluginError

PLUGIN = "dyncore_demo"


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    warnings.warn(f"dyncore.demo is deprecated: the demo is the plugin {PLUGIN}; use {PLUGIN}.{name}",
                  DeprecationWarning, stacklevel=2)
    try:
        plugin = importlib.import_module(PLUGIN)
    except ImportError:
        raise PluginError(f"dyncore.demo.{name}: the demo plugin {PLUGIN} is not installed; reinstall dyncore (pip install -e .)") from None
    try:
        return getattr(plugin, name)
    except AttributeError:
        raise AttributeError(f"module 'dyncore.demo' has no attribute {name!r}") from None
