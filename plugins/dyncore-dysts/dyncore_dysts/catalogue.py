"""Regenerate ``catalogue.json`` from the installed dysts: ``python -m dyncore_dysts.catalogue``.

A system enters the catalogue when dysts' right-hand side, run in torch on a batch of two states
near the published initial condition, equals dysts' own numpy result at each; the others are
listed with the reason.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import torch

from dyncore_dysts.plugin import CATALOGUE
from dyncore_dysts.systems import _import_flows, _metadata, make


def _summary(name: str, meta: dict[str, Any]) -> str:
    text = " ".join((meta.get("description") or name).split()).split(". ")[0].rstrip(".")
    return (text[:77] + "...") if len(text) > 80 else text


def build() -> dict[str, Any]:
    """``{"dysts": version, "systems": {name: {dim, summary}}, "unsupported": {name: reason}}``."""
    from importlib.metadata import version

    from dysts.base import DynSys

    flows = _import_flows()
    systems, unsupported = {}, {}
    for name, meta in sorted(_metadata(flows).items()):
        cls = getattr(flows, name, None)
        if cls is None:
            unsupported[name] = "in dysts' metadata but not in dysts.flows"
        elif meta.get("delay"):
            unsupported[name] = "a delay differential equation: its state is a history, not a point (no dyncore System)"
        elif cls.rhs is not DynSys.rhs:
            unsupported[name] = "its right-hand side is a custom numpy method (matrices, loops), not a translatable _rhs"
        else:
            try:
                x0 = np.asarray(meta["initial_conditions"], dtype=float)
                states = np.stack([x0, x0 * 1.01 + 0.01])  # a batch: a right-hand side with a Python `if` on a state fails here
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    expected = np.stack([np.asarray(cls().rhs(s, 0.3), dtype=float) for s in states])
                system = make(name)()
                got = system.vector_field(torch.tensor(0.3, dtype=torch.float64), torch.as_tensor(states)).numpy()
                if got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-9, atol=1e-12):
                    unsupported[name] = "its right-hand side computes differently in torch (shape or values differ from dysts')"
                    continue
                systems[name] = {"dim": system.dim, "summary": _summary(name, meta)}
            except Exception as exc:  # any failure of the translation makes the system unsupported, with the reason
                unsupported[name] = f"its right-hand side does not run in torch ({type(exc).__name__}: {str(exc).splitlines()[0][:80]})"
    return {"dysts": version("dysts"), "systems": systems, "unsupported": unsupported}


if __name__ == "__main__":
    CATALOGUE.write_text(json.dumps(build(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {CATALOGUE}")
