"""dyncore-dysts: lazy listing, dysts' right-hand sides in torch, published metadata, conformance."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("dysts")
pytest.importorskip("dyncore_dysts")

from conftest import REPO  # noqa: E402

import dyncore  # noqa: E402
from dyncore.errors import UnknownNameError  # noqa: E402
from dyncore.testing import parametrize_with_checks  # noqa: E402

SAMPLE = ["dysts.Lorenz", "dysts.Rossler", "dysts.Aizawa", "dysts.ForcedBrusselator", "dysts.LorenzCoupled"]


@parametrize_with_checks([f"systems:{name}" for name in SAMPLE] if "dysts.Lorenz" in dyncore.systems else [])
def test_conformance(component, check):
    check(component)


def test_listing_imports_neither_dysts_nor_torch():
    code = ("import sys; from dyncore.cli.list_cmd import component_rows; rows = component_rows('systems'); "
            "print(sum(r['name'].startswith('dysts.') for r in rows), 'dysts' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout.split()
    assert int(out[0]) >= 100 and out[1:] == ["False", "False"], out


def test_catalogue_matches_the_installed_dysts():
    """Every catalogued system's torch field equals dysts' own numpy rhs; regenerate with python -m dyncore_dysts.catalogue."""
    from dyncore_dysts.catalogue import build
    from dyncore_dysts.plugin import CATALOGUE

    saved = json.loads(CATALOGUE.read_text())
    fresh = build()
    assert fresh["systems"] == saved["systems"] and fresh["unsupported"] == saved["unsupported"]


def test_published_metadata_is_the_reference():
    lorenz = dyncore.systems.create("dysts.Lorenz")
    assert lorenz.params == {"beta": 2.667, "rho": 28, "sigma": 10}
    ref = lorenz.reference()
    assert ref["largest_lyapunov_exponent"] == pytest.approx(0.8917, abs=1e-3) and ref["period"] == pytest.approx(1.5008)
    assert dyncore.systems.create("dysts.Lorenz", rho=30).reference() == {}, "no published value off the published parameters"
    t = lorenz.default_times()
    assert float(t[1] - t[0]) == pytest.approx(1.5008 / 100)


def test_field_is_dysts_code_batched_and_differentiable():
    import dysts.flows

    system = dyncore.systems.create("dysts.Rossler")
    x = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    f = system.vector_field(torch.tensor(0.0, dtype=torch.float64), x)
    expected = np.stack(dysts.flows.Rossler().rhs(x.detach().reshape(-1, 3).numpy(), 0.0), axis=-1)
    np.testing.assert_allclose(f.detach().reshape(-1, 3).numpy(), expected, rtol=1e-12)
    f.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_a_field_with_heaviside_is_differentiable():
    """FluidTrampoline uses np.heaviside, which torch cannot differentiate: the stand-in can (derivative 0)."""
    system = dyncore.systems.create("dysts.FluidTrampoline")
    x = system.default_x0().repeat(2, 1).requires_grad_()
    system.vector_field(torch.tensor(0.3, dtype=torch.float64), x).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_unknown_dysts_name_suggests_dysts_names():
    with pytest.raises(UnknownNameError, match="did you mean 'dysts.Lorenz'"):
        dyncore.systems.create("dysts.Lorenz63")
