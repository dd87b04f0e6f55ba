"""dyncore.io: atomic writes keep the umask and an existing file's mode; outputs are checked up front."""

from __future__ import annotations

import os
import stat

import pytest

from dyncore.errors import DyncoreError, OutputExistsError
from dyncore.io import atomic_write, check_output


@pytest.fixture
def umask():
    """Set the process umask for one test (restored after)."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield lambda mask: os.umask(mask)
    os.umask(saved)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002], ids=["022", "077", "002"])
def test_a_new_file_gets_the_umask_like_open_would(tmp_path, umask, mask):
    umask(mask)
    with atomic_write(tmp_path / "new.npz") as f:
        f.write(b"data")
    assert _mode(tmp_path / "new.npz") == 0o666 & ~mask  # was 0600 whatever the umask


def test_replacing_a_file_keeps_its_mode(tmp_path, umask):
    umask(0o077)
    path = tmp_path / "shared.csv"
    path.write_text("old")
    os.chmod(path, 0o644)
    with atomic_write(path, "w") as f:
        f.write("new")
    assert path.read_text() == "new" and _mode(path) == 0o644  # was turned into 0600


def test_no_temporary_file_is_left_behind_on_failure(tmp_path):
    path = tmp_path / "x.npz"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_write(path) as f:
        f.write(b"half")
        raise RuntimeError("boom")
    assert os.listdir(tmp_path) == ["x.npz"] and path.read_bytes() == b"old"


def test_check_output_names_the_problem(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "folder").mkdir()
    with pytest.raises(OutputExistsError, match="file exists; pass --force"):
        check_output(tmp_path / "file")
    assert check_output(tmp_path / "file", force=True) == tmp_path / "file"
    with pytest.raises(DyncoreError, match="file is a file, not a directory"):
        check_output(tmp_path / "file" / "out.npz")
    with pytest.raises(DyncoreError, match="it is a directory; give a file name"):
        check_output(tmp_path / "folder", force=True)
    with pytest.raises(DyncoreError, match="it is a file, not a directory"):
        check_output(tmp_path / "file", directory=True)
    assert check_output(tmp_path / "folder" / "new" / "run", directory=True) == tmp_path / "folder" / "new" / "run"
    assert not (tmp_path / "folder" / "new").exists()  # checking creates nothing
