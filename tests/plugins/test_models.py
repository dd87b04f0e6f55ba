"""The rnn and node models: conformance kit, the fused RK step against autograd, and model-specific behaviour."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from dyncore_models.mlp import ACTIVATIONS, MLP, FusedMLPStep, Workspace
from dyncore_models.tableaus import TABLEAUS, rk_step

import dyncore
from dyncore.errors import ConfigError, DataError, UnknownNameError
from dyncore.testing import parametrize_with_checks
from dyncore.testing.models import decaying_rotation
from dyncore.trajectory import Trajectory


def node(**hparams):
    return dyncore.models.create("node", **hparams)


def rnn(**hparams):
    return dyncore.models.create("rnn", **hparams)


@parametrize_with_checks(
    [
        "models:node",
        "models:rnn",
        node(hidden=16, depth=2, activation="tanh", solver="midpoint"),
        node(hidden=16, activation="softplus", time_dependent=True),
        node(hidden=16, activation="silu", solver="dopri5", solver_options={"rtol": 1e-5, "atol": 1e-7}),
        node(hidden=16, adjoint=True, dtype="float64"),
        rnn(hidden=16, cell="lstm", window=2),
        rnn(hidden=16, cell="gru", layers=1, nonlinearity="tanh"),
        rnn(hidden=8, layers=1, window=20),  # a context longer than the kit's default 12-point rollout
    ]
)
def test_conformance(component, check):
    check(component)


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize("method", sorted(TABLEAUS))
def test_fused_step_matches_autograd(act, method):
    """Values and gradients (weights, biases, start state) of two chained fused steps equal autograd's."""
    torch.manual_seed(0)
    net = MLP(3, 3, 24, 2, act, torch.float64)
    y = torch.randn(40, 3, dtype=torch.float64, requires_grad=True)
    h = torch.rand(40, 1, dtype=torch.float64) * 0.2
    target = torch.randn(40, 3, dtype=torch.float64)
    params = [*net.parameters(), y]

    fused = y
    for _ in range(2):
        fused = FusedMLPStep.apply(fused, h, TABLEAUS[method], act, Workspace(), *net.flat_params())
    plain = y
    for _ in range(2):
        plain = rk_step(lambda t, x: net(x), torch.zeros(()), plain, h, TABLEAUS[method])
    g_fused = torch.autograd.grad(((fused - target) ** 2).mean(), params)
    g_plain = torch.autograd.grad(((plain - target) ** 2).mean(), params)
    torch.testing.assert_close(fused, plain, rtol=1e-12, atol=1e-12)
    for a, b in zip(g_fused, g_plain):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_rk4_is_torchdiffeqs_three_eighths_rule():
    """The fused ``rk4`` is the registered solver ``rk4``: one step agrees to rounding."""
    field = dyncore.systems.create("lorenz")
    x0 = torch.tensor([[-8.0, 7.0, 27.0]], dtype=torch.float64)
    ours = rk_step(field, torch.zeros(()), x0, torch.tensor(0.01, dtype=torch.float64), TABLEAUS["rk4"])
    theirs = dyncore.solvers.create("rk4").solve(field, x0, torch.tensor([0.0, 0.01], dtype=torch.float64))[-1]
    torch.testing.assert_close(ours, theirs, rtol=1e-14, atol=1e-13)


def test_fused_workspace_reuse_before_backward_is_refused():
    m = node(hidden=8)
    m.prepare(decaying_rotation())
    examples = m.examples(decaying_rotation(), 1)
    first = m.loss(examples)
    m.loss(examples)  # overwrites the buffers the first graph needs
    with pytest.raises(RuntimeError, match="before its backward"):
        first.backward()


def test_fused_loss_and_gradients_match_the_solver_path():
    """The fused training step and the registered solver ``rk4`` (one step per interval) give the same loss and gradients."""
    data = decaying_rotation(n=30)
    fused, solver = node(hidden=16, dtype="float64"), node(hidden=16, dtype="float64")
    for m in (fused, solver):
        torch.manual_seed(0)
        m.prepare(data)
    solver.tableau = None  # no fused step: integrate through dyncore.solvers.create("rk4")
    assert fused.fused and not solver.fused
    grads = []
    for m in (fused, solver):
        loss = m.loss(m.examples(data, 2))
        grads.append([loss.detach(), *torch.autograd.grad(loss, list(m.parameters()))])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)


def test_node_vector_field_is_in_physical_units():
    """The first step of a rollout moves by ``dt * vector_field``, however the data were scaled."""
    data = decaying_rotation()
    scaled = Trajectory(data.t * 3.0, data.x * 50.0 + 7.0)
    m = node(hidden=16, dtype="float64")
    m.prepare(scaled)
    x0 = torch.as_tensor(scaled.x[5])
    eps = 1e-6
    step = m.quick_rollout(x0[None], torch.tensor([0.0, eps], dtype=torch.float64))[1]
    torch.testing.assert_close((step - x0) / eps, m.vector_field(torch.tensor(0.0), x0), rtol=1e-4, atol=1e-6)
    assert m.vector_field(0.0, torch.as_tensor(scaled.x[:4])).shape == (4, 2)


def test_node_irregular_sampling_gives_per_example_steps():
    data = decaying_rotation(n=50)
    keep = np.sort(np.random.default_rng(0).choice(np.arange(1, 50), 24, replace=False))
    irregular = Trajectory(data.t[np.r_[0, keep]], data.x[np.r_[0, keep]])
    m = node(hidden=16)
    m.prepare(irregular)
    examples = m.examples(irregular, 2)
    np.testing.assert_allclose(examples["h"][:, 0].numpy(), np.diff(irregular.t)[:-1], rtol=1e-6)
    np.testing.assert_allclose(examples["h"][:, 1].numpy(), np.diff(irregular.t)[1:], rtol=1e-6)
    assert examples["target"].shape == (23, 2, 2)
    assert torch.isfinite(m.loss(examples))


def test_node_reference_architecture_and_did_you_mean():
    m = node()
    m.prepare(dim=3)
    assert sum(p.numel() for p in m.parameters()) == 3 * 256 + 256 + 256 * 3 + 3
    with pytest.raises(UnknownNameError, match="did you mean 'relu'"):
        node(activation="reluu")
    with pytest.raises(UnknownNameError, match="did you mean 'hidden'"):
        node(hiden=3)
    with pytest.raises(ConfigError, match="dtype"):
        node(dtype="float16")


def test_node_unknown_solver_is_config_error_when_built():
    with pytest.raises(ConfigError, match="dopri55"):  # before any training (it used to fail at the first loss)
        node(hidden=8, solver="dopri55")


def test_node_rollout_solver_is_checked_when_built_and_scipy_solvers_roll_out_float32_weights():
    with pytest.raises(UnknownNameError, match="unknown solver 'dopri55'; did you mean 'dopri5'"):
        node(hidden=8, rollout_solver="dopri55")
    with pytest.raises(ConfigError, match="option rtol must be a positive number"):
        node(hidden=8, rollout_options={"rtol": -1})
    data = decaying_rotation()
    reference = node(hidden=8)
    reference.prepare(data)
    for solver in ("radau", "bdf"):  # SciPy integrates in float64; the weights are float32
        m = node(hidden=8, rollout_solver=solver)
        m.prepare(data)
        m.load_state_dict(reference.state_dict())
        t = torch.as_tensor(data.t[:5])
        x = m.rollout(torch.as_tensor(data.x[:1]), t)
        assert x.shape == (5, data.dim) and torch.isfinite(x).all()
        assert torch.allclose(x, reference.rollout(torch.as_tensor(data.x[:1]), t), atol=1e-4)


def test_rnn_reference_architecture():
    """Defaults are the reference network: nn.RNN(relu), 2 x 128, Linear head: 50,435 parameters in 3-D."""
    m = rnn()
    m.prepare(dim=3)
    assert sum(p.numel() for p in m.parameters()) == 50_435
    assert m.context_length == 3


def test_rnn_runs_only_on_its_training_step():
    data = decaying_rotation()
    m = rnn(hidden=8)
    m.prepare(data)
    context = torch.as_tensor(data.x[:3])
    with pytest.raises(DataError, match="dt = 0.1") as info:
        m.rollout(context, torch.arange(10, dtype=torch.float64) * 0.2)
    assert "\n" not in str(info.value)
    with pytest.raises(DataError, match="uniformly"):
        m.examples(Trajectory(data.t ** 1.1, data.x), 1)
    with pytest.raises(DataError, match="trained with dt"):
        m.examples(Trajectory(data.t * 2, data.x), 1)
    assert m.rollout(context, torch.arange(10, dtype=torch.float64) * 0.1).shape == (10, 2)


def test_rnn_lookahead_rolls_forward_its_own_predictions():
    data = decaying_rotation()
    m = rnn(hidden=8)
    m.prepare(data)
    examples = m.examples(data, 3)
    assert examples["window"].shape == (40 - 3 - 3 + 1, 3, 2) and examples["target"].shape == (35, 3, 2)
    with torch.no_grad():
        first = m(examples["window"][:1])
        second = m(torch.cat([examples["window"][:1, 1:], first[:, None]], dim=1))
        expected = ((first - examples["target"][:1, 0]) ** 2).sum() + ((second - examples["target"][:1, 1]) ** 2).sum()
        three = m(torch.cat([examples["window"][:1, 2:], first[:, None], second[:, None]], dim=1))
        expected = (expected + ((three - examples["target"][:1, 2]) ** 2).sum()) / 6
        assert torch.allclose(m.loss({k: v[:1] for k, v in examples.items()}), expected)


def test_spiral_node_reproduces_its_training_trajectory():
    """The reference spiral NODE (2-128-2, RK4, lookahead 1, 1000 points) reproduces its data to MSE < 1e-3.

    Half the reference's 2000 epochs (MSE ~3e-4; the full recipe reaches ~3e-5, see benchmarks/train.py).
    """
    data = dyncore.simulate("spiral")
    run = dyncore.train("node", data, hparams={"hidden": 128}, epochs=1000, progress=False)
    with torch.no_grad():
        x = run.model.rollout(torch.as_tensor(data.x[:1]), torch.as_tensor(data.t)).numpy()
    assert np.mean((x - data.x) ** 2) < 1e-3


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_snapshot_rollout_in_numpy_matches_torch(act):
    """Without autograd, quick_rollout steps in numpy; it agrees with the torch steps."""
    data = decaying_rotation()
    m = node(hidden=16, activation=act, dtype="float64", depth=2)
    m.prepare(data)
    context, t = torch.as_tensor(data.x[:1]), torch.as_tensor(data.t[:25])
    with torch.no_grad():
        fast = m.quick_rollout(context, t)
    torch.testing.assert_close(fast, m.quick_rollout(context, t).detach(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["node", "rnn"])
def test_models_feed_the_lyapunov_metric_in_any_dtype(name):
    """The metrics differentiate ``vector_field`` (NODE) or ``rollout`` (RNN), also after ``.double()``."""
    from dyncore.metrics import lyapunov_spectrum

    data = decaying_rotation()
    m = dyncore.models.create(name, hidden=8)
    torch.manual_seed(0)
    m.prepare(data)
    m.double()
    k = m.context_length
    x0 = torch.as_tensor(data.x[:k])[:, None].repeat(1, 3, 1) if name == "rnn" else torch.as_tensor(data.x[:3])
    spectrum = lyapunov_spectrum(m, x0, dt=0.1, n_steps=20, n_transient=5)
    assert np.all(np.isfinite(spectrum.exponents))
