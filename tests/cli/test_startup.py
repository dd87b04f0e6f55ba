"""`dyncore --help`, `dyncore list` and `import dyncore` must stay light: no torch, no plugin code run."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
from dyncore.cli import cli
try:
    cli.main(args=sys.argv[1:], prog_name="dyncore", standalone_mode=True)
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = sorted(m for m in ("torch", "torchdiffeq", "scipy", "matplotlib", "ray") if m in sys.modules)
print("HEAVY:" + ",".join(heavy))
sys.exit(code)
"""


@pytest.mark.parametrize("args", [["--help"], ["list"], ["list", "systems", "--json"], ["plugins"], ["--version"],
                                  ["sweep", "--help"], ["persistence", "--help"]])
def test_cheap_commands_do_not_import_torch(args):
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "HEAVY:", result.stdout


def test_import_dyncore_loads_no_plugin_and_no_torch():
    code = "import sys, dyncore; import dyncore.plugins as p; print(p.host._loaded, 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["False", "False"], result.stderr
