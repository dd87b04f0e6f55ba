"""The ``stiff`` recipe: learning stiff systems (Van der Pol at mu = 100 and 1000) with the ``stiff_node`` model."""

from __future__ import annotations

from dyncore.recipe import Recipe


class Stiff(Recipe):
    """Stiff systems: ``stiff_node`` (range-scaled states, slow time, trapezoidal residual) fitted in closed form, radau rollout.

    Give it data that resolve the fast phases and cover the starts to be predicted, e.g.
    ``dyncore_solvers.step_grid.stiff_data(system, batch=4)`` (random starts on radau's own steps).
    See docs/stiff-systems.md.
    """

    name = "stiff"
    trainer = "closed_form"
    options = {"lookahead": 1}
    hparams = {"stiff_node": {"fast": "auto", "rollout_solver": "radau"}}
    models = ("stiff_node",)
