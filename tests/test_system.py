"""The System interface: declared capabilities with defaults on the base class, and the deprecated probing path."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import dyncore
from dyncore.simulation import FALLBACK_SOLVER, watched
from dyncore.system import SemilinearSystem, System


class Decay(System):
    """x' = -x in two dimensions; declares nothing optional."""

    name = "decay"

    @property
    def dim(self) -> int:
        return 2

    def vector_field(self, t, x):
        return -x

    def default_x0(self):
        return torch.tensor([1.0, 2.0], dtype=torch.float64)

    def default_times(self):
        return torch.linspace(0, 1, 11, dtype=torch.float64)


class SplitDecay(SemilinearSystem, Decay):
    """x' = -x + 0.5 sin(x), declared as the split L = -1, N = 0.5 sin."""

    name = "split_decay"

    def vector_field(self, t, x):
        return -x + 0.5 * torch.sin(x)

    def linear_operator(self):
        return -torch.ones(2, dtype=torch.float64)

    def nonlinear(self, t, v):
        return 0.5 * torch.sin(v)


class OldSplitDecay(Decay):
    """The same split given the old way: methods found by name, no SemilinearSystem."""

    name = "old_split_decay"

    def vector_field(self, t, x):
        return -x + 0.5 * torch.sin(x)

    def linear_operator(self):
        return -torch.ones(2, dtype=torch.float64)

    def nonlinear(self, t, v):
        return 0.5 * torch.sin(v)


def test_base_class_declares_every_capability_with_a_default():
    s = Decay()
    assert s.default_solver is None and s.default_transient == 0.0
    assert s.numpy_vector_field is None and s.jacobian is None
    assert not s.has_semilinear_split
    a, b = s.random_x0(3, 0), s.random_x0(3, 1)
    assert a.shape == (3, 2) and a.dtype == torch.float64 and not torch.equal(a, b)
    assert torch.equal(a, Decay().random_x0(3, 0))


def test_simulate_reads_the_declared_defaults():
    trajectory = dyncore.simulate(Decay(), progress=False)
    assert trajectory.meta["solver"] == FALLBACK_SOLVER and trajectory.meta["transient"] == 0.0

    class Declared(Decay):
        default_solver = "rk4"
        default_transient = 0.5

        def random_x0(self, batch, seed):
            return torch.full((batch, 2), float(seed + 1), dtype=torch.float64)

    trajectory = dyncore.simulate(Declared(), batch=2, seed=4, progress=False)
    assert trajectory.meta["solver"] == "rk4" and trajectory.meta["transient"] == 0.5
    assert trajectory.meta["x0"] == [[5.0, 5.0], [5.0, 5.0]]


def test_a_semilinear_system_declares_its_split_without_warning():
    s = SplitDecay()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert s.has_semilinear_split
        trajectory = dyncore.simulate(s, solver="etdrk4", progress=False)
    reference = dyncore.simulate(s, solver="dop853", rtol=1e-10, atol=1e-12, progress=False)
    np.testing.assert_allclose(trajectory.x, reference.x, atol=1e-6)
    assert torch.equal(s.to_spectral(s.default_x0()), s.default_x0())  # identity coordinates by default


def test_a_semilinear_system_must_give_its_split():
    class Incomplete(SemilinearSystem, Decay):
        name = "incomplete"

        def linear_operator(self):
            return -torch.ones(2)

    with pytest.raises(TypeError, match="nonlinear"):
        Incomplete()


def test_an_old_style_split_still_works_with_a_deprecation_warning():
    s = OldSplitDecay()
    with pytest.warns(DeprecationWarning, match="SemilinearSystem"):
        assert s.has_semilinear_split
    with pytest.warns(DeprecationWarning):
        trajectory = dyncore.simulate(s, solver="etdrk4", progress=False)
    assert np.isfinite(trajectory.x).all()


def test_watched_keeps_the_class_and_ticks_on_every_declared_field_evaluation():
    s = SplitDecay()
    seen = []
    copy = watched(s, lambda name, t: seen.append(name))
    assert type(copy) is SplitDecay and copy.has_semilinear_split
    x = s.default_x0()
    torch.testing.assert_close(copy(torch.tensor(0.0), x), s(torch.tensor(0.0), x))
    copy.nonlinear(torch.tensor(0.0), x)
    assert seen == ["vector_field", "nonlinear"]
    assert s.vector_field.__func__ is SplitDecay.vector_field  # the original is untouched


def test_simulate_with_progress_integrates_a_semilinear_system(capsys):
    trajectory = dyncore.simulate(SplitDecay(), solver="etdrk4", progress=True)
    assert np.isfinite(trajectory.x).all() and "simulating split_decay" in capsys.readouterr().err


def test_the_old_watched_wrapper_is_deprecated_and_keeps_the_class():
    from dyncore.simulation import Progress, Watched

    with pytest.warns(DeprecationWarning, match="watched"):
        copy = Watched(SplitDecay(), Progress("x", 0.0, 1.0, False))
    assert type(copy) is SplitDecay and copy.has_semilinear_split
