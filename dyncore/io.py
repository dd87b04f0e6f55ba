"""Atomic file writes and output checks: a reader sees the old complete file or the new complete file,
never half of one, and a command learns that its output cannot be written before it does the work."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from dyncore.errors import DyncoreError, OutputExistsError


def check_output(path: str | os.PathLike, force: bool = False, *, directory: bool = False) -> Path:
    """Check, before any work, that ``path`` can be written; return it as a :class:`Path`.

    Args:
        force: an existing output may be replaced.
        directory: ``path`` is a folder to create or fill (a run, a report), not a file.
    Raises:
        OutputExistsError: ``path`` exists and ``force`` is false (files only).
        DyncoreError: a parent is a file, the path is of the other kind (file/folder), or the nearest
            existing folder is not writable. Each names the path and the fix.
    """
    path = Path(path)
    blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise DyncoreError(f"cannot write {path}: {blocker} is a file, not a directory; choose another location")
    if directory and path.exists() and not path.is_dir():
        raise DyncoreError(f"cannot write {path}: it is a file, not a directory; choose another location")
    if not directory and path.is_dir():
        raise DyncoreError(f"cannot write {path}: it is a directory; give a file name")
    if not directory and path.exists() and not force:
        raise OutputExistsError(f"{path} exists; pass --force to overwrite it or choose another name")
    folder = path if directory and path.is_dir() else path.parent
    nearest = next(p for p in (folder, *folder.parents) if p.exists())
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise DyncoreError(f"cannot write {path}: {nearest} is not writable; choose a writable location")
    return path


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    The new file gets the mode of the file it replaces, or ``0o666`` less the umask for a new one
    (as ``open`` would). On any failure the temporary file is removed and ``path`` is untouched.
    ``OSError`` (an unwritable directory, a full disk) becomes a one-line :class:`DyncoreError`.
    """
    path = Path(path)
    blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise DyncoreError(f"cannot write {path}: {blocker} is a file, not a directory; choose another location")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_beside(path)
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


def _create_beside(path: Path) -> tuple[int, str]:
    """A new, exclusively created temporary file in ``path``'s folder, with the mode ``path`` should end up with."""
    try:
        existing: int | None = os.stat(path).st_mode & 0o7777
    except OSError:
        existing = None
    while True:
        tmp = str(path.parent / f".{path.name}.{os.urandom(4).hex()}.tmp")
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)  # less the umask
            break
        except FileExistsError:
            continue
    if existing is not None:
        try:
            os.chmod(tmp, existing)  # the replaced file's mode, also bits the umask would clear
        except OSError:
            os.close(fd)
            _remove_quietly(tmp)
            raise
    return fd, tmp


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
