"""The Recipe interface: a named preset of trainer, trainer options and model hyperparameters.

A recipe is what a user of the reference article would otherwise copy from a paper: which trainer,
which learning rate and lookahead, which activation. ``dyncore train MODEL DATA --recipe NAME`` (or
``dyncore.train(..., recipe=NAME)``) applies it; anything given explicitly overrides it. Plugins
register recipes through the ``register_recipes`` hook, like any other component.
"""

from __future__ import annotations

from typing import Any, ClassVar

from dyncore.errors import ConfigError


class Recipe:
    """A preset of ``trainer``, its ``options`` and per-model ``hparams``; subclass and set the attributes.

    ``hparams`` maps a model name to its hyperparameters; the key ``"*"`` applies to every model.
    ``models`` lists the models the recipe was made for (empty: any); using it on another model is
    refused rather than silently training with settings tuned for something else.
    """

    name: ClassVar[str] = ""
    trainer: ClassVar[str | None] = None  # None: the model's default trainer
    options: ClassVar[dict[str, Any]] = {}
    hparams: ClassVar[dict[str, dict[str, Any]]] = {}
    models: ClassVar[tuple[str, ...]] = ()

    def settings(self, model: str, trainer: str | None, hparams: dict[str, Any] | None,
                 options: dict[str, Any]) -> tuple[str | None, dict[str, Any], dict[str, Any]]:
        """The trainer, hyperparameters and options to train ``model`` with: the recipe's, overridden by the given ones."""
        if self.models and model not in self.models:
            raise ConfigError(
                f"recipe {self.name!r} is made for {', '.join(self.models)}, not {model!r}; "
                "pick another recipe (`dyncore list recipes`) or drop --recipe"
            )
        preset = {**self.hparams.get("*", {}), **self.hparams.get(model, {})}
        return (trainer if trainer is not None else self.trainer,
                {**preset, **(hparams or {})},
                {**self.options, **options})

    def describe(self) -> dict[str, Any]:
        """The recipe's settings as plain data (recorded in a run's ``config.json``)."""
        return {"name": self.name, "trainer": self.trainer, "options": dict(self.options),
                "hparams": {k: dict(v) for k, v in self.hparams.items()}}
