"""Trajectory: the one data currency. Times ``t`` (n,), states ``x`` (n, dim) or (n, batch, dim), metadata."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dyncore.errors import DataError
from dyncore.io import atomic_write
from dyncore.limits import check_size, format_bytes


def _as_numpy(a: Any, what: str) -> np.ndarray:
    if hasattr(a, "detach"):  # a torch tensor, without importing torch here
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if np.iscomplexobj(a):  # casting would drop the imaginary part with only a numpy warning
        raise DataError(f"{what} are complex numbers; dyncore needs real data: store the real and imaginary parts as separate components")
    try:
        return np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{what} must be numbers") from None


@dataclass
class Trajectory:
    """Sampled states of a dynamical system.

    Args:
        t: times, shape ``(n,)``, strictly increasing, finite.
        x: states, shape ``(n, dim)``, or ``(n, batch, dim)`` for several trajectories on one grid.
        meta: JSON-serialisable facts: system, parameters, solver, seed, version, hash, ...
    """

    t: np.ndarray
    x: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.t = _as_numpy(self.t, "times")
        self.x = _as_numpy(self.x, "states")
        if self.t.ndim != 1:
            raise DataError(f"time must be 1-D, got shape {self.t.shape}")
        if len(self.t) == 0:
            raise DataError("trajectory is empty: it needs at least one time point")
        if self.x.ndim == 1:
            self.x = self.x[:, None]
        if self.x.ndim not in (2, 3) or self.x.shape[0] != len(self.t):
            raise DataError(
                f"states must have shape (n, dim) or (n, batch, dim) with n = {len(self.t)} times, "
                f"got {self.x.shape}"
            )
        if self.x.shape[-1] == 0:
            raise DataError("states have zero dimensions")
        if not np.all(np.isfinite(self.t)):
            raise DataError("time contains NaN or Inf")
        if len(self.t) > 1 and not np.all(np.diff(self.t) > 0):
            i = int(np.argmin(np.diff(self.t) > 0))
            raise DataError(f"time must be strictly increasing; t[{i}] = {self.t[i]:g} >= t[{i + 1}] = {self.t[i + 1]:g}")
        if not np.all(np.isfinite(self.x)):
            i = int(np.argwhere(~np.isfinite(self.x))[0][0])
            raise DataError(f"states contain NaN or Inf (first at t = {self.t[i]:g}, row {i}); clean the data")
        try:
            json.dumps(self.meta)
        except (TypeError, ValueError, RecursionError) as exc:
            raise DataError(f"metadata must be JSON-serialisable and nested at most a few hundred levels: {exc}") from None

    # -- shape facts ---------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of time points."""
        return len(self.t)

    @property
    def dim(self) -> int:
        """State dimension."""
        return self.x.shape[-1]

    @property
    def batched(self) -> bool:
        return self.x.ndim == 3

    @property
    def batch(self) -> int:
        """Number of trajectories (1 when unbatched)."""
        return self.x.shape[1] if self.batched else 1

    def member(self, i: int) -> Trajectory:
        """Trajectory ``i`` of a batch as an unbatched Trajectory (``self`` when unbatched and i == 0)."""
        if not self.batched:
            if i != 0:
                raise IndexError(f"an unbatched trajectory has only member 0, not {i}")
            return self
        return Trajectory(self.t, self.x[:, i], dict(self.meta))

    def members(self) -> list[Trajectory]:
        return [self.member(i) for i in range(self.batch)]

    def __len__(self) -> int:
        return self.n

    def content_hash(self) -> str:
        """SHA-256 of the times and states (not the metadata): identifies a dataset."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.t).data)  # buffers, not tobytes(): no copy of a large dataset
        h.update(str(self.x.shape).encode())
        h.update(np.ascontiguousarray(self.x).data)
        return h.hexdigest()

    # -- files ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``.npz`` (keys ``t``, ``x``, ``meta`` as JSON) or ``.csv``, atomically."""
        path = Path(path)
        if path.suffix == ".csv":
            return self.to_csv(path)
        if path.suffix != ".npz":
            raise DataError(f"cannot save to {path.name}: use a .npz or .csv file name")
        buffer = io.BytesIO()
        np.savez(buffer, t=self.t, x=self.x, meta=np.array(json.dumps(self.meta)))
        with atomic_write(path) as f:
            f.write(buffer.getvalue())
        return path

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write CSV: a ``# meta:`` JSON comment, a header ``t,[member,]x0,x1,...``, one row per sample."""
        path = Path(path)
        head = ["t"] + (["member"] if self.batched else []) + [f"x{i}" for i in range(self.dim)]
        text = io.StringIO()
        text.write("# meta: " + json.dumps(self.meta) + "\n")
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(head)
        for k, tk in enumerate(self.t.tolist()):  # tolist: Python floats, whose repr round-trips exactly
            if self.batched:
                for b, state in enumerate(self.x[k].tolist()):
                    writer.writerow([repr(tk), b, *map(repr, state)])
            else:
                writer.writerow([repr(tk), *map(repr, self.x[k].tolist())])
        with atomic_write(path, "w") as f:
            f.write(text.getvalue())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Trajectory:
        """Read a file written by :meth:`save`; every malformation is a one-line :class:`DataError`."""
        path = Path(path)
        check_regular_file(path, "data file", "(.npz or .csv)")
        if path.suffix == ".csv":
            return cls.from_csv(path)
        if path.stat().st_size == 0:
            raise DataError(f"{path} is empty; regenerate it with `dyncore simulate`")
        if not zipfile.is_zipfile(path):
            raise DataError(f"{path} is not a readable .npz file; regenerate it with `dyncore simulate`")
        check_npz_sizes(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                keys = set(data.files)
                missing = {"t", "x"} - keys
                if missing:
                    raise DataError(
                        f"{path} lacks the key(s) {', '.join(sorted(missing))} (has {', '.join(sorted(keys)) or 'none'}); "
                        "a dyncore dataset holds 't' (n,) and 'x' (n, dim)"
                    )
                t, x = data["t"], data["x"]
                meta = json.loads(str(data["meta"])) if "meta" in keys else {}
        except DataError:
            raise
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise DataError(f"{path} is not a readable .npz file ({exc}); regenerate it with `dyncore simulate`") from None
        except ValueError as exc:  # pickled arrays, bad JSON
            reason = "pickled objects, which dyncore never loads" if "pickle" in str(exc) else str(exc)
            raise DataError(f"{path} has unreadable contents ({reason}); regenerate it with `dyncore simulate`") from None
        except RecursionError:
            raise DataError(f"{path}: its 'meta' JSON is nested too deeply to read; regenerate it with `dyncore simulate`") from None
        if not isinstance(meta, dict):
            raise DataError(f"{path}: 'meta' must be a JSON object")
        if not (np.issubdtype(t.dtype, np.number) and np.issubdtype(x.dtype, np.number)):
            raise DataError(f"{path}: 't' and 'x' must be numeric arrays")
        return cls._checked(path, t, x, meta)

    @classmethod
    def _checked(cls, path: Path, t: Any, x: Any, meta: dict[str, Any]) -> Trajectory:
        """``cls(t, x, meta)`` with a failed check's message naming the file."""
        try:
            return cls(t, x, meta)
        except DataError as exc:
            raise DataError(f"{path}: {exc}") from None

    @classmethod
    def from_csv(cls, path: str | os.PathLike) -> Trajectory:
        """Read a CSV with a header ``t,x0,...`` (or ``t,member,x0,...``), as written by :meth:`to_csv`."""
        path = Path(path)
        check_regular_file(path, "data file", "(.csv)")
        check_size(f"reading {path}", 16.0 * path.stat().st_size, "split the file or raise the cap", DataError)
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()  # -sig: the byte-order mark spreadsheets write
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read {path}: {exc}") from None
        meta: dict[str, Any] = {}
        body = []
        for line in lines:
            if line.startswith("# meta:"):
                try:
                    meta = json.loads(line[len("# meta:"):])
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}: the '# meta:' line is not JSON ({exc.msg})") from None
                except RecursionError:
                    raise DataError(f"{path}: the '# meta:' line is nested too deeply to read") from None
                if not isinstance(meta, dict):
                    raise DataError(f"{path}: the '# meta:' line must be a JSON object")
            elif line.strip() and not line.startswith("#"):
                body.append(line)
        if not body:
            raise DataError(f"{path} is empty; it needs a header 't,x0,x1,...' and rows")
        rows = list(csv.reader(body))
        header = [h.strip() for h in rows[0]]
        if not header or header[0] != "t":
            raise DataError(f"{path}: the first column must be 't', got header {','.join(header)!r}")
        batched = len(header) > 1 and header[1] == "member"
        width = len(header)
        values = []
        for i, row in enumerate(rows[1:], start=2):
            if len(row) != width:
                raise DataError(f"{path}: row {i} has {len(row)} fields, the header has {width}; fix the ragged row")
            try:
                values.append([float(v) for v in row])
            except ValueError:
                raise DataError(f"{path}: row {i} has a non-numeric value") from None
        if not values:
            raise DataError(f"{path} has a header but no rows")
        a = np.array(values)
        if not batched:
            return cls._checked(path, a[:, 0], a[:, 1:], meta)
        members = a[:, 1].astype(int)
        batch = members.max() + 1
        if len(a) % batch or not np.array_equal(members, np.tile(np.arange(batch), len(a) // batch)):
            raise DataError(f"{path}: 'member' must cycle 0..{batch - 1} at every time")
        t = a[::batch, 0]
        x = a[:, 2:].reshape(len(t), batch, -1)
        return cls._checked(path, t, x, meta)


def check_regular_file(path: Path, what: str, kinds: str) -> None:
    """Refuse a path that is missing, a directory, or not a regular file (a FIFO would block reading forever)."""
    if not path.exists():
        raise DataError(f"{what} {path} does not exist")
    if path.is_dir():
        raise DataError(f"{path} is a directory, not a {what} {kinds}")
    if not path.is_file():
        raise DataError(f"{path} is not a regular file (a FIFO, socket or device); give a {what} {kinds} saved on disk")


def check_npz_sizes(path: Path) -> None:
    """Check the arrays an ``.npz`` declares before reading any: against its zip entries and the memory cap.

    A member's ``.npy`` header declares its shape and dtype, and numpy allocates that much before
    reading; a deflate-compressed member can expand a small file into gigabytes. Both are refused
    up front (:class:`DataError` naming the member and the limit hit).
    """
    total = 0.0
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                    shape, _, dtype = read(member)
                if dtype.hasobject:  # pickled objects: np.load refuses them below
                    continue
                declared = float(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                if declared > info.file_size:
                    raise DataError(
                        f"{path}: member {info.filename} declares {format_bytes(declared)} of data but holds "
                        f"{format_bytes(info.file_size)}; the file is damaged: regenerate it with `dyncore simulate`"
                    )
                total += info.file_size
    except DataError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise DataError(f"{path} is not a readable .npz file ({exc}); regenerate it with `dyncore simulate`") from None
    check_size(f"the arrays of {path}, uncompressed,", total, "use a smaller data file or raise the cap",
               DataError)
