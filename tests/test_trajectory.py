"""Trajectory: validation, npz/CSV round trips (property-based), and one clear error per malformed file."""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dyncore.errors import DataError
from dyncore.trajectory import Trajectory

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def trajectories(draw):
    n = draw(st.integers(1, 12))
    dim = draw(st.integers(1, 4))
    batch = draw(st.one_of(st.none(), st.integers(1, 3)))
    steps = draw(arrays(np.float64, n, elements=st.floats(1e-3, 10)))
    t = np.cumsum(steps) + draw(finite)
    shape = (n, dim) if batch is None else (n, batch, dim)
    x = draw(arrays(np.float64, shape, elements=finite))
    meta = draw(st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=5)), max_size=3))
    return Trajectory(t, x, meta)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(traj=trajectories(), suffix=st.sampled_from([".npz", ".csv"]))
def test_save_load_round_trip(tmp_path, traj, suffix):
    path = tmp_path / f"data{suffix}"
    traj.save(path)
    back = Trajectory.load(path)
    np.testing.assert_array_equal(back.t, traj.t)
    np.testing.assert_array_equal(back.x, traj.x)
    assert back.meta == traj.meta
    assert back.content_hash() == traj.content_hash()


def test_shapes_and_members():
    traj = Trajectory(np.arange(4.0), np.zeros((4, 2, 3)))
    assert (traj.n, traj.dim, traj.batch, traj.batched) == (4, 3, 2, True)
    assert traj.member(1).x.shape == (4, 3)
    one = Trajectory([0.0, 1.0], [1.0, 2.0])
    assert one.x.shape == (2, 1) and one.member(0) is one


@pytest.mark.parametrize(
    ("t", "x", "message"),
    [
        ([], np.zeros((0, 2)), "empty"),
        ([[0.0, 1.0]], np.zeros((2, 2)), "1-D"),
        ([0.0, 1.0], np.zeros((3, 2)), "shape"),
        ([0.0, 0.0], np.zeros((2, 2)), "strictly increasing"),
        ([0.0, np.nan], np.zeros((2, 2)), "time contains NaN"),
        ([0.0, 1.0], [[0.0, np.inf], [0.0, 0.0]], "NaN or Inf"),
    ],
)
def test_invalid_arrays_are_refused(t, x, message):
    with pytest.raises(DataError, match=message):
        Trajectory(t, x)


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b""), "is empty"),
        (lambda p: p.write_text("hello, not a zip"), "not a readable .npz"),
        (lambda p: _write(p, time=np.arange(3.0), x=np.zeros((3, 2))), "lacks the key.*'t'"),
        (lambda p: _write(p, t=np.arange(3.0), x=np.zeros((4, 2))), "shape"),
        (lambda p: _write(p, t=np.array([0.0, 2.0, 1.0]), x=np.zeros((3, 2))), "strictly increasing"),
        (lambda p: _write(p, t=np.arange(2.0), x=np.array([[0.0, np.nan], [0.0, 0.0]])), "NaN"),
        (lambda p: _write(p, t=np.arange(2.0), x=np.array([["a", "b"], ["c", "d"]])), "numeric"),
        (lambda p: _write(p, t=np.arange(2.0), x=np.zeros((2, 1)), meta=np.array("{not json")), "unreadable"),
        (lambda p: _write(p, t=np.arange(2.0), x=np.array([{}, {}], dtype=object)), "unreadable"),
    ],
)
def test_malformed_npz_files_give_one_line_errors(tmp_path, make, message):
    path = tmp_path / "bad.npz"
    make(path)
    with pytest.raises(DataError, match=message) as info:
        Trajectory.load(path)
    assert "\n" not in str(info.value)


def test_truncated_npz_is_refused(tmp_path):
    path = tmp_path / "good.npz"
    Trajectory(np.arange(50.0), np.ones((50, 3))).save(path)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DataError):
        Trajectory.load(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("t,x0\n", "no rows"),
        ("time,x0\n0,1\n", "first column must be 't'"),
        ("t,x0,x1\n0,1,2\n1,2\n", "row 3 has 2 fields"),
        ("t,x0\n0,abc\n", "non-numeric"),
        ("# meta: {oops\nt,x0\n0,1\n", "not JSON"),
        ("t,x0\n1,0\n0,1\n", "strictly increasing"),
        ("t,x0\n0,1\n1,nan\n", r"bad.csv: states contain NaN or Inf"),
        ("t,x0\n0,inf\n1,2\n", r"bad.csv: states contain NaN or Inf"),
        ("t,x0\ninf,1\n1,2\n", r"bad.csv: time contains NaN or Inf"),
        ("# meta: [1]\nt,x0\n0,1\n", "must be a JSON object"),
        ("# meta: " + "[" * 100_000 + "]" * 100_000 + "\nt,x0\n0,1\n", "nested too deeply"),
    ],
)
def test_malformed_csv_files_give_one_line_errors(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        Trajectory.load(path)


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "spreadsheet.csv"
    path.write_text("t,x0,x1\n0,1,2\n1,3,4\n", encoding="utf-8-sig")  # what spreadsheets export
    traj = Trajectory.load(path)
    assert traj.x.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_complex_data_is_refused_not_truncated(tmp_path):
    with pytest.raises(DataError, match="states are complex numbers"):
        Trajectory(np.arange(3.0), np.ones((3, 2)) * (1 + 2j))
    path = tmp_path / "complex.npz"
    np.savez(path, t=np.arange(3.0), x=np.ones((3, 2)) * 1j)
    with pytest.raises(DataError, match="complex.npz: states are complex"):
        Trajectory.load(path)


@pytest.mark.parametrize("suffix", [".csv", ".npz"])
def test_a_fifo_is_refused_without_blocking(tmp_path, suffix):
    path = tmp_path / f"pipe{suffix}"
    os.mkfifo(path)
    with pytest.raises(DataError, match="is not a regular file"):
        Trajectory.load(path)


def test_npz_sizes_are_checked_before_reading(tmp_path, monkeypatch):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**9,)})
    liar = tmp_path / "liar.npz"
    with zipfile.ZipFile(liar, "w") as archive:
        archive.writestr("t.npy", header.getvalue())
        archive.writestr("x.npy", header.getvalue())
    with pytest.raises(DataError, match="member t.npy declares 7.45 GiB of data but holds 128 bytes"):
        Trajectory.load(liar)

    bomb = tmp_path / "bomb.npz"
    np.savez_compressed(bomb, t=np.arange(200_000.0), x=np.zeros((200_000, 3)))  # 6.4 MB of arrays, a small file
    monkeypatch.setenv("DYNCORE_MAX_MEMORY_GB", str(2 / 1024))  # 2 MiB
    with pytest.raises(DataError, match=r"the arrays of .*bomb.npz, uncompressed, would need 6.1 MiB, more than the memory cap of 2 MiB"):
        Trajectory.load(bomb)
    monkeypatch.delenv("DYNCORE_MAX_MEMORY_GB")
    assert Trajectory.load(bomb).n == 200_000


def test_missing_file_and_wrong_suffix(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        Trajectory.load(tmp_path / "nope.npz")
    with pytest.raises(DataError, match="use a .npz or .csv"):
        Trajectory([0.0], [[1.0]]).save(tmp_path / "data.txt")


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "data.npz"
    Trajectory([0.0, 1.0], [[1.0], [2.0]], {"v": 1}).save(path)
    before = path.read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", full_disk)
    with pytest.raises(Exception, match="No space left on device"):
        Trajectory([0.0, 1.0], [[5.0], [6.0]], {"v": 2}).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["data.npz"]  # no temporary left behind
    with zipfile.ZipFile(path) as z:
        assert json.loads(np.load(path)["meta"].item())["v"] == 1 and "t.npy" in z.namelist()


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=300), suffix=st.sampled_from([".npz", ".csv"]), cut=st.integers(0, 400))
def test_any_file_is_loaded_or_refused_in_one_line(tmp_path, content, suffix, cut):
    """Random bytes, and valid files cut short at a random byte: a Trajectory or one DataError."""
    path = tmp_path / f"fuzz{suffix}"
    if cut % 2:
        Trajectory(np.arange(5.0), np.ones((5, 2)), {"k": 1}).save(path)
        content = path.read_bytes()[:cut]
    path.write_bytes(content)
    try:
        Trajectory.load(path)
    except DataError as exc:
        assert "\n" not in str(exc)
