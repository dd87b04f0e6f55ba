"""Recipes: named presets of trainer, options and hyperparameters, overridden by explicit settings."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import dyncore
from dyncore.cli import cli
from dyncore.errors import ConfigError
from dyncore.recipe import Recipe
from dyncore.testing.models import decaying_rotation


class Tiny(Recipe):
    """A test preset: a small tanh NODE, lookahead 2, lr 5e-3."""

    name = "tiny"
    trainer = "full_batch"
    options = {"lr": 5e-3, "lookahead": 2, "epochs": 3}
    hparams = {"node": {"hidden": 8, "activation": "tanh"}}
    models = ("node",)


@pytest.fixture
def data():
    return decaying_rotation(n=40)


def test_a_recipe_sets_trainer_options_and_hparams(data):
    run = dyncore.train("node", data, recipe=Tiny())
    assert run.config["recipe"] == "tiny"
    assert run.config["trainer"]["name"] == "full_batch"
    options = run.config["trainer"]["options"]
    assert (options["lr"], options["lookahead"], options["epochs"]) == (5e-3, 2, 3)
    assert run.model.config()["hparams"]["hidden"] == 8
    assert run.model.config()["hparams"]["activation"] == "tanh"


def test_explicit_settings_override_the_recipe(data):
    run = dyncore.train("node", data, recipe=Tiny(), lr=1e-3, hparams={"hidden": 4})
    assert run.config["trainer"]["options"]["lr"] == 1e-3
    assert run.config["trainer"]["options"]["lookahead"] == 2
    assert run.model.config()["hparams"]["hidden"] == 4
    assert run.model.config()["hparams"]["activation"] == "tanh"


def test_a_recipe_for_other_models_is_refused(data):
    with pytest.raises(ConfigError, match="recipe 'tiny' is made for node, not 'rnn'"):
        dyncore.train("rnn", data, recipe=Tiny())


def test_a_recipe_with_hparams_needs_the_model_by_name(data):
    model = dyncore.models.create("node", hidden=8)
    with pytest.raises(ConfigError, match="pass the model by name"):
        dyncore.train(model, data, recipe=Tiny())


def test_the_blog_recipe_is_the_default_setup(data):
    by_recipe = dyncore.train("node", data, recipe="blog", epochs=4, hparams={"hidden": 8})
    by_default = dyncore.train("node", data, epochs=4, hparams={"hidden": 8})
    assert by_recipe.config["trainer"] == by_default.config["trainer"]
    assert by_recipe.history.loss == by_default.history.loss


def test_cli_recipe_is_recorded_and_listed(tmp_path, data):
    path = str(data.save(tmp_path / "data.npz"))
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "node", path, "-o", str(out), "--recipe", "blog", "--epochs", "2",
                                      "--hparam", "hidden=8", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["recipe"] == "blog"
    listed = CliRunner().invoke(cli, ["list", "recipes"])
    assert listed.exit_code == 0 and "blog" in listed.stdout
