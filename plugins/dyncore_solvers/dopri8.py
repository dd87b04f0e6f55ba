"""torchdiffeq's dopri8 made to land on every output time, for 8th-order outputs.

torchdiffeq fits dopri8's dense output with the same quartic as dopri5's, so outputs between steps
are only fourth order: at rtol = atol = 1e-12 on Lorenz they are 1000x less accurate than dopri5's.
Passing the output times as ``step_t`` makes each step that would cross one stop on it, but
torchdiffeq 0.2.5 only moves on to the next ``step_t`` point after a step shortened to land on
one; a step that reaches it exactly (common on a regular grid, where torchdiffeq keeps the step
size unchanged) leaves the index behind, and every later output is interpolated again.
:class:`OutputSteppingDopri8` skips the points already reached before each step.

Like :mod:`dyncore_solvers.tsit5`, this uses torchdiffeq internals; if they move, making the
solver raises a :class:`~dyncore.errors.SolverError` that says so.
"""

from __future__ import annotations

from typing import Any

from dyncore.errors import SolverError

_HINT = "pin torchdiffeq 0.2.x or use 'dop853'"
try:
    from torchdiffeq._impl.dopri8 import Dopri8Solver
    from torchdiffeq._impl.odeint import SOLVERS as _TORCHDIFFEQ_METHODS
except ImportError as exc:
    raise SolverError(f"'dopri8' needs torchdiffeq's internal Dopri8Solver, which this torchdiffeq lacks; {_HINT}") from exc


class OutputSteppingDopri8(Dopri8Solver):
    """torchdiffeq's Dopri8Solver whose steps stop on every ``step_t`` point, reached exactly or not."""

    def _adaptive_step(self, rk_state: Any) -> Any:
        step_t, now = self.step_t, rk_state.t1
        while self.next_step_index < len(step_t) - 1 and step_t[self.next_step_index] <= now:
            self.next_step_index += 1
        return super()._adaptive_step(rk_state)


def register_method(method: str) -> None:
    """Make ``torchdiffeq.odeint``/``odeint_adjoint`` accept ``method=method`` for :class:`OutputSteppingDopri8`.

    Raises:
        SolverError: torchdiffeq's method table is no longer a dict, or ``method`` is already taken.
    """
    if not isinstance(_TORCHDIFFEQ_METHODS, dict) or not hasattr(Dopri8Solver, "_adaptive_step"):
        raise SolverError(f"'dopri8' needs torchdiffeq's internal method table and adaptive step; {_HINT}")
    if _TORCHDIFFEQ_METHODS.setdefault(method, OutputSteppingDopri8) is not OutputSteppingDopri8:
        raise SolverError(f"'dopri8': torchdiffeq already has a method named {method!r}; {_HINT}")
