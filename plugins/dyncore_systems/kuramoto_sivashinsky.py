"""The Kuramoto-Sivashinsky equation: spatio-temporal chaos on a periodic domain, pseudo-spectral."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch

from dyncore.errors import ConfigError
from dyncore.limits import check_size
from dyncore.system import SemilinearSystem

#: Largest grid for which the numpy path uses dense real-DFT matrices instead of FFT calls.
DFT_MATRIX_MAX_N = 128


def real_dft_matrices(n: int, gain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Real matrices for ``irfft`` and for ``gain * rfft``, acting on interleaved (re, im) pairs.

    Args:
        n: grid size (even).
        gain: complex factor per mode ``(n/2 + 1,)`` applied after the forward transform.
    Returns:
        ``inverse`` ``(n + 2, n)`` with ``pairs(v) @ inverse == irfft(v, n)`` and ``forward``
        ``(n, n + 2)`` with ``(u @ forward).view(complex) == gain * rfft(u)``.
    """
    modes = np.arange(n // 2 + 1)
    angle = 2 * np.pi / n * np.outer(modes, np.arange(n))  # (n/2 + 1, n)
    cos, sin = np.cos(angle), np.sin(angle)
    weight = np.full(len(modes), 2.0)
    weight[0] = weight[-1] = 1.0  # the mean and the Nyquist mode appear once; their imaginary parts are ignored
    inverse = np.empty((2 * len(modes), n))
    inverse[0::2] = weight[:, None] * cos / n
    inverse[1::2] = -weight[:, None] * sin / n
    inverse[1] = inverse[-1] = 0.0
    g_re, g_im = gain.real[:, None], gain.imag[:, None]
    forward = np.empty((n, 2 * len(modes)))
    forward[:, 0::2] = (g_re * cos + g_im * sin).T  # rfft(u) = u @ (cos - i sin).T, then times gain
    forward[:, 1::2] = (g_im * cos - g_re * sin).T
    return inverse, forward


class KuramotoSivashinsky(SemilinearSystem):
    """Kuramoto-Sivashinsky ``u_t + u u_x + u_xx + u_xxxx = 0`` on a periodic domain of length L.

    The state is the grid values ``u(x_j)``, ``x_j = j L / N``, ``j = 0..N-1``. Derivatives are
    pseudo-spectral with real FFTs (``torch.fft.rfft``: complex FFTs let round-off grow an imaginary
    part that blows up after t ~ 360). With ``v = rfft(u)`` and wavenumbers ``k = 2 pi m / L``,
    ``m = 0..N/2``, the equation is semilinear::

        v' = L v + N(v),   L = k^2 - k^4,   N(v) = -(i k / 2) rfft(irfft(v)^2)

    which :meth:`linear_operator` and :meth:`nonlinear` expose for exponential integrators
    (``etdrk4``, the default solver, with ``dt = 0.25``). Dealiasing (``dealias=True``): the 2/3
    rule zeroes the modes ``m > N/3`` of the nonlinear term, which removes the aliasing error of the
    quadratic product; the Nyquist mode of the derivative is always zero.

    The default initial state is a smooth random field (Fourier modes 1..N/8 with Gaussian
    coefficients damped like ``exp(-m^2/18)``, zero mean, unit standard deviation) seeded by
    ``x0_seed``. Random states need a transient of about 100 time units to reach the attractor:
    ``simulate(transient=100)``. For L = 22 the largest Lyapunov exponent is about 0.048.

    Parameters:
        L: domain length (> 0), default 22.
        N: number of grid points, even, >= 8, default 64.
        dealias: apply the 2/3 rule to the nonlinear term, default True.
        x0_seed: seed of the default initial state, default 0.
    """

    name = "kuramoto_sivashinsky"
    default_params: ClassVar[dict[str, Any]] = {"L": 22.0, "N": 64, "dealias": True, "x0_seed": 0}
    default_solver: ClassVar[str] = "etdrk4"
    #: Output spacing of the default grid.
    default_dt: ClassVar[float] = 0.25
    #: The largest step ETDRK4 (or any fixed-step solver) takes without a ``step_size``, whatever the output grid.
    max_step: ClassVar[float] = 0.25
    #: The state is the values of a field on a uniform periodic grid (see :meth:`grid`).
    periodic_grid: ClassVar[bool] = True

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        length, n = self.params["L"], self.params["N"]
        if isinstance(length, bool) or not isinstance(length, (int, float)) or not length > 0 or not math.isfinite(length):
            raise ConfigError(f"kuramoto_sivashinsky parameter L must be a positive number, got {length!r}")
        if isinstance(n, bool) or not isinstance(n, int) or n < 8 or n % 2:
            raise ConfigError(f"kuramoto_sivashinsky parameter N must be an even integer >= 8, got {n!r}")
        # about a dozen float64 arrays of N values (wavenumbers, coefficients, states, FFT buffers)
        check_size(f"kuramoto_sivashinsky with N = {n}", 16 * 8 * float(n), "use a smaller N (64 is the reference)")
        m = np.arange(n // 2 + 1)
        k = 2 * np.pi * m / length
        self._linear = k**2 - k**4
        derivative = k.copy()
        derivative[-1] = 0.0  # the Nyquist mode of an odd derivative is zero
        keep = m <= n / 3 if self.params["dealias"] else np.ones_like(m, dtype=bool)
        self._gain = -0.5j * derivative * keep  # N(v) = gain * rfft(u^2)
        self._n = n
        self._matrices = real_dft_matrices(n, self._gain) if n <= DFT_MATRIX_MAX_N else None
        self._cache: dict[tuple[torch.dtype, torch.device], tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def dim(self) -> int:
        return self.params["N"]

    def _tensors(self, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """``(L, gain)`` as tensors: L real of ``dtype``, gain complex, on ``device``."""
        real = torch.float32 if dtype in (torch.float32, torch.complex64) else torch.float64
        key = (real, device)
        if key not in self._cache:
            complex_ = torch.complex64 if real == torch.float32 else torch.complex128
            self._cache[key] = (
                torch.as_tensor(self._linear, dtype=real, device=device),
                torch.as_tensor(self._gain, dtype=complex_, device=device),
            )
        return self._cache[key]

    # -- the semilinear split, in Fourier coordinates v = rfft(u) ---------------------------------
    def linear_operator(self) -> torch.Tensor:
        """The diagonal of L in Fourier coordinates, ``k^2 - k^4``, shape ``(N/2 + 1,)``, float64."""
        return torch.from_numpy(self._linear.copy())

    def nonlinear(self, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``N(v) = -(i k / 2) rfft(irfft(v)^2)`` (dealiased), for ``v`` of shape ``(..., N/2 + 1)``, complex."""
        _, gain = self._tensors(v.dtype, v.device)
        u = torch.fft.irfft(v, n=self.params["N"], dim=-1)
        return gain * torch.fft.rfft(u * u, dim=-1)

    def numpy_nonlinear(self, t: float, v: np.ndarray) -> np.ndarray:
        """:meth:`nonlinear` on numpy arrays: the fast path of ETDRK4 when no gradient is needed.

        For ``N <= 128`` the real transforms are matrix products (:func:`real_dft_matrices`), which at
        this size cost less than the call overhead of an FFT; larger grids use numpy's real FFTs.
        """
        if self._matrices is None:
            u = np.fft.irfft(v, self._n)
            return self._gain * np.fft.rfft(u * u)
        inverse, forward = self._matrices
        u = np.ascontiguousarray(v).view(v.real.dtype) @ inverse
        return ((u * u) @ forward).view(np.complex128)

    def to_spectral(self, x: torch.Tensor) -> torch.Tensor:
        """Grid values ``(..., N)`` to Fourier coefficients ``(..., N/2 + 1)``."""
        return torch.fft.rfft(x, dim=-1)

    def from_spectral(self, v: torch.Tensor) -> torch.Tensor:
        """Fourier coefficients ``(..., N/2 + 1)`` to grid values ``(..., N)``."""
        return torch.fft.irfft(v, n=self.params["N"], dim=-1)

    # -- the System interface ----------------------------------------------------------------------
    def vector_field(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``u_t = -u u_x - u_xx - u_xxxx`` for grid values ``(..., N)``; same shape, dtype and device."""
        linear, _ = self._tensors(x.dtype, x.device)
        v = self.to_spectral(x)
        return self.from_spectral(linear * v + self.nonlinear(t, v))

    def grid(self) -> torch.Tensor:
        """The grid points ``x_j = j L / N``, shape ``(N,)``, float64."""
        return torch.arange(self.params["N"], dtype=torch.float64) * (self.params["L"] / self.params["N"])

    def default_x0(self) -> torch.Tensor:
        return self._smooth_random(np.random.default_rng(self.params["x0_seed"]), ())

    def random_x0(self, batch: int, seed: int) -> torch.Tensor:
        """``batch`` seeded smooth random fields, shape ``(batch, N)`` (see the class docstring)."""
        return self._smooth_random(np.random.default_rng(seed), (batch,))

    def _smooth_random(self, rng: np.random.Generator, batch: tuple[int, ...]) -> torch.Tensor:
        n = self.params["N"]
        modes = np.arange(1, n // 8 + 1)
        coefficients = np.zeros((*batch, n // 2 + 1), dtype=np.complex128)
        scale = np.exp(-(modes**2) / 18.0)
        coefficients[..., modes] = scale * (rng.standard_normal((*batch, len(modes))) + 1j * rng.standard_normal((*batch, len(modes))))
        u = np.fft.irfft(coefficients, n=n, axis=-1)
        u = u / u.std(axis=-1, keepdims=True)
        return torch.from_numpy(u)

    def default_times(self) -> torch.Tensor:
        return self.default_dt * torch.arange(1000, dtype=torch.float64)

    def reference(self) -> dict[str, Any]:
        """The largest Lyapunov exponent for L = 22 (Cvitanovic, Davidchack & Siminos 2010)."""
        if self.params["L"] == 22.0:
            return {"largest_lyapunov_exponent": 0.048, "lyapunov_time": 1 / 0.048}
        return {}
