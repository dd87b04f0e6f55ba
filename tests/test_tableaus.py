"""dyncore.tableaus: the classic RK4 and the 3/8 rule (torchdiffeq's and dyncore's ``rk4``) under honest names."""

from __future__ import annotations

import torch

import dyncore
from dyncore import metrics
from dyncore.tableaus import CLASSIC_RK4, RK4_THREE_EIGHTHS, TABLEAUS, classic_rk4_step, rk_step


def _one_step(tableau_or_step, x, h):
    lorenz = dyncore.systems.create("lorenz")
    if callable(tableau_or_step):
        return tableau_or_step(lorenz.vector_field, h)(x)
    return rk_step(lorenz.vector_field, torch.zeros(()), x, torch.tensor(h, dtype=torch.float64), tableau_or_step)


def test_classic_rk4_step_is_the_classic_tableau_and_not_the_registered_rk4():
    x = torch.tensor([[1.0, 2.0, 20.0], [-5.0, 3.0, 25.0]], dtype=torch.float64)
    classic = _one_step(classic_rk4_step, x, 0.05)
    torch.testing.assert_close(_one_step(CLASSIC_RK4, x, 0.05), classic, rtol=1e-13, atol=1e-13)
    three_eighths = _one_step(RK4_THREE_EIGHTHS, x, 0.05)
    assert (three_eighths - classic).abs().max() > 1e-8  # two fourth-order methods, not one
    solver = dyncore.solvers.create("rk4", step_size=0.05)  # one step; torchdiffeq's rk4 is the 3/8 rule
    lorenz = dyncore.systems.create("lorenz")
    solved = solver.solve(lorenz, x, torch.tensor([0.0, 0.05], dtype=torch.float64))[-1]
    torch.testing.assert_close(solved, three_eighths, rtol=1e-12, atol=1e-12)


def test_old_names_are_aliases():
    from dyncore_models import tableaus as plugin_tableaus

    assert metrics.rk4_step is classic_rk4_step
    assert TABLEAUS["rk4"] is RK4_THREE_EIGHTHS and plugin_tableaus.TABLEAUS is TABLEAUS
