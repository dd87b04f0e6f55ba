"""ETDRK4: the fourth-order exponential time-differencing Runge-Kutta scheme of Cox & Matthews (2002),
with the contour-integral coefficients of Kassam & Trefethen (2005), for semilinear systems.

A system qualifies when it exposes its semilinear split ``v' = L v + N(t, v)`` with ``L`` diagonal:

- ``linear_operator()``: the diagonal of ``L``, real or complex, shape ``(m,)``;
- ``nonlinear(t, v)``: ``N`` for ``v`` of shape ``(..., m)``;
- optionally ``to_spectral(x)`` / ``from_spectral(v)``: the change of coordinates from the state
  ``x`` to the coordinates ``v`` in which ``L`` is diagonal (identity when absent), and
  ``numpy_nonlinear(t, v)``: the same ``N`` on numpy arrays.

The stiff linear part is integrated exactly, so the step is limited by accuracy, not stability.
Batched over any leading dimensions of ``x0``; differentiable (the torch path); on CPU or CUDA.
When no gradient is needed on CPU and the system has ``numpy_nonlinear``, the same step runs on
numpy arrays, which avoids torch's per-operation overhead on small states (N = 64).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch

from dyncore.errors import ConfigError, SolverError
from dyncore.solver import Solver, internal_step, substeps


def etdrk4_coefficients(linear: np.ndarray, h: float, points: int = 64) -> tuple[np.ndarray, ...]:
    """ETDRK4 coefficients ``(E, E2, Q, f1, f2, f3)`` for the diagonal ``linear`` and step ``h``.

    The phi-functions are averaged over ``points`` points on a unit circle around each ``h L``
    (Kassam & Trefethen 2005), which avoids the cancellation of the direct formulas near ``h L = 0``.
    The full circle is used so that complex ``L`` works too; for real ``L`` the result is real.

    Args:
        linear: diagonal of L, shape ``(m,)``, real or complex.
        h: step size.
        points: number of contour points.
    Returns:
        Six arrays of shape ``(m,)``: ``exp(hL)``, ``exp(hL/2)``, ``Q`` and ``f1``, ``f2``, ``f3``
        (``f2`` is the coefficient of ``Na + Nb``, i.e. already multiplied by 2).
    """
    hl = h * np.asarray(linear, dtype=np.complex128)
    r = np.exp(2j * np.pi * (np.arange(points) + 0.5) / points)
    lr = hl[..., None] + r
    elr = np.exp(lr)
    q = h * np.mean((np.exp(lr / 2) - 1) / lr, axis=-1)
    f1 = h * np.mean((-4 - lr + elr * (4 - 3 * lr + lr**2)) / lr**3, axis=-1)
    f2 = h * np.mean((2 + lr + elr * (lr - 2)) / lr**3, axis=-1)
    f3 = h * np.mean((-4 - 3 * lr - lr**2 + elr * (4 - lr)) / lr**3, axis=-1)
    coefficients = (np.exp(hl), np.exp(hl / 2), q, f1, 2 * f2, f3)
    if not np.iscomplexobj(linear):
        coefficients = tuple(c.real for c in coefficients)
    return coefficients


def etdrk4_coefficients_torch(linear: torch.Tensor, h: float | torch.Tensor, points: int = 64) -> tuple[torch.Tensor, ...]:
    """:func:`etdrk4_coefficients` in torch, differentiable in ``linear`` (a learned diagonal) and ``h``.

    Args:
        linear: diagonal of L, shape ``(m,)``, real or complex.
        h: step size, a float or a tensor broadcasting against ``linear`` (e.g. ``(batch, 1)`` per-example steps).
        points: number of contour points.
    Returns:
        The six coefficients, shape ``h * linear``; real of ``linear``'s dtype for real ``linear``, else complex.
    """
    hl = (h * linear).to(torch.complex128)
    angle = 2 * np.pi * (np.arange(points) + 0.5) / points
    r = torch.as_tensor(np.exp(1j * angle), dtype=torch.complex128, device=linear.device)
    lr = hl[..., None] + r
    elr = torch.exp(lr)
    step = torch.as_tensor(h, dtype=torch.float64, device=linear.device)
    q = step * torch.mean((torch.exp(lr / 2) - 1) / lr, dim=-1)
    f1 = step * torch.mean((-4 - lr + elr * (4 - 3 * lr + lr**2)) / lr**3, dim=-1)
    f2 = step * torch.mean((2 + lr + elr * (lr - 2)) / lr**3, dim=-1)
    f3 = step * torch.mean((-4 - 3 * lr - lr**2 + elr * (4 - lr)) / lr**3, dim=-1)
    coefficients = (torch.exp(hl), torch.exp(hl / 2), q, f1, 2 * f2, f3)
    if not linear.is_complex():
        coefficients = tuple(c.real.to(linear.dtype) for c in coefficients)
    else:
        coefficients = tuple(c.to(linear.dtype) for c in coefficients)
    return coefficients


def etdrk4_step(v: Any, t: Any, h: float, coefficients: tuple[Any, ...], nonlinear: Callable[[Any, Any], Any],
                half: Any, full: Any) -> Any:
    """One ETDRK4 step from ``v`` at time ``t`` (works on torch tensors and numpy arrays alike).

    Args:
        v: state in the coordinates where L is diagonal, shape ``(..., m)``.
        t, half, full: the times ``t``, ``t + h/2`` and ``t + h`` as ``nonlinear`` wants them.
        coefficients: from :func:`etdrk4_coefficients`, converted to ``v``'s array type.
        nonlinear: ``N(t, v)``.
    """
    e, e2, q, f1, f2, f3 = coefficients
    nv = nonlinear(t, v)
    e2v = e2 * v
    a = e2v + q * nv
    na = nonlinear(half, a)
    b = e2v + q * na
    nb = nonlinear(half, b)
    c = e2 * a + q * (2 * nb - nv)
    nc = nonlinear(full, c)
    return e * v + f1 * nv + f2 * (na + nb) + f3 * nc


class ETDRK4(Solver):
    """Exponential time differencing RK4 (Kassam & Trefethen 2005) for systems with a semilinear split."""

    name = "etdrk4"
    order = 4
    adaptive = False
    differentiable = True
    stiff = True
    #: step_size: each output interval is cut into the fewest equal steps no larger than step_size
    #: (None: the system's own step, ``f.fixed_step()``, e.g. 0.25 for Kuramoto-Sivashinsky; one
    #: step per interval when ``f`` has none). contour_points: points on the contour of the
    #: coefficient integrals.
    default_options: ClassVar[dict[str, Any]] = {"step_size": None, "contour_points": 64}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        step = self.options["step_size"]
        if step is not None and (isinstance(step, bool) or not isinstance(step, (int, float)) or not step > 0):
            raise ConfigError(f"etdrk4 option step_size must be a positive number or None, got {step!r}")
        if not isinstance(self.options["contour_points"], int) or self.options["contour_points"] < 8:
            raise ConfigError("etdrk4 option contour_points must be an integer >= 8 (default 64)")

    def supports(self, f: Any) -> str | None:
        if getattr(f, "has_semilinear_split", False):
            return None
        return (
            "etdrk4 needs a semilinear split (linear_operator() and nonlinear(t, v)); "
            "use 'dop853' or, for stiff systems, 'radau'"
        )

    def solve(self, f: Callable, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Integrate ``f`` from ``x0`` over ``t``; see :meth:`dyncore.Solver.solve`. Returns ``(len(t), *x0.shape)``."""
        reason = self.supports(f)
        if reason:
            raise SolverError(reason)
        times = torch.as_tensor(t).detach().cpu().double().numpy()
        linear = f.linear_operator()
        linear = linear.detach().cpu().numpy() if hasattr(linear, "detach") else np.asarray(linear)
        to_spectral = getattr(f, "to_spectral", None) or (lambda x: x)
        from_spectral = getattr(f, "from_spectral", None) or (lambda v: v)
        v = to_spectral(x0)
        fast = getattr(f, "numpy_nonlinear", None)
        if fast is not None and x0.device.type == "cpu" and not (torch.is_grad_enabled() and x0.requires_grad):
            path = self._numpy_path(fast, v.detach().cpu().numpy(), times, linear, internal_step(self.options["step_size"], f))
            with torch.no_grad():
                x = from_spectral(torch.from_numpy(path).to(v.dtype)).to(x0.dtype)
                x[0] = x0
            return x
        spectral = self._torch_path(f.nonlinear, v, times, linear, internal_step(self.options["step_size"], f))
        return torch.cat([x0.unsqueeze(0), from_spectral(spectral[1:]).to(dtype=x0.dtype, device=x0.device)])

    def _plan(self, times: np.ndarray, linear: np.ndarray, convert: Callable, step: float | None) -> list[tuple[int, float, tuple]]:
        """For each output interval: (number of steps no larger than ``step``, step size, coefficients shared per step size)."""
        cache: dict[float, tuple] = {}
        plan = []
        for dt in np.diff(times):
            count = substeps(float(dt), step)
            h = float(dt / count)
            key = round(h, 12)
            if key not in cache:
                cache[key] = tuple(convert(c) for c in etdrk4_coefficients(linear, h, self.options["contour_points"]))
            plan.append((count, h, cache[key]))
        return plan

    #: Outputs between finiteness checks of the numpy path (a check per step would cost ~2 %).
    CHECK_EVERY = 256

    def _numpy_path(self, nonlinear: Callable, v: np.ndarray, times: np.ndarray, linear: np.ndarray, step: float | None) -> np.ndarray:
        out = np.empty((len(times), *v.shape), dtype=v.dtype)
        out[0] = v
        with np.errstate(over="ignore", invalid="ignore"):
            for k, (count, h, coefficients) in enumerate(self._plan(times, linear, lambda c: c, step)):
                s = times[k]
                for _ in range(count):
                    v = etdrk4_step(v, s, h, coefficients, nonlinear, s + h / 2, s + h)
                    s += h
                out[k + 1] = v
                if k % self.CHECK_EVERY == 0 and not np.all(np.isfinite(v)):
                    break
        finite = np.isfinite(out.reshape(len(times), -1)).all(axis=1)
        if not finite.all():
            raise self._blow_up(times, int(np.argmin(finite)) - 1)
        return out

    def _torch_path(self, nonlinear: Callable, v: torch.Tensor, times: np.ndarray, linear: np.ndarray, step: float | None) -> torch.Tensor:
        real = torch.float32 if v.dtype in (torch.float32, torch.complex64) else torch.float64

        def convert(c: np.ndarray) -> torch.Tensor:
            dtype = (torch.complex64 if real == torch.float32 else torch.complex128) if np.iscomplexobj(c) else real
            return torch.as_tensor(c, dtype=dtype, device=v.device)

        def at(s: float) -> torch.Tensor:
            return torch.tensor(s, dtype=torch.float64, device=v.device)

        out = [v]
        for k, (count, h, coefficients) in enumerate(self._plan(times, linear, convert, step)):
            s = times[k]
            for _ in range(count):
                v = etdrk4_step(v, at(s), h, coefficients, nonlinear, at(s + h / 2), at(s + h))
                s += h
            out.append(v)
        result = torch.stack(out)
        finite = torch.isfinite(torch.view_as_real(result) if result.is_complex() else result)
        finite = finite.reshape(len(times), -1).all(dim=1).cpu().numpy()
        if not finite.all():
            raise self._blow_up(times, int(np.argmin(finite)) - 1)
        return result

    def _blow_up(self, times: np.ndarray, k: int) -> SolverError:
        return SolverError(
            f"solver 'etdrk4': the solution became NaN/Inf between t = {times[k]:g} and t = {times[k + 1]:g}; "
            "use a smaller step_size or check the parameters and x0"
        )
