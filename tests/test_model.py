"""The Model interface: nfe, sampling_step and VectorFieldModel declared on the base classes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from exact_models import HenonWindow, LorenzField

import dyncore
from dyncore.model import Model, learned_vector_field


def test_base_class_declares_nfe_and_sampling_step():
    model = HenonWindow()
    assert model.nfe == 0 and model.sampling_step is None and model.fit_closed_form is None
    assert learned_vector_field(model) is None


def test_a_declared_field_is_read_without_warning():
    model = LorenzField()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert learned_vector_field(model) == model.vector_field


def test_an_old_style_field_still_works_with_a_deprecation_warning():
    class OldField(HenonWindow):
        def vector_field(self, t, x):
            return -x

    with pytest.warns(DeprecationWarning, match="VectorFieldModel"):
        field = learned_vector_field(OldField())
    assert torch.equal(field(0.0, torch.ones(2)), -torch.ones(2))


def test_rnn_declares_its_sampling_step():
    data = dyncore.simulate("spiral", t=np.arange(0, 3, 0.05), progress=False)
    model = dyncore.models.create("rnn", hidden=8, layers=1)
    assert model.sampling_step is None
    model.prepare(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert model.sampling_step == pytest.approx(0.05)
    assert dyncore.models.create("node").sampling_step is None


def test_an_old_style_dt_buffer_still_works_with_a_deprecation_warning():
    class OldStep(HenonWindow):
        def prepare(self, trajectory=None, dim=None):
            self.dim = 1
            self.register_buffer("dt", torch.tensor(0.25, dtype=torch.float64))

    model = OldStep()
    model.prepare()
    with pytest.warns(DeprecationWarning, match="sampling_step"):
        assert model.sampling_step == 0.25


def test_trainers_read_nfe_from_the_base_class():
    class Counting(Model):
        """A linear model that counts its evaluations only through the base class's nfe."""

        name = "counting"

        @property
        def context_length(self):
            return 1

        def prepare(self, trajectory=None, dim=None):
            self.dim = 2
            self.w = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))

        def examples(self, trajectory, lookahead=1):
            x = torch.as_tensor(trajectory.x)
            return {"x": x[:-1], "y": x[1:]}

        def loss(self, batch):
            self.nfe += 1
            return ((batch["x"] + self.w - batch["y"]) ** 2).mean()

        def rollout(self, context, t):
            return context[:1].expand(len(t), *context.shape[1:]).clone()

    data = dyncore.simulate("spiral", t=np.arange(0, 1, 0.1), progress=False)
    history = dyncore.trainers.create("full_batch", epochs=3).fit(Counting(), data)
    assert history.nfe == [1, 1, 1]
