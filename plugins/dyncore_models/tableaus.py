"""The Butcher tableaus a NODE trains with, fused: they live in :mod:`dyncore.tableaus` (re-exported here).

The keys of ``TABLEAUS`` are the registered solver names (``rk4`` is torchdiffeq's 3/8 rule,
:data:`dyncore.tableaus.RK4_THREE_EIGHTHS`), so ``solver="rk4"`` means the same integrator whether a
NODE trains with the fused step or a rollout goes through ``dyncore.solvers``.
"""

from __future__ import annotations

from dyncore.tableaus import RK4_THREE_EIGHTHS, TABLEAUS, Tableau, rk_step, stage_input

__all__ = ["RK4_THREE_EIGHTHS", "TABLEAUS", "Tableau", "rk_step", "stage_input"]
