"""Built-in recipes: named presets of trainer, options and hyperparameters (see :mod:`dyncore.recipe`)."""

from __future__ import annotations

from dyncore.recipe import Recipe


class Blog(Recipe):
    """The reference article's recipe: full-batch Adam, lr 1e-2 then 1e-3 for the last 10 %, lookahead 1."""

    name = "blog"
    trainer = "full_batch"
    options = {"lr": 1e-2, "lookahead": 1}
