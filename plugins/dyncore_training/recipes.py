"""Built-in recipes: named presets of trainer, options and hyperparameters (see :mod:`dyncore.recipe`)."""

from __future__ import annotations

from dyncore.recipe import Recipe


class Blog(Recipe):
    """The reference article's recipe: full-batch Adam, lr 1e-2 then 1e-3 for the last 10 %, lookahead 1."""

    name = "blog"
    trainer = "full_batch"
    options = {"lr": 1e-2, "lookahead": 1}


class Chaotic(Recipe):
    """The best measured recipe for chaotic ODEs (Lorenz, docs/recipes.md): a smooth 2 x 128 GELU NODE, 4000 full-batch epochs."""

    name = "chaotic"
    trainer = "multistep"
    options = {"lr": 1e-2, "epochs": 4000}
    hparams = {"node": {"activation": "gelu", "depth": 2, "hidden": 128}}
    models = ("node",)
