"""Shared fixtures: running the CLI in a subprocess, installing fake plugin distributions; the hypothesis profile."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parents[1]

# Property tests judge results, not speed: hypothesis' default 200 ms deadline fails at random on a busy machine.
settings.register_profile("dyncore", deadline=None)
settings.load_profile("dyncore")


def run_dyncore(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 300):
    """Run ``python -m dyncore ARGS`` in a fresh interpreter; returns the CompletedProcess."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DYNCORE_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "dyncore", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )


class FakeSite:
    """A directory on PYTHONPATH holding fake installed distributions (dist-info + modules)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def add(self, dist: str, entry_points: dict[str, str], modules: dict[str, str] | None = None, version: str = "1.0") -> None:
        """Install distribution ``dist`` whose ``dyncore`` entry points are ``{name: "module"}``."""
        info = self.root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[dyncore]\n{lines}\n")
        for name, source in (modules or {}).items():
            (self.root / f"{name}.py").write_text(textwrap.dedent(source))

    @property
    def env(self) -> dict[str, str]:
        path = os.pathsep.join(p for p in (str(self.root), os.environ.get("PYTHONPATH", "")) if p)
        return {"PYTHONPATH": path}


@pytest.fixture
def fake_site(tmp_path: Path) -> FakeSite:
    return FakeSite(tmp_path / "site")


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tests run tiny tensors, which gain nothing from intra-op threads; on a loaded 2-core machine two
    threads oversubscribe the cores and run several times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
