"""Conformance checks for systems: one behaviour each, run on an instance.

The checks read the capabilities a system declares: ``jacobian`` and ``numpy_vector_field`` are
checked when they are not ``None``, the semilinear split only for a :class:`~dyncore.SemilinearSystem`
(:data:`REQUIRES`), ``random_x0`` (the base class's or the system's own) always.
"""

from __future__ import annotations

import json

import numpy as np
import torch

from dyncore.errors import ConfigError
from dyncore.registry import valid_name
from dyncore.system import SemilinearSystem, System


def _state(system: System, batch: tuple[int, ...] = ()) -> torch.Tensor:
    """The default state, perturbed deterministically so that no component is special, shape ``(*batch, dim)``."""
    x0 = system.default_x0().to(torch.float64)
    offsets = torch.linspace(-0.1, 0.1, int(np.prod(batch, dtype=int)) * system.dim, dtype=torch.float64)
    return x0 + offsets.reshape(*batch, system.dim) * (1 + x0.abs())


def _t() -> torch.Tensor:
    return torch.tensor(0.3, dtype=torch.float64)


def check_declares_name_and_parameters(system: System) -> None:
    """``name`` is a lower_snake_case identifier (or ``prefix.Name``), ``dim`` a positive int, parameters JSON-serialisable."""
    cls = type(system)
    assert valid_name(cls.name), cls.name
    assert isinstance(system.dim, int) and system.dim >= 1, f"dim must be a positive int, got {system.dim!r}"
    assert set(system.params) == set(cls.default_params), "params must be exactly the declared default_params"
    json.dumps(system.params)
    json.dumps(system.reference())


def check_unknown_parameter_is_config_error(system: System) -> None:
    """An unknown parameter raises ConfigError."""
    try:
        type(system)(no_such_parameter=1)
    except ConfigError:
        return
    raise AssertionError(f"{system.name}: an unknown parameter was accepted")


def check_default_x0(system: System) -> None:
    """``default_x0()`` is a finite float64 tensor of shape ``(dim,)``."""
    x0 = system.default_x0()
    assert isinstance(x0, torch.Tensor), type(x0)
    assert tuple(x0.shape) == (system.dim,), f"default_x0 shape {tuple(x0.shape)} != ({system.dim},)"
    assert x0.dtype == torch.float64, x0.dtype
    assert torch.isfinite(x0).all(), "default_x0 is not finite"


def check_default_times(system: System) -> None:
    """``default_times()`` is a float64 tensor ``(n,)``, n >= 2, finite and strictly increasing."""
    t = system.default_times()
    assert isinstance(t, torch.Tensor) and t.ndim == 1 and len(t) >= 2, f"bad default_times: {t!r}"
    assert t.dtype == torch.float64, t.dtype
    assert torch.isfinite(t).all() and bool((torch.diff(t) > 0).all()), "default_times must increase strictly"


def check_vector_field_keeps_shape_dtype_device(system: System) -> None:
    """``vector_field`` returns the input's shape, dtype and device (float64, float32; CUDA when present)."""
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        for dtype in (torch.float64, torch.float32):
            x = _state(system).to(dtype=dtype, device=device)
            dx = system.vector_field(_t().to(device), x)
            assert tuple(dx.shape) == tuple(x.shape), f"shape {tuple(dx.shape)} != {tuple(x.shape)}"
            assert dx.dtype == dtype, f"{dtype} in, {dx.dtype} out"
            assert dx.device.type == device.type, f"{device} in, {dx.device} out"
            assert torch.isfinite(dx).all(), "the field is not finite at the default state"


def check_vector_field_is_batched(system: System) -> None:
    """A batch ``(2, 3, dim)`` gives each state's own derivative."""
    x = _state(system, (2, 3))
    dx = system.vector_field(_t(), x)
    assert tuple(dx.shape) == (2, 3, system.dim), tuple(dx.shape)
    for i in range(2):
        for j in range(3):
            torch.testing.assert_close(dx[i, j], system.vector_field(_t(), x[i, j]), rtol=1e-12, atol=1e-12)


def check_vector_field_is_differentiable(system: System) -> None:
    """Autograd's directional derivative of the field matches a central finite difference."""
    x = _state(system).requires_grad_(True)
    direction = torch.linspace(1.0, -1.0, system.dim, dtype=torch.float64)
    weights = torch.linspace(0.5, 1.5, system.dim, dtype=torch.float64)
    (grad,) = torch.autograd.grad((system.vector_field(_t(), x) * weights).sum(), x)
    eps = 1e-6
    with torch.no_grad():
        plus = (system.vector_field(_t(), x + eps * direction) * weights).sum()
        minus = (system.vector_field(_t(), x - eps * direction) * weights).sum()
    fd = float((plus - minus) / (2 * eps))
    ad = float((grad * direction).sum())
    assert np.isclose(ad, fd, rtol=1e-5, atol=1e-6 * (1 + abs(fd))), f"autograd {ad:.8g} != finite difference {fd:.8g}"


def check_jacobian_matches_autograd(system: System) -> None:
    """A system's ``jacobian(t, x)`` (if any) equals autograd's, batched ``(..., dim, dim)``."""
    jacobian = system.jacobian
    if jacobian is None:
        return
    x = _state(system, (2,))
    J = jacobian(_t(), x)
    assert tuple(J.shape) == (2, system.dim, system.dim), tuple(J.shape)
    for i in range(2):
        expected = torch.autograd.functional.jacobian(lambda y: system.vector_field(_t(), y), x[i])
        torch.testing.assert_close(J[i], expected, rtol=1e-10, atol=1e-10)


def check_numpy_vector_field_matches_torch(system: System) -> None:
    """A system's ``numpy_vector_field`` (if any) equals its torch field, batched."""
    fast = system.numpy_vector_field
    if fast is None:
        return
    x = _state(system, (3,))
    expected = system.vector_field(_t(), x).numpy()
    np.testing.assert_allclose(fast(0.3, x.numpy()), expected, rtol=1e-12, atol=1e-12)


def check_semilinear_split_matches_field(system: SemilinearSystem) -> None:
    """A SemilinearSystem's split reassembles the field: ``from_spectral(L v + N(v)) == f(x)``; ``numpy_nonlinear`` (if any) equals ``nonlinear``."""
    x = _state(system, (2,))
    v = system.to_spectral(x)
    linear = torch.as_tensor(system.linear_operator())
    rebuilt = system.from_spectral(linear * v + system.nonlinear(_t(), v))
    torch.testing.assert_close(rebuilt, system.vector_field(_t(), x), rtol=1e-9, atol=1e-9)
    numpy_nonlinear = system.numpy_nonlinear
    if numpy_nonlinear is not None:
        np.testing.assert_allclose(numpy_nonlinear(0.3, v.numpy()), system.nonlinear(_t(), v).numpy(), rtol=1e-12, atol=1e-12)


def check_random_x0_is_seeded(system: System) -> None:
    """``random_x0(batch, seed)`` gives ``(batch, dim)`` float64, the same per seed, new per seed."""
    sample = system.random_x0
    a, b, c = sample(4, 0), sample(4, 0), sample(4, 1)
    assert tuple(a.shape) == (4, system.dim) and a.dtype == torch.float64, (tuple(a.shape), a.dtype)
    assert torch.equal(a, b), "the same seed gave different states"
    assert not torch.equal(a, c), "different seeds gave the same states"


def check_simulates_with_its_default_solver(system: System) -> None:
    """``simulate`` over the first 20 default times works with the system's default solver."""
    t = system.default_times()[:20]
    trajectory = system.simulate(t=t, progress=False)
    assert trajectory.x.shape == (20, system.dim), trajectory.x.shape
    assert np.allclose(trajectory.x[0], system.default_x0().numpy())


CHECKS = [
    check_declares_name_and_parameters,
    check_unknown_parameter_is_config_error,
    check_default_x0,
    check_default_times,
    check_vector_field_keeps_shape_dtype_device,
    check_vector_field_is_batched,
    check_vector_field_is_differentiable,
    check_jacobian_matches_autograd,
    check_numpy_vector_field_matches_torch,
    check_semilinear_split_matches_field,
    check_random_x0_is_seeded,
    check_simulates_with_its_default_solver,
]
#: Checks that need a declared capability: run only on subclasses of the given class.
REQUIRES = {check_semilinear_split_matches_field: SemilinearSystem}
