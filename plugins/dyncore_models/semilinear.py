"""The semilinear model for PDEs on periodic grids: ``u_t = L u + N_theta(u)``, ``L`` diagonal in Fourier space, ETDRK4.

The state is the values of a field on a uniform periodic grid. ``L`` acts on the real-FFT modes
of the grid: either a learned real diagonal (black box) or the linear operator of a known
semilinear System (hybrid: known physics, e.g. Kuramoto-Sivashinsky's ``k^2 - k^4``). ``N_theta``
is by default translation-equivariant: one MLP applied to every periodic stencil of ``kernel``
neighbouring grid values (a periodic 1-D convolution followed by pointwise layers); ``network="mlp"``
uses one MLP on the whole state instead. Training and prediction step with ETDRK4 (the solver's
:func:`~dyncore_solvers.etdrk4.etdrk4_step`), so the stiff linear part is integrated exactly and never
limits the step.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from dyncore_solvers.etdrk4 import etdrk4_coefficients_torch, etdrk4_step
from torch import nn

from dyncore.errors import ConfigError, DataError
from dyncore.model import Model
from dyncore.trajectory import Trajectory
from dyncore_models.common import (
    as_tensor,
    check_data,
    choice,
    dtype_of,
    lookahead_value,
    positive_int,
    rollout_inputs,
    states_3d,
)
from dyncore_models.hybrid import _known_system, known_params
from dyncore_models.mlp import MLP, activation

LINEAR = ("learned", "known")
NETWORKS = ("conv", "mlp")


def semilinear_split(system: Any) -> tuple[torch.Tensor, Any] | None:
    """``(diagonal of L, to_spectral)`` of a system that declares a semilinear split, else ``None``.

    The one place this model reads a system's split (today the ``has_semilinear_split`` probe;
    a declared ``SemilinearSystem`` base class later).
    """
    if not getattr(system, "has_semilinear_split", False):
        return None
    return torch.as_tensor(system.linear_operator()), getattr(system, "to_spectral", None) or (lambda x: x)


class SemilinearModel(Model):
    """Semilinear PDE model ``u_t = L u + N_theta(u)`` on a uniform periodic grid, integrated by ETDRK4.

    ``linear="learned"`` (black box): ``L`` is a learned real diagonal on the ``dim // 2 + 1``
    Fourier modes, starting at zero (as ``theta_m (1 + m^2)``, so that the large damping of high
    modes is within reach of the optimiser's steps). ``linear="known"`` (hybrid): ``L`` is the linear operator of
    the registered semilinear System ``known`` at ``known_params`` (it must be diagonal in the
    grid's real-FFT modes, as Kuramoto-Sivashinsky's is), and only ``N_theta`` is learned.
    States are scaled by one number (their standard deviation in the training data), which keeps
    ``L`` and translation equivariance intact. Training takes one ETDRK4 step per data interval;
    rollouts too (at most one step per training interval: ``rollout_options`` may set
    ``step_size``). Lyapunov exponents are measured through that step map.

    Hyperparameters:
        linear (``learned``): ``learned`` or ``known``. known, known_params: the system that gives L
            (with ``linear="known"``), as for the ``hybrid`` model.
        network (``conv``): ``conv`` (one MLP on every periodic stencil of ``kernel`` points:
            translation-equivariant) or ``mlp`` (one MLP on the whole state).
        kernel (7, odd): stencil width of ``conv``. hidden (64), depth (2), activation (``gelu``): the MLP.
        quadratic (False): add a learned quadratic form of each stencil to ``conv``'s output (starts at
            zero): exact for quadratic nonlinearities such as advection ``u u_x``, which an MLP only approximates.
        fourier_gain (True): multiply the network's output by a learned complex gain per Fourier mode
            (starting at 1): a global periodic convolution, still translation-equivariant, which
            represents spectral derivatives and dealiasing filters that no local stencil does.
        rollout_options ({}): options of the ``etdrk4`` solver in :meth:`rollout`.
        dtype (``float32``).

    The data must be values on a uniform periodic grid: data from a registered system are checked
    against its ``periodic_grid`` fact, data whose metadata have a ``grid`` entry against it
    (``{"periodic": bool, "x": [grid points]}``); data of unknown origin are taken as periodic.
    """

    name = "semilinear"
    default_hparams = {
        "linear": "learned",
        "known": None,
        "known_params": {},
        "network": "conv",
        "kernel": 7,
        "hidden": 64,
        "depth": 2,
        "activation": "gelu",
        "quadratic": False,
        "fourier_gain": True,
        "rollout_options": {},
        "dtype": "float32",
    }

    def __init__(self, **hparams: Any) -> None:
        super().__init__(**hparams)
        hp = self.hparams
        choice(self.name, "linear", hp["linear"], LINEAR)
        choice(self.name, "network", hp["network"], NETWORKS)
        for key in ("hidden", "depth", "kernel"):
            positive_int(self.name, key, hp[key])
        if hp["kernel"] % 2 == 0:
            raise ConfigError(f"model 'semilinear': kernel must be odd (a centred stencil), got {hp['kernel']!r}")
        activation(hp["activation"])
        for key in ("quadratic", "fourier_gain"):
            if not isinstance(hp[key], bool):
                raise ConfigError(f"model 'semilinear': {key} must be true or false, got {hp[key]!r}")
        if hp["quadratic"] and hp["network"] != "conv":
            raise ConfigError("model 'semilinear': quadratic applies to network=conv (a quadratic form of each stencil); drop it")
        self._build_dtype = dtype_of(self.name, hp["dtype"])
        if not isinstance(hp["rollout_options"], dict):
            raise ConfigError(f"model 'semilinear': rollout_options must be a dict of etdrk4 options, got {hp['rollout_options']!r}")
        self._solver()  # a bad option fails now, not in predict
        self.known = None
        self._known_linear: torch.Tensor | None = None
        if hp["linear"] == "known":
            if not isinstance(hp["known"], str) or not hp["known"]:
                raise ConfigError(
                    "model 'semilinear' with linear=known needs the system that gives L, e.g. --hparam known=kuramoto_sivashinsky"
                )
            self.known = _known_system(hp["known"], known_params(self.name, hp["known_params"]), self.name)
            self._known_linear = _fourier_diagonal(self.known)
        elif hp["known"] is not None:
            raise ConfigError("model 'semilinear': known is used only with linear=known; drop it or set --hparam linear=known")
        self.nfe = 0
        self._coefficient_cache: dict[tuple, tuple[torch.Tensor, ...]] = {}

    # -- construction ----------------------------------------------------------------------
    @property
    def context_length(self) -> int:
        return 1

    @property
    def _dtype(self) -> torch.dtype:
        return self.scale.dtype if self.dim is not None else self._build_dtype

    def prepare(self, trajectory: Trajectory | None = None, dim: int | None = None) -> None:
        """Build ``L`` and ``N_theta`` for ``dim`` grid points (the data's) and fit the state scale.

        Raises:
            DataError: the data are not values on a uniform periodic grid.
            ConfigError: the known system's grid differs from the data's.
        """
        if trajectory is not None:
            check_data(self.name, trajectory, None, 1, "one state")
            check_periodic_grid(trajectory)
            dim = trajectory.dim
        if dim is None:
            raise ConfigError("model 'semilinear': prepare() needs a trajectory or a dimension")
        hp, dtype = self.hparams, self._build_dtype
        self.dim = positive_int(self.name, "dim", dim)
        modes = self.dim // 2 + 1
        if self.known is not None:
            if self.known.dim != self.dim:
                raise ConfigError(
                    f"model 'semilinear': the known system {hp['known']!r} has {self.known.dim} grid points, the data "
                    f"{self.dim}; give known_params for the data's grid (e.g. N={self.dim})"
                )
            linear = self._known_linear
            self.register_buffer("linear", linear.to(dtype if not linear.is_complex() else _complex(dtype)))
        else:
            # L_m = theta_m (1 + m^2): Adam's steps in theta then reach the large damping rates of high modes
            self.linear_theta = nn.Parameter(torch.zeros(modes, dtype=dtype))
            self.register_buffer("linear_scale", 1.0 + torch.arange(modes, dtype=dtype) ** 2)
        if hp["network"] == "conv":
            self.net = MLP(hp["kernel"], 1, hp["hidden"], hp["depth"], hp["activation"], dtype)
            if hp["quadratic"]:
                self.quadratic = nn.Parameter(torch.zeros(hp["kernel"], hp["kernel"], dtype=dtype))
        else:
            self.net = MLP(self.dim, self.dim, hp["hidden"], hp["depth"], hp["activation"], dtype)
        if hp["fourier_gain"]:  # a learned complex gain per mode, starting at 1
            self.gain_real = nn.Parameter(torch.ones(modes, dtype=dtype))
            self.gain_imag = nn.Parameter(torch.zeros(modes, dtype=dtype))
        with torch.no_grad():  # N_theta starts small, so training starts from the linear dynamics
            self.net.layers[-1].weight.mul_(0.1)
            self.net.layers[-1].bias.zero_()
        self.register_buffer("scale", torch.tensor(1.0, dtype=dtype))
        self.register_buffer("step", torch.tensor(0.0, dtype=dtype))  # the training data's interval (0: unknown)
        if trajectory is not None:
            x = states_3d(trajectory)
            spread = float(np.std(x))
            if spread > 0:
                self.scale.fill_(spread)
            if trajectory.n > 1:
                self.step.fill_(float(np.median(np.diff(trajectory.t))))
        self._coefficient_cache.clear()

    def _require_built(self) -> None:
        if self.dim is None:
            raise ConfigError("model 'semilinear' is not built yet: train it or call prepare() first")

    # -- the semilinear field in normalised Fourier coordinates ----------------------------
    def nonlinear_grid(self, z: torch.Tensor) -> torch.Tensor:
        """The network on normalised grid values ``z`` ``(..., dim)``: same shape (before the Fourier gain)."""
        self.nfe += 1
        if self.hparams["network"] == "mlp":
            return self.net(z)
        half = self.hparams["kernel"] // 2
        index = (torch.arange(self.dim, device=z.device)[:, None] + torch.arange(-half, half + 1, device=z.device)) % self.dim
        stencils = z[..., index]  # (..., dim, kernel)
        out = self.net(stencils).squeeze(-1)
        if self.hparams["quadratic"]:
            out = out + ((stencils @ self.quadratic) * stencils).sum(-1)
        return out

    def nonlinear(self, t: torch.Tensor | float, v: torch.Tensor) -> torch.Tensor:
        """``N_theta`` in Fourier coordinates: ``G * rfft(N_local(irfft(v)))`` for ``v`` ``(..., dim // 2 + 1)``.

        ``G`` is the learned per-mode gain (``fourier_gain``; 1 without it), ``N_local`` :meth:`nonlinear_grid`.
        """
        out = torch.fft.rfft(self.nonlinear_grid(torch.fft.irfft(v, n=self.dim, dim=-1)), dim=-1)
        if self.hparams["fourier_gain"]:
            out = out * torch.complex(self.gain_real, self.gain_imag)
        return out

    def linear_operator(self) -> torch.Tensor:
        """The diagonal of ``L`` on the Fourier modes, shape ``(dim // 2 + 1,)`` (learned or the known system's)."""
        self._require_built()
        return self.linear_theta * self.linear_scale if self.hparams["linear"] == "learned" else self.linear

    def _coefficients(self, h: float) -> tuple[torch.Tensor, ...]:
        """ETDRK4 coefficients for the step ``h``: differentiable in a learned ``L``, cached for a known one."""
        if self.hparams["linear"] == "learned":
            return etdrk4_coefficients_torch(self.linear_operator(), h)
        key = (h, self.linear.dtype, self.linear.device)
        if key not in self._coefficient_cache:
            with torch.no_grad():
                self._coefficient_cache[key] = etdrk4_coefficients_torch(self.linear, h)
        return self._coefficient_cache[key]

    def step_spectral(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One ETDRK4 step of normalised Fourier coefficients ``v`` ``(m, modes)`` over steps ``h`` ``(m, 1)``."""
        values = torch.unique(h)
        if len(values) == 1:
            coefficients = self._coefficients(float(values[0]))
        else:  # irregular sampling: coefficients per example
            coefficients = etdrk4_coefficients_torch(self.linear_operator(), h)
        zero = torch.zeros((), device=v.device)
        return etdrk4_step(v, zero, 0.0, coefficients, self.nonlinear, zero, zero)

    # -- training --------------------------------------------------------------------------
    def examples(self, trajectory: Trajectory, lookahead: int = 1) -> dict[str, torch.Tensor]:
        """Every state is a start; its next ``lookahead`` states are the target (as the ``node`` model's).

        Returns:
            ``x0`` (m, dim) scaled start states, ``target`` (m, lookahead, dim), ``h`` (m, lookahead) time steps.
        """
        k = lookahead_value(lookahead)
        self._require_built()
        check_data(self.name, trajectory, self.dim, k + 1, f"lookahead {k} needs {k} points after each start")
        x = states_3d(trajectory) / float(self.scale)
        n, batch, dim = x.shape
        m = n - k
        target = np.stack([x[j + 1 : j + 1 + m] for j in range(k)], axis=1)  # (m, k, batch, dim)
        steps = np.diff(trajectory.t)
        h = np.stack([steps[j : j + m] for j in range(k)], axis=1)
        return {
            "x0": as_tensor(x[:m].reshape(m * batch, dim), self._dtype, self.device),
            "target": as_tensor(target.transpose(0, 2, 1, 3).reshape(m * batch, k, dim), self._dtype, self.device),
            "h": as_tensor(np.repeat(h, batch, axis=0), self._dtype, self.device),
        }

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean squared error of the ``lookahead`` ETDRK4-predicted states, in scaled units."""
        v = torch.fft.rfft(batch["x0"], dim=-1)
        h = batch["h"]
        preds = []
        for j in range(h.shape[1]):
            v = self.step_spectral(v, h[:, j : j + 1])
            preds.append(torch.fft.irfft(v, n=self.dim, dim=-1))
        return F.mse_loss(torch.stack(preds, dim=1), batch["target"])

    # -- prediction ------------------------------------------------------------------------
    def _solver(self) -> Any:
        import dyncore

        return dyncore.solvers.create("etdrk4", **self.hparams["rollout_options"])

    def rollout(self, context: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Integrate from ``context[0]`` with ETDRK4 (differentiable when ``context`` requires gradients).

        Args:
            context: ``(1, [batch,] dim)``, the state at ``t[0]``. t: output times ``(n,)``.
        Returns:
            ``(n, [batch,] dim)`` in the dtype of ``context``; row 0 is ``context[0]``.
        """
        self._require_built()
        context, times = rollout_inputs("semilinear", self.dim, self.device, context, t, torch.float64)
        x = self._solver().solve(_SemilinearField(self), context[0], times)
        return torch.cat([context[:1], x[1:].to(context.dtype)], dim=0)


class _SemilinearField:
    """The model as a semilinear field for the ``etdrk4`` solver: its split, its coordinates, its step."""

    has_semilinear_split = True

    def __init__(self, model: SemilinearModel) -> None:
        self.model = model

    def linear_operator(self) -> torch.Tensor:
        return self.model.linear_operator().detach()

    def nonlinear(self, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return self.model.nonlinear(t, v)

    def to_spectral(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfft(x.to(self.model._dtype) / self.model.scale, dim=-1)

    def from_spectral(self, v: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfft(v, n=self.model.dim, dim=-1) * self.model.scale

    def fixed_step(self) -> float | None:
        """The training interval: rollouts on coarser grids take substeps no larger than it."""
        step = float(self.model.step)
        return step if step > 0 else None

    def __call__(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        v = self.to_spectral(x)
        return self.from_spectral(self.linear_operator() * v + self.nonlinear(t, v))


def check_periodic_grid(trajectory: Trajectory) -> None:
    """Refuse data that are not values on a uniform periodic grid, as far as their metadata say.

    Raises:
        DataError: the metadata's ``grid`` says non-periodic or gives non-uniform points, or the data
            come from a registered system whose state is not a periodic grid (no ``periodic_grid`` fact).
    """
    import dyncore

    grid = trajectory.meta.get("grid")
    if isinstance(grid, dict):
        if grid.get("periodic") is False:
            raise DataError("model 'semilinear' needs values on a periodic grid; these data's metadata say grid.periodic = false")
        points = grid.get("x")
        if points is not None:
            points = np.asarray(points, dtype=np.float64)
            spacing = np.diff(points)
            if len(points) != trajectory.dim or len(spacing) == 0 or np.ptp(spacing) > 1e-9 * np.abs(spacing).max():
                raise DataError(
                    "model 'semilinear' needs values on a uniform periodic grid; these data's grid points (metadata grid.x) "
                    "are not equally spaced: interpolate them onto a uniform grid first"
                )
        return
    source = trajectory.meta.get("system")
    if isinstance(source, str) and source in dyncore.systems:
        if not getattr(dyncore.systems.get(source), "periodic_grid", False):
            raise DataError(
                f"model 'semilinear' needs values on a uniform periodic grid; these data come from system {source!r}, "
                "whose state is not one (use 'node' or 'hybrid' for ODE data)"
            )


def _fourier_diagonal(system: Any) -> torch.Tensor:
    """The known system's ``L`` as a diagonal on its grid's real-FFT modes; a ConfigError if it has none."""
    split = semilinear_split(system)
    if split is None:
        raise ConfigError(
            f"model 'semilinear': the known system {system.name!r} is not semilinear (it declares no linear operator), so L "
            "cannot be taken from it; use --hparam linear=learned"
        )
    linear, to_spectral = split
    probe = torch.randn(system.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    modes = system.dim // 2 + 1
    spectral = to_spectral(probe)
    if linear.shape != (modes,) or spectral.shape != (modes,) or not torch.allclose(spectral, torch.fft.rfft(probe)):
        raise ConfigError(
            f"model 'semilinear': the linear operator of {system.name!r} is not diagonal on the Fourier modes of a periodic grid "
            "(its spectral coordinates are not the real FFT of the state); use --hparam linear=learned"
        )
    return linear.detach().clone()


def _complex(dtype: torch.dtype) -> torch.dtype:
    return torch.complex64 if dtype == torch.float32 else torch.complex128
