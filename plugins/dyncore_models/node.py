"""The Neural ODE: an MLP learns the vector field, a solver turns it into trajectories."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.special
import torch
import torch.nn.functional as F

from dyncore.errors import ConfigError, UnknownNameError
from dyncore.model import VectorFieldModel
from dyncore.trajectory import Trajectory
from dyncore_models.common import (
    as_tensor,
    check_data,
    dtype_of,
    lookahead_value,
    positive_int,
    rollout_inputs,
    states_3d,
)
from dyncore_models.mlp import MLP, FusedMLPStep, Workspace, activation
from dyncore_models.normalization import Normalizer
from dyncore_models.tableaus import TABLEAUS, Tableau, rk_step


class NeuralODE(VectorFieldModel):
    """Neural ODE: an MLP vector field f(x) (or f(t, x)) integrated by a differentiable solver.

    Hyperparameters:
        hidden (256), depth (1 hidden layer), activation (``relu``; also tanh, softplus, gelu, silu):
            the MLP, 3-256-3 for Lorenz as in the reference.
        time_dependent (False): learn ``f(t, x)`` instead of ``f(x)``.
        solver (``rk4``), solver_options ({}): the integrator used in training, one step per data
            interval. The fixed-step methods euler, midpoint, heun2, heun3 and rk4 run as one fused
            step (see :mod:`dyncore_models.mlp`); any other registered differentiable solver works too.
        rollout_solver (``dopri5``), rollout_options ({}: the solver's defaults): the integrator of
            :meth:`rollout`. :meth:`quick_rollout` uses the training method on the output grid.
        adjoint (False): backpropagate with the adjoint method (the training solver's option
            ``adjoint=True``, which the torchdiffeq solvers have; memory independent of the number
            of steps, slower).
        normalize (True): learn in normalised states and time (fitted on the training data and
            saved with the weights); :meth:`vector_field` is always in physical units.
        dtype (``float32``).

    Irregularly sampled data work: every example carries its own time steps.
    """

    name = "node"
    #: The loss is a function of the weights and the batch tensors alone: full-batch steps may be
    #: replayed from a CUDA graph (dyncore_training.step_capture).
    capturable = True
    default_hparams = {
        "hidden": 256,
        "depth": 1,
        "activation": "relu",
        "time_dependent": False,
        "solver": "rk4",
        "solver_options": {},
        "rollout_solver": "dopri5",
        "rollout_options": {},
        "adjoint": False,
        "normalize": True,
        "dtype": "float32",
    }

    def __init__(self, **hparams: Any) -> None:
        super().__init__(**hparams)
        hp = self.hparams
        positive_int(self.name, "hidden", hp["hidden"])
        positive_int(self.name, "depth", hp["depth"])
        activation(hp["activation"])
        self._build_dtype = dtype_of(self.name, hp["dtype"])
        for key in ("solver", "rollout_solver"):
            if not isinstance(hp[key], str):
                raise ConfigError(f"model 'node': {key} must be a solver name such as 'rk4', got {hp[key]!r}")
        for key in ("solver_options", "rollout_options"):
            if not isinstance(hp[key], dict):
                raise ConfigError(f"model 'node': {key} must be a dict of solver options, got {hp[key]!r}")
        self._solver(hp["rollout_solver"], hp["rollout_options"], need_grad=False)  # a bad name or option fails now, not in predict
        if hp["adjoint"]:  # and a training solver without an adjoint fails now, not at the first epoch
            self._solver(hp["solver"], {**hp["solver_options"], "adjoint": True}, need_grad=True)
        self.tableau = TABLEAUS.get(hp["solver"])
        if self.tableau is None and not hp["adjoint"]:  # a solver it cannot train through (radau, bdf) fails now, before any run is written
            self._solver(hp["solver"], hp["solver_options"], need_grad=True)
        self._workspaces: list[Workspace] = []

    # -- construction ----------------------------------------------------------------------
    @property
    def _dtype(self) -> torch.dtype:
        """The dtype computations run in: the weights' (``.double()`` on a built model changes it)."""
        return self.norm.mean.dtype if self.dim is not None else self._build_dtype

    @property
    def context_length(self) -> int:
        return 1

    def prepare(self, trajectory: Trajectory | None = None, dim: int | None = None) -> None:
        """Build the MLP for ``dim`` (or the data's) and fit the normalisation on ``trajectory``."""
        if trajectory is not None:
            check_data(self.name, trajectory, None, 1, "one state")
            dim = trajectory.dim
        if dim is None:
            raise ConfigError("model 'node': prepare() needs a trajectory or a dimension")
        hp = self.hparams
        self.dim = positive_int(self.name, "dim", dim)
        n_in = self.dim + (1 if hp["time_dependent"] else 0)
        self.net = MLP(n_in, self.dim, hp["hidden"], hp["depth"], hp["activation"], self._build_dtype)
        self.norm = Normalizer(self.dim, self._build_dtype)
        # time_scale: normalised time per unit time; t_mean, t_scale: the time input of f(t, x)
        for key, value in (("time_scale", 1.0), ("t_mean", 0.0), ("t_scale", 1.0)):
            self.register_buffer(key, torch.tensor(value, dtype=self._build_dtype))
        if trajectory is not None and hp["normalize"]:
            self._fit_normalization(trajectory)

    def _fit_normalization(self, trajectory: Trajectory) -> None:
        x = states_3d(trajectory)
        self.norm.fit(x)
        t = trajectory.t
        if len(t) > 1:
            z = (x - self.norm.mean.double().numpy()) / self.norm.scale.double().numpy()
            rates = np.diff(z, axis=0) / np.diff(t)[:, None, None]
            rms = float(np.sqrt(np.mean(rates**2)))
            if math.isfinite(rms) and rms > 0:
                self.time_scale.fill_(rms)
            self.t_mean.fill_(float(t.mean()))
            self.t_scale.fill_(float(t.std()) or 1.0)

    @property
    def plain_mlp_field(self) -> bool:
        """True when the normalised field is the autonomous MLP alone (so fused and numpy steps can compute it)."""
        return not self.hparams["time_dependent"]

    @property
    def fused(self) -> bool:
        """True when training steps run through :class:`FusedMLPStep` (plain MLP field, fixed-step method, not compiling)."""
        # under torch.compile the autograd path instead: the compiler fuses it itself, and cannot trace the
        # hand-written step's in-place buffers
        return self.tableau is not None and not self.hparams["adjoint"] and self.plain_mlp_field and not torch.compiler.is_compiling()

    # -- the vector field ------------------------------------------------------------------
    def _field(self, t: torch.Tensor | float, z: torch.Tensor) -> torch.Tensor:
        """``dz/dt`` in normalised states, physical time; ``z`` of shape ``(..., dim)``."""
        self.nfe += 1
        if self.hparams["time_dependent"]:
            feature = (torch.as_tensor(t, dtype=z.dtype, device=z.device) - self.t_mean) / self.t_scale
            if feature.dim() == 0:
                feature = feature.reshape((1,) * z.dim())
            z = torch.cat([z, feature.expand(*z.shape[:-1], 1)], dim=-1)
        return self.net(z) * self.time_scale

    def _field_any_dtype(self, t: torch.Tensor | float, z: torch.Tensor) -> torch.Tensor:
        """:meth:`_field` for states of any float dtype (SciPy solvers integrate in float64), in that dtype."""
        return self._field(t, z.to(self._dtype)).to(z.dtype)

    def vector_field(self, t: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
        """The learned ``dx/dt`` in physical units, batched over leading dimensions, differentiable.

        Args:
            t: time (used only when ``time_dependent``). x: states ``(..., dim)``, any float dtype.
        Returns:
            ``dx/dt`` with the shape and dtype of ``x``.
        """
        xm = as_tensor(x, self._dtype, self.device)
        out = self._field(t, self.norm.encode(xm)) * self.norm.scale
        return out.to(x.dtype) if isinstance(x, torch.Tensor) else out

    # -- training --------------------------------------------------------------------------
    def examples(self, trajectory: Trajectory, lookahead: int = 1) -> dict[str, torch.Tensor]:
        """Every state is an initial condition; its next ``lookahead`` states are the target.

        Returns:
            ``x0`` (m, dim) normalised start states, ``target`` (m, lookahead, dim) normalised,
            ``h`` (m, lookahead) the time steps (per example, so irregular sampling works),
            ``t0`` (m,) start times; m = (n - lookahead) * members.
        """
        k = lookahead_value(lookahead)
        self._require_built()
        check_data(self.name, trajectory, self.dim, k + 1, f"lookahead {k} needs {k} points after each start")
        x = states_3d(trajectory)
        n, batch, dim = x.shape
        m = n - k
        z = (x - self.norm.mean.double().cpu().numpy()) / self.norm.scale.double().cpu().numpy()
        target = np.stack([z[j + 1 : j + 1 + m] for j in range(k)], axis=1)  # (m, k, batch, dim)
        steps = np.diff(trajectory.t)
        h = np.stack([steps[j : j + m] for j in range(k)], axis=1)  # (m, k)
        device = self.device
        return {
            "x0": as_tensor(z[:m].reshape(m * batch, dim), self._dtype, device),
            "target": as_tensor(target.transpose(0, 2, 1, 3).reshape(m * batch, k, dim), self._dtype, device),
            "h": as_tensor(np.repeat(h, batch, axis=0), self._dtype, device),
            "t0": as_tensor(np.repeat(trajectory.t[:m], batch), self._dtype, device),
        }

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean squared error of the ``lookahead`` predicted states, in normalised units."""
        z, h = batch["x0"], batch["h"]
        k = h.shape[1]
        preds = []
        if self.fused:  # no times needed: the network is autonomous
            for j in range(k):
                z = self._fused_step(z, h[:, j : j + 1], j)
                preds.append(z)
        else:
            t = batch["t0"][:, None]
            for j in range(k):
                hj = h[:, j : j + 1]
                z = self._autograd_step(z, t, hj)
                t = t + hj
                preds.append(z)
        if k == 1:
            return F.mse_loss(preds[0], batch["target"][:, 0])
        return F.mse_loss(torch.stack(preds, dim=1), batch["target"])

    def _fused_step(self, z: torch.Tensor, h: torch.Tensor, j: int) -> torch.Tensor:
        """One fused step of normalised states ``z`` (m, dim) over steps ``h`` (m, 1), lookahead step ``j``."""
        while len(self._workspaces) <= j:
            self._workspaces.append(Workspace())
        self.nfe += self.tableau.stages
        return FusedMLPStep.apply(
            z, h * self.time_scale, self.tableau, self.hparams["activation"], self._workspaces[j], *self.net.flat_params()
        )

    def _autograd_step(self, z: torch.Tensor, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Integrate normalised states ``z`` (m, dim) from times ``t`` (m, 1) over steps ``h`` (m, 1) with autograd."""
        if self.tableau is not None and not self.hparams["adjoint"]:
            return rk_step(self._field, t, z, h, self.tableau)
        return self._solve_unit_interval(z, t, h)

    def _solve_unit_interval(self, z: torch.Tensor, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Any registered solver with per-sample steps: integrate ``dz/du = h f(t + u h, z)`` over u in [0, 1]."""
        options = dict(self.hparams["solver_options"])
        if self.hparams["adjoint"]:
            options["adjoint"] = True
        solver = self._solver(self.hparams["solver"], options, need_grad=True)
        unit = torch.tensor([0.0, 1.0], dtype=z.dtype, device=z.device)
        return solver.solve(_UnitIntervalField(self, t, h), z, unit)[-1]

    def _solver(self, name: str, options: dict, need_grad: bool) -> Any:
        import dyncore

        if name not in dyncore.solvers:
            raise UnknownNameError("solver", name, dyncore.solvers.names(), "model 'node': see `dyncore list solvers`")
        if options.get("adjoint") and "adjoint" not in dyncore.solvers.get(name).default_options:
            raise ConfigError(f"model 'node': adjoint=True needs a solver with an adjoint option (the torchdiffeq "
                              f"ones, e.g. 'rk4' or 'dopri5'); {name!r} has none")
        solver = dyncore.solvers.create(name, **options)
        if need_grad and not solver.differentiable:
            raise ConfigError(
                f"model {self.name!r}: solver {name!r} is not differentiable, so the model cannot train through it; train "
                "with 'rk4' or 'dopri5' (for a stiff system: --recipe stiff, model stiff_node, which predicts with radau)"
            )
        return solver

    # -- prediction ------------------------------------------------------------------------
    def rollout(self, context: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Integrate the learned field from ``context[0]`` with ``rollout_solver`` (adaptive by default).

        Args:
            context: ``(1, [batch,] dim)``, the state at ``t[0]``. t: output times ``(n,)``.
        Returns:
            ``(n, [batch,] dim)`` in the dtype of ``context``; row 0 is ``context[0]``.
        """
        context, tt = self._rollout_inputs(context, t)
        solver = self._solver(self.hparams["rollout_solver"], self.hparams["rollout_options"], need_grad=False)
        z = solver.solve(self._field_any_dtype, self.norm.encode(context[0].to(self._dtype)), tt)
        return self._rollout_output(context, z)

    def quick_rollout(self, context: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """:meth:`rollout` by the training method, one step per interval of ``t`` (cheap training snapshots).

        Without autograd (as in snapshots) a plain MLP field steps in numpy on the CPU, float64:
        a 1000-step Lorenz rollout then takes tens of milliseconds instead of hundreds, on any device.
        """
        context, tt = self._rollout_inputs(context, t)
        tableau = self.tableau or TABLEAUS["rk4"]
        z = self.norm.encode(context[0].to(self._dtype))
        if not torch.is_grad_enabled() and self.plain_mlp_field:
            states = _numpy_rollout(self, z.detach().cpu().double().numpy(), tt.detach().cpu().double().numpy(), tableau)
            return self._rollout_output(context, torch.as_tensor(states, dtype=self._dtype, device=self.device))
        out = [z]
        steps = tt[1:] - tt[:-1]
        for i in range(len(steps)):
            z = rk_step(self._field, tt[i], z, steps[i], tableau)
            out.append(z)
        return self._rollout_output(context, torch.stack(out))

    def _require_built(self) -> None:
        if self.dim is None:
            raise ConfigError("model 'node' is not built yet: train it or call prepare() first")

    def _rollout_inputs(self, context: Any, t: Any) -> tuple[torch.Tensor, torch.Tensor]:
        self._require_built()
        return rollout_inputs("node", self.dim, self.device, context, t, self._dtype)

    def _rollout_output(self, context: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        x = self.norm.decode(z).to(context.dtype)
        return torch.cat([context[:1], x[1:]], dim=0)


NUMPY_ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "softplus": lambda z: np.logaddexp(0.0, z),
    "gelu": lambda z: 0.5 * z * (1.0 + scipy.special.erf(z / math.sqrt(2.0))),
    "silu": lambda z: z * scipy.special.expit(z),
}


def _numpy_rollout(model: NeuralODE, z0: np.ndarray, t: np.ndarray, tableau: Tableau) -> np.ndarray:
    """Fixed steps of ``tableau`` on the grid ``t`` for the autonomous normalised field, in numpy float64.

    Args:
        z0: normalised start states ``([batch,] dim)``. t: the grid ``(n,)``.
    Returns:
        Normalised states ``(n, [batch,] dim)``.
    """
    layers = [(layer.weight.detach().cpu().double().numpy().T, layer.bias.detach().cpu().double().numpy()) for layer in model.net.layers]
    act = NUMPY_ACTIVATIONS[model.hparams["activation"]]
    scale = float(model.time_scale)
    last = len(layers) - 1

    def field(z: np.ndarray) -> np.ndarray:
        for j, (w, b) in enumerate(layers):
            z = z @ w + b
            if j < last:
                z = act(z)
        return z

    out = np.empty((len(t), *z0.shape))
    out[0] = z = z0
    steps = np.diff(t) * scale
    for i, h in enumerate(steps):
        ks: list[np.ndarray] = []
        for row in tableau.a:
            y = z
            for w, k in zip(row, ks):
                if w:
                    y = y + (h * w) * k
            ks.append(field(y))
        for w, k in zip(tableau.b, ks):
            if w:
                z = z + (h * w) * k
        out[i + 1] = z
    return out


class _UnitIntervalField(torch.nn.Module):
    """``dz/du = h f(t + u h, z)``: one data interval of every example rescaled to u in [0, 1].

    A module holding the model, so that adjoint solvers find the parameters to differentiate.
    """

    def __init__(self, model: NeuralODE, t: torch.Tensor, h: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        self.t, self.h = t, h

    def forward(self, u: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.h * self.model._field(self.t + u * self.h, z)
