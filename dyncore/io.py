"""Atomic file writes: a reader sees the old complete file or the new complete file, never half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from dyncore.errors import DyncoreError


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    On any failure the temporary file is removed and ``path`` is untouched. ``OSError`` (an
    unwritable directory, a full disk) becomes a one-line :class:`DyncoreError`.
    """
    path = Path(path)
    blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise DyncoreError(f"cannot write {path}: {blocker} is a file, not a directory; choose another location")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise DyncoreError(f"cannot write {path}: {exc.strerror or exc}; choose a writable location") from exc
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _remove_quietly(tmp)
        raise DyncoreError(
            f"cannot write {path}: {exc.strerror or exc}; free some space or choose another location "
            "(nothing existing was changed)"
        ) from exc
    except BaseException:
        _remove_quietly(tmp)
        raise


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
