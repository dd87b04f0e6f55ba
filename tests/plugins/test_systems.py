"""The built-in systems: the conformance kit, the reference defaults, and their known facts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dyncore
from dyncore.errors import ConfigError, UnknownNameError
from dyncore.testing import parametrize_with_checks

SYSTEMS = ["spiral", "lorenz", "van_der_pol", "kuramoto_sivashinsky"]


def test_every_builtin_system_is_registered():
    assert set(SYSTEMS) <= set(dyncore.systems.names())


@parametrize_with_checks(
    [f"systems:{name}" for name in SYSTEMS]
    + [dyncore.systems.create("van_der_pol", mu=1000.0), dyncore.systems.create("kuramoto_sivashinsky", L=100.0, N=256)]
)
def test_conformance(component, check):
    check(component)


def test_spiral_reference_defaults():
    s = dyncore.systems.create("spiral")
    assert s.params["W"] == [[-0.1, -2.0], [2.0, -0.1]]
    assert s.default_x0().tolist() == [2.0, 0.0]
    t = s.default_times()
    assert len(t) == 1000 and float(t[0]) == 0.0 and float(t[-1]) == 25.0


def test_spiral_reproduces_the_reference_run():
    # About 4.4 turns over [0, 25], decaying algebraically (the origin's Jacobian is zero).
    x = dyncore.simulate("spiral").x
    angle = np.unwrap(np.arctan2(x[:, 1], x[:, 0]))
    assert 4.3 < abs(angle[-1] - angle[0]) / (2 * np.pi) < 4.5
    assert 0.3 < np.linalg.norm(x[-1]) < 1.0


def test_spiral_rejects_a_matrix_of_the_wrong_shape():
    with pytest.raises(ConfigError, match="2x2"):
        dyncore.systems.create("spiral", W=[1.0, 2.0])


def test_lorenz_reference_defaults_and_invariants():
    s = dyncore.systems.create("lorenz")
    assert s.params == {"sigma": 10.0, "rho": 28.0, "beta": 8.0 / 3.0}
    assert s.default_x0().tolist() == [-8.0, 7.0, 27.0]
    t = s.default_times()
    assert len(t) == 1000 and float(t[-1]) == 10.0
    assert s.reference()["lyapunov_exponents"] == [0.906, 0.0, -14.572]
    assert dyncore.systems.create("lorenz", rho=20.0).reference() == {}


def test_unknown_parameter_suggests_the_near_name():
    with pytest.raises(UnknownNameError, match="did you mean 'sigma'"):
        dyncore.systems.create("lorenz", sigmma=10.0)


@pytest.mark.parametrize("mu, stiff, solver", [(1.0, False, "dop853"), (10.0, False, "dop853"), (1000.0, True, "radau")])
def test_van_der_pol_is_stiff_for_large_mu(mu, stiff, solver):
    s = dyncore.systems.create("van_der_pol", mu=mu)
    assert s.stiff is stiff and s.default_solver == solver


@pytest.mark.parametrize("mu", [1.0, 10.0, 100.0, 1000.0])
def test_van_der_pol_default_span_covers_a_few_periods(mu):
    s = dyncore.systems.create("van_der_pol", mu=mu)
    periods = float(s.default_times()[-1]) / s.reference()["period"]
    assert 2.5 < periods < 3.5


def test_van_der_pol_rejects_negative_mu():
    with pytest.raises(ConfigError, match="mu"):
        dyncore.systems.create("van_der_pol", mu=-1.0)


def test_kuramoto_sivashinsky_defaults():
    s = dyncore.systems.create("kuramoto_sivashinsky")
    assert (s.params["L"], s.params["N"], s.dim) == (22.0, 64, 64)
    t = s.default_times()
    assert float(t[1] - t[0]) == 0.25
    x0 = s.default_x0()
    assert abs(float(x0.mean())) < 1e-12 and abs(float(x0.std(unbiased=False)) - 1) < 1e-12
    assert not torch.equal(x0, dyncore.systems.create("kuramoto_sivashinsky", x0_seed=1).default_x0())


def test_kuramoto_sivashinsky_dealiasing_zeroes_the_top_third():
    s = dyncore.systems.create("kuramoto_sivashinsky")
    v = torch.ones(33, dtype=torch.complex128)
    n = s.nonlinear(torch.tensor(0.0), v)
    assert torch.all(n[22:] == 0) and torch.any(n[1:22] != 0)
    plain = dyncore.systems.create("kuramoto_sivashinsky", dealias=False).nonlinear(torch.tensor(0.0), v)
    assert torch.any(plain[22:32] != 0) and plain[32] == 0  # the Nyquist derivative is always zero


@pytest.mark.parametrize("bad", [{"N": 63}, {"N": 4}, {"L": 0.0}])
def test_kuramoto_sivashinsky_rejects_bad_grids(bad):
    with pytest.raises(ConfigError):
        dyncore.systems.create("kuramoto_sivashinsky", **bad)


def test_kuramoto_sivashinsky_conserves_the_mean():
    s = dyncore.systems.create("kuramoto_sivashinsky")
    dx = s.vector_field(torch.tensor(0.0), s.random_x0(3, 0))
    assert np.allclose(dx.mean(dim=-1).numpy(), 0.0, atol=1e-12)
