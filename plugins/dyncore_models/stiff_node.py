"""A Neural ODE for stiff systems: range-scaled states, slow-scaled time, a field affine in the fast states,
trained on the implicit trapezoidal rule and integrated by an implicit solver.

Learning a stiff field fails in four places that this model treats one by one:

- scale (as in Kim et al., "Stiff neural ordinary differential equations", Chaos 31, 093122, 2021): each state is scaled by its range (not its standard deviation, which the rare fast
  excursions dominate) and time by the *slow* scale, the time-weighted median rate of the data, so
  the slow motion has rates of order one;
- the training integrator: each data interval is scored by the residual of the implicit
  trapezoidal rule, ``(z1 - z0)/h - (g(z0) + g(z1))/2``, evaluated at the data (no Newton solve,
  stable whatever the stiffness), divided by the size of the interval's mean rate so that slow and
  fast intervals weigh alike (a relative, "stiff-aware" loss);
- representation: a relaxation oscillation sits on a slow manifold that is a cancellation of
  large terms; an MLP cannot place it to a few per cent. Components flagged ``fast`` enter the
  field affinely, ``g(z) = b(z_slow) + A(z_slow) z_fast`` (the singular-perturbation normal form),
  so the manifold is the ratio of two smooth learned functions. With no fast component the field
  is a plain MLP;
- optimisation: the field is linear in the output layers, which :meth:`StiffNODE.fit_closed_form`
  solves by least squares on random hidden features (Adam stalls on this loss at mu = 1000).

Predictions use ``rollout_solver`` (``radau`` by default), whose Newton iterations get the learned
field's Jacobian by autograd.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dyncore.errors import ConfigError
from dyncore.model import Model
from dyncore.trajectory import Trajectory
from dyncore_models.common import as_tensor, check_data, dtype_of, lookahead_value, positive_int, states_3d
from dyncore_models.mlp import MLP, activation
from dyncore_models.node import NUMPY_ACTIVATIONS, NeuralODE
from dyncore_models.normalization import Normalizer

#: ``fast="auto"`` flags a component fast when its range exceeds this many times its median distance from its
#: median: a state that sits near one value most of the time and makes large, brief excursions.
FAST_RATIO = 100.0
#: Quantile of the data's |rate| and |state| that sets the scale of the fast coefficients A.
COEFFICIENT_QUANTILE = 0.99
#: Singular values below this fraction of the largest are dropped in the least-squares fit (the random
#: features of a smooth low-dimensional input are nearly collinear; without a cut-off the fit is rounding noise).
RCOND = 1e-12


class StiffNODE(NeuralODE):
    """Neural ODE for stiff systems: range scaling, slow time, field affine in the fast states, trapezoidal training.

    Hyperparameters:
        hidden (32), depth (2), activation (``tanh``): the two MLPs ``b`` and ``A`` (smooth
            activations: the implicit solver differentiates the field).
        fast (``"auto"``): indices of the components the field is affine in, ``[]`` for none (a plain
            MLP field), or ``"auto"``: components whose range is over 100 times their median
            deviation (brief large excursions, e.g. the velocity of a relaxation oscillation).
        rollout_solver (``radau``), rollout_options (``{"rtol": 1e-6, "atol": 1e-9}``, in scaled
            states): the integrator of :meth:`rollout`; implicit solvers get the Jacobian by autograd.
        dtype (``float64``: the slow manifold of a stiff system is a small difference of large terms).

    Trains on any sampling grid, regular or not (use one that resolves the fast phases, e.g. an
    implicit solver's own steps: :func:`dyncore_solvers.step_grid.stiff_data`), by default in
    closed form (:meth:`fit_closed_form`, the ``closed_form`` trainer); a gradient trainer also works
    on :meth:`loss` but stalls on strongly stiff data (see docs/stiff-systems.md). A lookahead
    ``k`` scores ``k`` intervals at once by the composite trapezoidal rule.
    """

    name = "stiff_node"
    default_trainer = "closed_form"
    default_hparams = {
        "hidden": 32,
        "depth": 2,
        "activation": "tanh",
        "fast": "auto",
        "rollout_solver": "radau",
        "rollout_options": {"rtol": 1e-6, "atol": 1e-9},
        "dtype": "float64",
    }

    def __init__(self, **hparams: Any) -> None:
        Model.__init__(self, **hparams)  # NeuralODE's own checks concern hyperparameters this model does not have
        hp = self.hparams
        positive_int(self.name, "hidden", hp["hidden"])
        positive_int(self.name, "depth", hp["depth"])
        activation(hp["activation"])
        self._build_dtype = dtype_of(self.name, hp["dtype"])
        fast = hp["fast"]
        if fast != "auto" and (not isinstance(fast, (list, tuple))
                               or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in fast)):
            raise ConfigError(f"model 'stiff_node': fast must be 'auto' or a list of component indices such as [1], got {fast!r}")
        if not isinstance(hp["rollout_solver"], str) or not isinstance(hp["rollout_options"], dict):
            raise ConfigError("model 'stiff_node': rollout_solver must be a solver name and rollout_options a dict of its options")
        self._solver(hp["rollout_solver"], hp["rollout_options"], need_grad=False)
        self.tableau = None
        self.nfe = 0

    @property
    def plain_mlp_field(self) -> bool:
        return False

    def prepare(self, trajectory: Trajectory | None = None, dim: int | None = None) -> None:
        """Build ``b`` and ``A`` for ``dim`` (or the data's) and fit the scales and the fast components on ``trajectory``."""
        if trajectory is not None:
            check_data(self.name, trajectory, None, 2, "one data interval")
            dim = trajectory.dim
        if dim is None:
            raise ConfigError("model 'stiff_node': prepare() needs a trajectory or a dimension")
        hp = self.hparams
        self.dim = positive_int(self.name, "dim", dim)
        fast = hp["fast"]
        if fast != "auto" and any(i >= self.dim for i in fast):
            raise ConfigError(f"model 'stiff_node': fast {list(fast)} names a component beyond the data's {self.dim}")
        self.net = MLP(self.dim, self.dim, hp["hidden"], hp["depth"], hp["activation"], self._build_dtype)
        self.coefficients = MLP(self.dim, self.dim * self.dim, hp["hidden"], hp["depth"], hp["activation"], self._build_dtype)
        self.norm = Normalizer(self.dim, self._build_dtype)
        self.register_buffer("time_scale", torch.tensor(1.0, dtype=self._build_dtype))
        # fast_mask: 1 for fast components; a_scale[i, j]: the size of dg_i/dz_j for fast j (0 elsewhere)
        mask = torch.zeros(self.dim, dtype=self._build_dtype)
        if fast != "auto":
            mask[list(fast)] = 1.0
        self.register_buffer("fast_mask", mask)
        self.register_buffer("a_scale", torch.zeros(self.dim, self.dim, dtype=self._build_dtype))
        if trajectory is not None:
            self._fit_scales(trajectory)

    def _fit_scales(self, trajectory: Trajectory) -> None:
        """Range scaling of the states, the slow time scale, the fast components and the size of their coefficients."""
        x = states_3d(trajectory)
        flat = x.reshape(-1, self.dim)
        lo, hi = flat.min(axis=0), flat.max(axis=0)
        half = (hi - lo) / 2
        self.norm.mean.copy_(torch.as_tensor((hi + lo) / 2))
        self.norm.scale.copy_(torch.as_tensor(np.where(half > 0, half, 1.0)))
        if self.hparams["fast"] == "auto":
            spread = np.median(np.abs(flat - np.median(flat, axis=0)), axis=0)
            fast = (hi - lo) > FAST_RATIO * np.maximum(spread, 1e-300)
            if fast.all():  # nothing left to be slow: no structure
                fast[:] = False
            self.fast_mask.copy_(torch.as_tensor(fast.astype(np.float64)))
        elif self.fast_mask.sum() >= self.dim:
            raise ConfigError("model 'stiff_node': fast names every component; leave at least one slow component")
        z = (x - self.norm.mean.double().numpy()) / self.norm.scale.double().numpy()
        h = np.diff(trajectory.t)[:, None]
        rates = np.diff(z, axis=0) / h[..., None]  # (n - 1, batch, dim)
        speed = np.linalg.norm(rates, axis=-1).ravel()
        weights = np.repeat(h, z.shape[1], axis=1).ravel()
        order = np.argsort(speed)
        cumulative = np.cumsum(weights[order])
        slow = float(speed[order][np.searchsorted(cumulative, cumulative[-1] / 2)])  # time-weighted median rate
        if np.isfinite(slow) and slow > 0:
            self.time_scale.fill_(slow)
        g = rates.reshape(-1, self.dim) / float(self.time_scale)
        mask = self.fast_mask.double().numpy()
        size_g = np.quantile(np.abs(g), COEFFICIENT_QUANTILE, axis=0)
        size_z = np.quantile(np.abs(z.reshape(-1, self.dim)), COEFFICIENT_QUANTILE, axis=0)
        scale = size_g[:, None] / np.where(size_z > 0, size_z, 1.0)[None, :] * mask[None, :]
        self.a_scale.copy_(torch.as_tensor(scale))

    def fit_closed_form(self, examples: dict[str, torch.Tensor]) -> torch.Tensor:
        """Solve the output layers of ``b`` and ``A`` for the least-squares minimum of :meth:`loss`; returns the loss.

        The field is linear in those layers, so with the hidden layers at their seeded random start
        (random features) the weighted trapezoidal residual is a linear least-squares problem per
        output component: one solve, seconds on a CPU. Adam on this loss fails on strongly stiff
        data (mu = 1000): from a random start it drives ``A`` to zero and stalls (spurious fixed
        points), and from this solution its first steps (a fixed size per weight) wreck it.
        """
        x, h = examples["x"].double(), examples["h"].double()
        with torch.no_grad():
            span = h.sum(-1, keepdim=True)
            rate = (x[:, -1] - x[:, 0]) / span
            weight = 1.0 / torch.sqrt((rate**2).sum(-1, keepdim=True) + 1.0)
            fast = [j for j in range(self.dim) if self.fast_mask[j] > 0]
            features = [self._features(x[:, j]) for j in range(x.shape[1])]  # per point: (m, dim, p)
            design = sum((h[:, j, None, None] / span[..., None]) * (features[j] + features[j + 1]) / 2 for j in range(h.shape[1]))
            for i in range(self.dim):
                cols = design[:, i] * weight
                norms = cols.norm(dim=0).clamp_min(1e-300)
                theta = torch.linalg.lstsq(cols / norms, rate[:, i : i + 1] * weight, rcond=RCOND, driver="gelsd").solution[:, 0] / norms
                hidden = self.hparams["hidden"]
                self.net.layers[-1].weight[i] = theta[:hidden].to(self._dtype)
                self.net.layers[-1].bias[i] = theta[hidden].to(self._dtype)
                for k, j in enumerate(fast):
                    chunk = theta[(k + 1) * (hidden + 1) : (k + 2) * (hidden + 1)].to(self._dtype)
                    self.coefficients.layers[-1].weight[i * self.dim + j] = chunk[:hidden]
                    self.coefficients.layers[-1].bias[i * self.dim + j] = chunk[hidden]
        return self.loss(examples)

    def _features(self, z: torch.Tensor) -> torch.Tensor:
        """Columns of the field that multiply the output-layer weights and biases: ``(m, dim, p)``."""
        slow = (z * (1 - self.fast_mask)).to(self._dtype)
        one = torch.ones(len(z), 1, dtype=z.dtype)
        base = torch.cat([_hidden(self.net, slow).double(), one], dim=1)
        per_output = []
        for i in range(self.dim):
            cols = [base]
            for j in range(self.dim):
                if self.fast_mask[j] > 0:
                    coef = torch.cat([_hidden(self.coefficients, slow).double(), one], dim=1)
                    cols.append(coef * (self.a_scale[i, j].double() * z[:, j : j + 1]))
            per_output.append(torch.cat(cols, dim=1))
        return torch.stack(per_output, dim=1)

    def _field(self, t: torch.Tensor | float, z: torch.Tensor) -> torch.Tensor:
        """``dz/dt`` in scaled states, physical time: ``time_scale (b(z_slow) + A(z_slow) z_fast)``."""
        self.nfe += 1
        return self._scaled_field(z) * self.time_scale

    def _scaled_field(self, z: torch.Tensor) -> torch.Tensor:
        """``dz/dtau`` (tau: time in slow units) for scaled states ``(..., dim)``."""
        slow = z * (1 - self.fast_mask)
        a = self.coefficients(slow).reshape(*z.shape[:-1], self.dim, self.dim) * self.a_scale  # zero without fast components
        return self.net(slow) + (a @ (z * self.fast_mask).unsqueeze(-1)).squeeze(-1)

    def examples(self, trajectory: Trajectory, lookahead: int = 1) -> dict[str, torch.Tensor]:
        """Every run of ``lookahead`` data intervals: scaled states ``x`` (m, lookahead + 1, dim), steps ``h`` (m, lookahead) in slow time."""
        k = lookahead_value(lookahead)
        self._require_built()
        check_data(self.name, trajectory, self.dim, k + 1, f"lookahead {k} needs {k} intervals after each start")
        x = states_3d(trajectory)
        z = (x - self.norm.mean.double().cpu().numpy()) / self.norm.scale.double().cpu().numpy()
        n, batch, dim = z.shape
        m = n - k
        steps = np.diff(trajectory.t) * float(self.time_scale)
        states = np.stack([z[j : j + m] for j in range(k + 1)], axis=1)  # (m, k + 1, batch, dim)
        h = np.stack([steps[j : j + m] for j in range(k)], axis=1)  # (m, k)
        device = self.device
        return {
            "x": as_tensor(states.transpose(0, 2, 1, 3).reshape(m * batch, k + 1, dim), self._dtype, device),
            "h": as_tensor(np.repeat(h, batch, axis=0), self._dtype, device),
        }

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean relative residual of the (composite) implicit trapezoidal rule: ``|r|^2 / (|mean rate|^2 + 1)`` per example."""
        x, h = batch["x"], batch["h"]
        self.nfe += 1
        g = self._scaled_field(x)  # (m, k + 1, dim)
        span = h.sum(-1, keepdim=True)
        rate = (x[:, -1] - x[:, 0]) / span
        quadrature = ((h / span)[..., None] * (g[:, :-1] + g[:, 1:]) / 2).sum(1)
        return (((rate - quadrature) ** 2).sum(-1) / ((rate**2).sum(-1) + 1.0)).mean()

    def rollout(self, context: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Integrate the learned field from ``context[0]`` with ``rollout_solver``, each start on its own.

        A batch integrated as one system shares its steps, so every start would step as finely as the
        one in a fast phase; solved one by one, each takes its own steps. The solver gets the field in
        numpy (SciPy solvers call it a few thousand times per period) and its Jacobian by autograd.

        Args:
            context: ``(1, [batch,] dim)``, the state at ``t[0]``. t: output times ``(n,)``.
        Returns:
            ``(n, [batch,] dim)`` in the dtype of ``context``; row 0 is ``context[0]``.
        """
        context, tt = self._rollout_inputs(context, t)
        solver = self._solver(self.hparams["rollout_solver"], self.hparams["rollout_options"], need_grad=False)
        z0 = self.norm.encode(context[0].to(self._dtype))
        field = SolverField(self)
        if z0.dim() == 1:
            z = solver.solve(field, z0, tt)
        else:
            z = torch.stack([solver.solve(field, start, tt) for start in z0.reshape(-1, self.dim)], dim=1)
            z = z.reshape(len(tt), *z0.shape)
        return self._rollout_output(context, z)

    def quick_rollout(self, context: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The same as :meth:`rollout`: explicit fixed steps would blow up on a stiff field."""
        return self.rollout(context, t)


class SolverField:
    """The learned field in scaled states and physical time, as solvers want it: torch, numpy and its Jacobian.

    ``f(t, z)`` is the torch field; ``numpy_vector_field`` the same on numpy float64 arrays (SciPy's
    fast path: microseconds a call instead of a torch dispatch); ``jacobian(t, z)`` per-state
    Jacobians ``(..., dim, dim)`` by autograd, for implicit solvers.
    """

    def __init__(self, model: StiffNODE) -> None:
        self.model = model
        self.mask = model.fast_mask.detach().cpu().double().numpy()
        self.a_scale = model.a_scale.detach().cpu().double().numpy()
        self.time_scale = float(model.time_scale)
        self.layers = [_numpy_layers(model.net), _numpy_layers(model.coefficients)]
        self.act = NUMPY_ACTIVATIONS[model.hparams["activation"]]

    def __call__(self, t: torch.Tensor | float, z: torch.Tensor) -> torch.Tensor:
        return self.model._field_any_dtype(t, z)

    def _mlp(self, which: int, z: np.ndarray) -> np.ndarray:
        layers = self.layers[which]
        for j, (w, b) in enumerate(layers):
            z = z @ w + b
            if j < len(layers) - 1:
                z = self.act(z)
        return z

    def numpy_vector_field(self, t: float, z: np.ndarray) -> np.ndarray:
        """``dz/dt`` for scaled states ``(..., dim)`` in numpy float64."""
        slow = z * (1 - self.mask)
        out = self._mlp(0, slow)
        if self.mask.any():
            a = self._mlp(1, slow).reshape(*z.shape[:-1], len(self.mask), len(self.mask)) * self.a_scale
            out = out + (a @ (z * self.mask)[..., None])[..., 0]
        return out * self.time_scale

    def jacobian(self, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Per-state Jacobians ``(batch, dim, dim)`` of the field at scaled states ``z`` ``(batch, dim)``, by autograd."""
        with torch.enable_grad():
            z = z.detach().to(self.model._dtype).requires_grad_(True)
            fz = self.model._field(t, z)
            rows = [torch.autograd.grad(fz[..., i].sum(), z, retain_graph=True)[0] for i in range(z.shape[-1])]
        return torch.stack(rows, dim=-2)


def _hidden(mlp: MLP, z: torch.Tensor) -> torch.Tensor:
    """The last hidden layer's activations of ``mlp`` at ``z``."""
    for layer in mlp.layers[:-1]:
        z = mlp.act.function(layer(z))
    return z


def _numpy_layers(mlp: MLP) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(layer.weight.detach().cpu().double().numpy().T, layer.bias.detach().cpu().double().numpy()) for layer in mlp.layers]
