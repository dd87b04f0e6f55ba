"""The ``sindy`` model: PySINDy's polynomial library and STLSQ optimizer, exposed as a dyncore vector field.

SINDy regresses finite-difference derivatives of the data on a library of candidate terms (all
monomials up to ``degree``) and keeps the few with coefficients above ``threshold``. The result is
an explicit vector field ``f(x) = Theta(x) Xi``: dyncore's solvers integrate it, and dyncore's
metrics (Lyapunov exponents of the learned field, VPT, 0-1 test) apply as to a Neural ODE. The
coefficients ``Xi`` are a parameter (saved in ``weights.pt``), the term exponents a buffer and
the feature names part of ``config()``: a run is saved without pickles.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

import dyncore
from dyncore import ConfigError, DataError, Trajectory

#: Fewest samples per trajectory member PySINDy's second-order finite differences need.
MIN_POINTS = 3


def _positive(name: str, value: Any, integer: bool = False) -> None:
    ok = isinstance(value, int if integer else (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok:
        raise ConfigError(f"model 'sindy': {name} must be a positive {'integer' if integer else 'number'}, got {value!r}")


class Sindy(dyncore.VectorFieldModel):
    """SINDy: sparse regression of the derivatives on polynomial terms (PySINDy's STLSQ), a vector-field model.

    Hyperparameters:
        degree (2): highest total degree of the polynomial library (constant term included).
        threshold (0.1): STLSQ drops coefficients below this magnitude (in the data's units).
        alpha (0.05): STLSQ's ridge penalty.
        rollout_solver (``dopri5``), rollout_options ({}): the dyncore solver that integrates the
            identified field in :meth:`rollout`.

    Trained by ``closed_form`` (one STLSQ solve, see :meth:`fit_closed_form`); ``loss`` is the
    derivative-matching error, so gradient trainers work too. ``lookahead`` has no meaning for
    derivative matching: it is accepted and does not change the examples.
    """

    name = "sindy"
    default_trainer = "closed_form"
    default_hparams = {"degree": 2, "threshold": 0.1, "alpha": 0.05, "rollout_solver": "dopri5", "rollout_options": {}}

    def __init__(self, **hparams: Any) -> None:
        super().__init__(**hparams)
        hp = self.hparams
        _positive("degree", hp["degree"], integer=True)
        _positive("threshold", hp["threshold"])
        if isinstance(hp["alpha"], bool) or not isinstance(hp["alpha"], (int, float)) or not hp["alpha"] >= 0:
            raise ConfigError(f"model 'sindy': alpha must be a non-negative number, got {hp['alpha']!r}")
        if not isinstance(hp["rollout_solver"], str):
            raise ConfigError(f"model 'sindy': rollout_solver must be a solver name such as 'dopri5', got {hp['rollout_solver']!r}")
        if not isinstance(hp["rollout_options"], dict):
            raise ConfigError(f"model 'sindy': rollout_options must be a dict of solver options, got {hp['rollout_options']!r}")
        self.nfe = 0
        self.features: list[str] = []

    @property
    def context_length(self) -> int:
        return 1

    def prepare(self, trajectory: Trajectory | None = None, dim: int | None = None) -> None:
        """Build PySINDy's polynomial library for ``dim`` variables: term exponents and zero coefficients."""
        import pysindy as ps

        if trajectory is not None:
            dim = trajectory.dim
        if dim is None:
            raise ConfigError("model 'sindy': prepare() needs a trajectory or a dimension")
        self.dim = int(dim)
        library = ps.PolynomialLibrary(degree=int(self.hparams["degree"])).fit(np.zeros((2, self.dim)))
        self.features = list(library.get_feature_names([f"x{i}" for i in range(self.dim)]))
        self.register_buffer("powers", torch.as_tensor(np.asarray(library.powers_), dtype=torch.int64))
        self.coefficients = nn.Parameter(torch.zeros(len(self.features), self.dim, dtype=torch.float64))
        self._plan = None

    def config(self) -> dict[str, Any]:
        """The base config plus the library's feature names (JSON), in the coefficients' row order."""
        return {**super().config(), "features": list(self.features)}

    # -- the field -------------------------------------------------------------------------
    def library(self, x: torch.Tensor) -> torch.Tensor:
        """The candidate terms ``Theta(x)``, ``(..., n_features)``, built degree by degree (smooth at 0, no ``x ** 0``).

        Each term of degree d is a term of degree d - 1 times one variable: one gather and one product per degree.
        """
        columns = torch.ones_like(x[..., :1]).expand(*x.shape[:-1], len(self.features)).clone()
        for rows, parents, variables in self._by_degree():
            columns[..., rows] = columns[..., parents] * x[..., variables]
        return columns

    def _by_degree(self) -> list[tuple[list[int], list[int], list[int]]]:
        """Per degree >= 1: (term rows, the rows of their degree - 1 parents, the variable each multiplies in)."""
        if getattr(self, "_plan", None) is None:
            powers = [tuple(row) for row in self.powers.tolist()]
            index = {row: i for i, row in enumerate(powers)}
            plan: dict[int, tuple[list[int], list[int], list[int]]] = {}
            for i, row in enumerate(powers):
                if sum(row):
                    j = next(k for k, p in enumerate(row) if p)
                    parent = tuple(p - (k == j) for k, p in enumerate(row))
                    rows, parents, variables = plan.setdefault(sum(row), ([], [], []))
                    rows.append(i), parents.append(index[parent]), variables.append(j)
            self._plan = [plan[d] for d in sorted(plan)]
        return self._plan

    def vector_field(self, t: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
        """The identified field ``Theta(x) Xi``, batched over leading dimensions, in ``x``'s dtype."""
        self.nfe += 1
        return (self.library(x.to(torch.float64)) @ self.coefficients).to(x.dtype)

    def equations(self, precision: int = 3) -> list[str]:
        """The identified equations, one per variable (``x0' = -10.000 x0 + 10.000 x1``); terms kept only."""
        out = []
        xi = self.coefficients.detach().cpu().numpy()
        for i in range(xi.shape[1]):
            terms = [f"{c:+.{precision}f}" + ("" if name == "1" else f" {name}") for c, name in zip(xi[:, i], self.features) if c != 0]
            out.append(f"x{i}' = " + (" ".join(terms) if terms else "0"))
        return out

    # -- training --------------------------------------------------------------------------
    def examples(self, trajectory: Trajectory, lookahead: int = 1) -> dict[str, torch.Tensor]:
        """States ``x`` and PySINDy's finite-difference derivatives ``dxdt``, ``(m, dim)`` each, members stacked.

        Raises:
            DataError: a wrong dimension or fewer than 3 points.
        """
        import pysindy as ps

        if self.dim is None:
            raise ConfigError("model 'sindy' is not built yet: train it or call prepare() first")
        if trajectory.dim != self.dim:
            raise DataError(f"model 'sindy' was built for dimension {self.dim}, the data have dimension {trajectory.dim}")
        if trajectory.n < MIN_POINTS:
            raise DataError(f"model 'sindy' needs at least {MIN_POINTS} points for finite-difference derivatives, got {trajectory.n}")
        x = trajectory.x if trajectory.batched else trajectory.x[:, None]
        fd = ps.FiniteDifference()
        xs, ds = [], []
        for b in range(x.shape[1]):
            xs.append(np.asarray(x[:, b], dtype=np.float64))
            ds.append(np.asarray(fd._differentiate(xs[-1], np.asarray(trajectory.t, dtype=np.float64)), dtype=np.float64))
        device = self.device
        return {"x": torch.as_tensor(np.concatenate(xs), device=device), "dxdt": torch.as_tensor(np.concatenate(ds), device=device)}

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean squared derivative mismatch ``|Theta(x) Xi - dx/dt|^2``."""
        return ((self.library(batch["x"]) @ self.coefficients - batch["dxdt"]) ** 2).mean()

    def fit_closed_form(self, examples: dict[str, torch.Tensor]) -> torch.Tensor:
        """One STLSQ solve (PySINDy's recommended optimizer) on the examples; returns the loss.

        Raises:
            ConfigError: every coefficient fell below ``threshold`` (an all-zero model).
        """
        import pysindy as ps

        theta = self.library(examples["x"]).cpu().numpy()
        target = examples["dxdt"].cpu().numpy()
        optimizer = ps.STLSQ(threshold=float(self.hparams["threshold"]), alpha=float(self.hparams["alpha"]))
        with warnings.catch_warnings():  # an all-zero fit is reported below as one ConfigError, not also as a warning
            warnings.filterwarnings("ignore", message="Sparsity parameter is too big")
            optimizer.fit(theta, target)
        xi = np.asarray(optimizer.coef_, dtype=np.float64).T  # (n_features, dim)
        if not np.any(xi):
            raise ConfigError(
                f"model 'sindy': PySINDy kept no term (every coefficient fell below threshold {self.hparams['threshold']:g}); "
                "lower --hparam threshold=... or rescale the data"
            )
        self.coefficients.copy_(torch.as_tensor(xi, device=self.coefficients.device))
        return self.loss(examples)

    # -- prediction ------------------------------------------------------------------------
    def rollout(self, context: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Integrate the identified field from ``context[0]`` with ``rollout_solver``: ``(len(t), [batch,] dim)``."""
        if self.dim is None:
            raise ConfigError("model 'sindy' is not built yet: train it or call prepare() first")
        context = torch.as_tensor(context)
        if context.dim() not in (2, 3) or context.shape[0] != 1 or context.shape[-1] != self.dim:
            raise ConfigError(f"model 'sindy' needs a context of 1 state, shape (1, [batch,] {self.dim}); got {tuple(context.shape)}")
        solver = dyncore.solvers.create(self.hparams["rollout_solver"], **self.hparams["rollout_options"])
        tt = torch.as_tensor(t, dtype=torch.float64, device=self.coefficients.device)
        x = solver.solve(self.vector_field, context[0].to(device=tt.device, dtype=torch.float64), tt)
        return torch.cat([context[:1].to(x.device), x[1:].to(context.dtype)])
