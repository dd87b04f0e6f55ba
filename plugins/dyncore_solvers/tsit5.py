"""Tsitouras' 5(4) Runge-Kutta pair, built on torchdiffeq's adaptive Runge-Kutta machinery.

torchdiffeq 0.2.5 has no Tsit5, so this module declares it the way torchdiffeq declares dopri5: a
``_ButcherTableau`` (7 stages, first same as last) plus a ``mid`` vector for the dense output,
on a subclass of ``RKAdaptiveStepsizeODESolver``. :func:`register_method` then adds the class
to torchdiffeq's method table so that ``odeint`` and ``odeint_adjoint`` accept it by name.

This relies on torchdiffeq internals (``torchdiffeq._impl.rk_common`` and the ``SOLVERS`` dict
of ``torchdiffeq._impl.odeint``), not its public API. If a torchdiffeq release moves them,
importing this module raises a :class:`~dyncore.errors.SolverError` that says so, and every
other torchdiffeq solver keeps working.

Coefficients: Ch. Tsitouras, "Runge-Kutta pairs of order 5(4) satisfying only the first column
simplifying assumption", Comput. Math. Appl. 62 (2011) 770-775, to float64 precision, as used by
DifferentialEquations.jl and diffrax. ``mid`` is the method's continuous extension ``b_i(theta)``
at ``theta = 1/2``: ``y(t + h/2) ~ y0 + h * sum_i mid_i k_i``, fourth order like dopri5's.
"""

from __future__ import annotations

import torch

from dyncore.errors import SolverError

_HINT = "pin torchdiffeq 0.2.x or use 'dopri5'"
try:
    from torchdiffeq._impl.odeint import SOLVERS as _TORCHDIFFEQ_METHODS
    from torchdiffeq._impl.rk_common import RKAdaptiveStepsizeODESolver, _ButcherTableau
except ImportError as exc:
    raise SolverError(f"'tsit5' needs torchdiffeq's internal Runge-Kutta classes, which this torchdiffeq lacks; {_HINT}") from exc
if _ButcherTableau._fields != ("alpha", "beta", "c_sol", "c_error"):
    raise SolverError(f"'tsit5': torchdiffeq's internal Butcher tableau changed to {_ButcherTableau._fields}; {_HINT}")


def _f64(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


#: Nodes ``c_2 .. c_7`` (``c_1 = 0``); torchdiffeq calls them ``alpha``.
NODES = _f64(0.161, 0.327, 0.9, 0.9800255409045096857, 1.0, 1.0)

#: Fifth-order weights; also the last row of ``A`` (first same as last).
WEIGHTS = _f64(
    0.9646076681806522952e-1,
    0.01,
    0.4798896504144995748,
    1.379008574103741893,
    -3.290069515436080680,
    2.324710524099773982,
    0.0,
)

#: Embedded fourth-order weights; ``WEIGHTS - EMBEDDED`` estimates the local error.
EMBEDDED = _f64(
    0.9468075576583945807e-1,
    0.9183565540343253097e-2,
    0.4877705284247615708,
    1.234297566930478986,
    -2.707712349983525455,
    1.866628418170587036,
    1 / 66,
)

TABLEAU = _ButcherTableau(
    alpha=NODES,
    beta=[
        _f64(0.161),
        _f64(-0.8480655492356988544e-2, 0.3354806554923569885),
        _f64(2.897153057105493432, -6.359448489975074843, 4.362295432869581411),
        _f64(5.325864828439256604, -11.74888356406282788, 7.495539342889836208, -0.9249506636175524926e-1),
        _f64(
            5.861455442946420029,
            -12.92096931784710929,
            8.159367898576158643,
            -0.7158497328140099722e-1,
            -0.2826905039406838291e-1,
        ),
        WEIGHTS[:6],
    ],
    c_sol=WEIGHTS,
    c_error=WEIGHTS - EMBEDDED,
)

#: Weights of the half-step state for torchdiffeq's quartic interpolation: ``b_i(1/2)``.
MID = _f64(
    0.10741235230096871,
    0.01135625,
    0.39560903056045305,
    -0.34475214352593553,
    1.3161853649581645,
    -1.0170608542936508,
    0.03125,
)


class Tsit5Solver(RKAdaptiveStepsizeODESolver):
    """torchdiffeq solver for the Tsit5 pair: order 5, error estimate of order 4, 6 new stages a step."""

    order = 5
    tableau = TABLEAU
    mid = MID


def register_method(method: str) -> None:
    """Make ``torchdiffeq.odeint``/``odeint_adjoint`` accept ``method=method`` for :class:`Tsit5Solver`.

    Args:
        method: a name no torchdiffeq method uses (a second call with the same name does nothing).
    Raises:
        SolverError: torchdiffeq's method table is no longer a dict, or ``method`` is already taken.
    """
    if not isinstance(_TORCHDIFFEQ_METHODS, dict):
        raise SolverError(f"'tsit5' needs torchdiffeq's internal method table SOLVERS to be a dict; {_HINT}")
    if _TORCHDIFFEQ_METHODS.setdefault(method, Tsit5Solver) is not Tsit5Solver:
        raise SolverError(f"'tsit5': torchdiffeq already has a method named {method!r}; {_HINT}")
