"""Entry point of the dyncore_training plugin: registers its components by lazy target (no torch import)."""

import dyncore


@dyncore.hookimpl
def register_trainers(registry):
    registry.add("full_batch", "dyncore_training.full_batch:FullBatch", summary="Full-batch Adam, lr 1e-2 then 1e-3 for the last 10% (the reference recipe)")
    registry.add("minibatch", "dyncore_training.minibatch:Minibatch", summary="Minibatch Adam with seeded shuffling, for large data sets")
    registry.add("multistep", "dyncore_training.multistep:MultiStep",
                 summary="Full-batch Adam with a lookahead curriculum, input noise, Jacobian matching and an L-BFGS polish (chaotic systems)")
    registry.add("shooting", "dyncore_training.shooting:MultipleShooting",
                 summary="Multiple shooting: segments from data or learned starts, a continuity penalty, optional L-BFGS polish")
    registry.add("closed_form", "dyncore_training.closed_form:ClosedForm", summary="One call of a model's closed-form fit (ridge, sparse regression): no gradient epochs")


@dyncore.hookimpl
def register_recipes(registry):
    registry.add("blog", "dyncore_training.recipes:Blog", summary="The reference article's recipe: full-batch Adam, lr 1e-2 then 1e-3 for the last 10%, lookahead 1")
    registry.add("chaotic", "dyncore_training.recipes:Chaotic",
                 summary="Chaotic ODEs from one clean trajectory (Lorenz): smooth 2 x 128 GELU NODE, multistep trainer (docs/recipes.md)")
    registry.add("stiff", "dyncore_training.stiff_recipes:Stiff", summary="Stiff systems: stiff_node fitted in closed form on the implicit trapezoidal residual, radau rollout")
