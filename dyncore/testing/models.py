"""Conformance checks for models: one behaviour each, run on an instance built with its defaults.

The checks train nothing long: they cut, roll out and differentiate a model prepared on
:func:`decaying_rotation`, a 2-dimensional trajectory of 40 points (step 0.1) small enough for any
model to take in a second; a model whose ``context_length`` exceeds 10 gets ``context_length + 30``
points (:func:`data_for`), and rollouts run ten steps past the context (:func:`rollout_times`).
"""

from __future__ import annotations

import json

import numpy as np
import torch

from dyncore.errors import ConfigError, DataError
from dyncore.model import Model, VectorFieldModel
from dyncore.trajectory import Trajectory


def decaying_rotation(n: int = 40, dt: float = 0.1, batch: int | None = None) -> Trajectory:
    """``x(t) = e^{-t/10} (cos t, sin t)`` sampled every ``dt``; ``batch`` phase-shifted copies if given."""
    t = np.arange(n) * dt
    phases = np.arange(batch or 1) * 0.7
    angle = t[:, None] + phases[None, :]
    x = np.exp(-0.1 * t)[:, None, None] * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    return Trajectory(t, x if batch else x[:, 0], {"system": "decaying_rotation"})


def fresh(model: Model, seed: int = 0, data: Trajectory | None = None) -> Model:
    """A new instance with the same hyperparameters, prepared on ``data`` under ``seed``."""
    other = type(model)(**model.hparams)
    torch.manual_seed(seed)
    other.prepare(data if data is not None else decaying_rotation())
    return other


def _context(model: Model, data: Trajectory) -> torch.Tensor:
    return torch.as_tensor(data.x[: model.context_length])


#: Points of the data the checks cut and roll out (more for a long context), and rolled-out times beyond the context.
DATA_POINTS, ROLLOUT_STEPS = 40, 10


def data_for(model: Model, batch: int | None = None) -> Trajectory:
    """:func:`decaying_rotation` with 40 points, or ``context_length + 30`` when the context is longer than 10."""
    return decaying_rotation(n=max(DATA_POINTS, model.context_length + 30), batch=batch)


def rollout_times(model: Model, data: Trajectory) -> torch.Tensor:
    """The first ``max(12, context_length + 10)`` times of ``data``: the context and ten steps past it."""
    return torch.as_tensor(data.t[: max(12, model.context_length + ROLLOUT_STEPS)])


def check_hparams_stored_as_given(model: Model) -> None:
    """``hparams`` holds every default, and an unknown hyperparameter is a one-line ConfigError."""
    assert set(model.default_hparams) <= set(model.hparams), f"{model.name}: hparams lack defaults"
    try:
        type(model)(**model.hparams, no_such_hparam=1)
    except ConfigError as exc:
        assert "no_such_hparam" in str(exc) and "\n" not in str(exc), repr(str(exc))
    else:
        raise AssertionError(f"{model.name} accepted an unknown hyperparameter")


def check_config_round_trip(model: Model) -> None:
    """``config()`` is JSON and ``from_config`` rebuilds the same architecture and config."""
    m = fresh(model)
    config = json.loads(json.dumps(m.config()))
    rebuilt = type(m).from_config(config)
    assert rebuilt.config() == m.config(), f"{rebuilt.config()} != {m.config()}"
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()} == shapes, "state_dict layout differs after from_config"


def check_context_length(model: Model) -> None:
    """``context_length`` is a positive int once the model is prepared."""
    m = fresh(model)
    assert isinstance(m.context_length, int) and m.context_length >= 1, m.context_length


def check_examples_shapes(model: Model) -> None:
    """``examples`` gives finite tensors on the model's device sharing their first dimension; batches add examples."""
    m = fresh(model)
    for lookahead in (1, 2):
        examples = m.examples(data_for(m), lookahead)
        assert examples and all(isinstance(v, torch.Tensor) for v in examples.values()), examples
        sizes = {v.shape[0] for v in examples.values()}
        assert len(sizes) == 1 and sizes.pop() > 0, {k: v.shape for k, v in examples.items()}
        for key, value in examples.items():
            assert value.device == m.device, f"{key} is on {value.device}, the model on {m.device}"
            assert torch.isfinite(value).all(), f"{key} has NaN/Inf"
    single = next(iter(m.examples(data_for(m), 1).values())).shape[0]
    double = next(iter(m.examples(data_for(m, batch=2), 1).values())).shape[0]
    assert double == 2 * single, f"2 trajectories gave {double} examples, 1 gave {single}"


def check_examples_refuse_bad_data(model: Model) -> None:
    """Wrong dimension and too few points are one-line DataErrors."""
    m = fresh(model)
    wrong = Trajectory(np.arange(20) * 0.1, np.zeros((20, 3)))
    short = decaying_rotation(n=m.context_length)
    for data, what in ((wrong, "a wrong dimension"), (short, "too few points")):
        try:
            m.examples(data, 1)
        except DataError as exc:
            assert "\n" not in str(exc), repr(str(exc))
        else:
            raise AssertionError(f"{m.name}.examples accepted {what}")


def check_loss_is_finite_scalar_and_backprops(model: Model) -> None:
    """``loss`` is a finite scalar whose gradient reaches the parameters, finite."""
    m = fresh(model)
    loss = m.loss(m.examples(data_for(m), 1))
    assert loss.dim() == 0 and torch.isfinite(loss), loss
    loss.backward()
    grads = [p.grad for p in m.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads), "missing or non-finite gradients"
    assert any(bool(g.abs().sum() > 0) for g in grads), "every gradient is zero"


def check_rollout_shape_and_context(model: Model) -> None:
    """``rollout`` gives ``(n, [batch,] dim)`` in the context's dtype, starting with the context itself."""
    m = fresh(model)
    data = data_for(m)
    t = rollout_times(m, data)
    for rollout in (m.rollout, m.quick_rollout):
        with torch.no_grad():
            out = rollout(_context(m, data), t)
        assert out.shape == (len(t), data.dim) and out.dtype == torch.float64, (out.shape, out.dtype)
        assert torch.equal(out[: m.context_length], _context(m, data)), "the first rows are not the context"
        assert torch.isfinite(out).all()
    both = data_for(m, batch=2)
    with torch.no_grad():
        out = m.rollout(_context(m, both), t)
        one = m.rollout(_context(m, both.member(1)), t)
    assert out.shape == (len(t), 2, data.dim), out.shape
    assert torch.allclose(out[:, 1], one, rtol=1e-4, atol=1e-6), "a batched rollout differs from the single one"


def check_state_dict_round_trip(model: Model) -> None:
    """``from_config`` + ``load_state_dict`` reproduce the rollouts exactly (normalisation included)."""
    m = fresh(model, seed=1)
    copy = type(m).from_config(json.loads(json.dumps(m.config())))
    copy.load_state_dict(m.state_dict())
    data = data_for(m)
    with torch.no_grad():
        a = m.rollout(_context(m, data), rollout_times(m, data))
        b = copy.rollout(_context(m, data), rollout_times(m, data))
    assert torch.equal(a, b), "a reloaded model rolls out differently"


def check_seeded_prepare_is_deterministic(model: Model) -> None:
    """The same seed gives the same initial weights."""
    a, b = fresh(model, seed=3), fresh(model, seed=3)
    for (k, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), f"{k} differs between two seed-3 initialisations"


def check_training_reduces_loss(model: Model) -> None:
    """Thirty Adam steps on the small data set lower the loss."""
    m = fresh(model)
    examples = m.examples(data_for(m), 1)
    optimizer = torch.optim.Adam(m.parameters(), lr=1e-2)
    first = None
    for _ in range(30):
        optimizer.zero_grad()
        loss = m.loss(examples)
        loss.backward()
        optimizer.step()
        first = float(loss.detach()) if first is None else first
    with torch.no_grad():
        last = float(m.loss(examples))
    assert last < first, f"loss went from {first} to {last}"


def check_vector_field_keeps_shape_and_dtype(model: VectorFieldModel) -> None:
    """A VectorFieldModel's ``vector_field`` gives ``(..., dim)`` in the input's dtype, finite and differentiable in ``x``."""
    m = fresh(model)
    data = data_for(m)
    if m.fit_closed_form is not None:  # a closed-form model's field is zero until fitted
        with torch.no_grad():
            m.fit_closed_form(m.examples(data, 1))
    x = torch.as_tensor(data.x[:6]).reshape(2, 3, data.dim).requires_grad_(True)
    dx = m.vector_field(torch.tensor(0.0, dtype=torch.float64), x)
    assert dx.shape == x.shape and dx.dtype == x.dtype, (tuple(dx.shape), dx.dtype)
    assert torch.isfinite(dx).all()
    (grad,) = torch.autograd.grad(dx.sum(), x)
    assert torch.isfinite(grad).all() and bool(grad.abs().sum() > 0), "the field does not depend on x"


def check_vector_field_drives_rollout(model: VectorFieldModel) -> None:
    """The field is the one the model integrates: a rollout over a short step h moves by about ``h * vector_field``."""
    m = fresh(model)
    data = data_for(m)
    h = 1e-3
    x0 = torch.as_tensor(data.x[:1])
    with torch.no_grad():
        out = m.rollout(x0, torch.tensor([0.0, h], dtype=torch.float64))
        field = m.vector_field(torch.tensor(0.0, dtype=torch.float64), x0[0])
    rate = (out[1] - out[0]) / h
    scale = float(field.abs().max()) + 1e-6
    assert float((rate - field).abs().max()) <= 2e-2 * scale, f"(x(h) - x0) / h = {rate.tolist()} but vector_field = {field.tolist()}"


CHECKS = [
    check_hparams_stored_as_given,
    check_config_round_trip,
    check_context_length,
    check_examples_shapes,
    check_examples_refuse_bad_data,
    check_loss_is_finite_scalar_and_backprops,
    check_rollout_shape_and_context,
    check_state_dict_round_trip,
    check_seeded_prepare_is_deterministic,
    check_training_reduces_loss,
    check_vector_field_keeps_shape_and_dtype,
    check_vector_field_drives_rollout,
]
#: Checks that need a declared capability: run only on subclasses of the given class.
REQUIRES = {check_vector_field_keeps_shape_and_dtype: VectorFieldModel, check_vector_field_drives_rollout: VectorFieldModel}
