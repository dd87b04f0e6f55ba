"""Size limits checked before allocating: a request whose arrays would not fit is refused up front.

Every array dyncore builds from a user's numbers (an output grid, a batch, a transient) or from a
file's declared sizes (an ``.npz`` member, the tensors of ``weights.pt``, the layers a
``config.json`` declares) is checked against :func:`memory_cap` first, and the refusal says how
much memory the request would need and which limit it hit.
"""

from __future__ import annotations

import os

from dyncore.errors import ConfigError

#: Environment variable that sets the cap, in GiB (default: half of this machine's memory).
MEMORY_CAP_VARIABLE = "DYNCORE_MAX_MEMORY_GB"
#: The cap when the machine's memory cannot be read.
FALLBACK_CAP_BYTES = 8 * 2**30


def memory_cap() -> int:
    """The largest single allocation dyncore makes, in bytes: ``DYNCORE_MAX_MEMORY_GB`` or half the memory."""
    text = os.environ.get(MEMORY_CAP_VARIABLE, "").strip()
    if text:
        try:
            gib = float(text)
        except ValueError:
            gib = -1.0
        if not gib > 0 or gib == float("inf"):
            raise ConfigError(f"{MEMORY_CAP_VARIABLE}={text!r} must be a positive number of GiB, e.g. 16")
        return int(gib * 2**30)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (AttributeError, ValueError, OSError):
        return FALLBACK_CAP_BYTES


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``: a size for a message."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} EiB"  # pragma: no cover  (the loop returns at PiB)


def check_size(what: str, n_bytes: float, fix: str, error: type[Exception] = ConfigError) -> None:
    """Raise ``error`` if ``what`` would need more than :func:`memory_cap` bytes.

    Args:
        what: the thing being allocated, e.g. ``"the output (10000000000 times x 3)"``.
        n_bytes: the bytes it would need (a float, so that absurd requests do not overflow).
        fix: what the user can change, e.g. ``"use a larger dt or a shorter t-end"``.
    """
    cap = memory_cap()
    if n_bytes > cap:
        source = f"set by {MEMORY_CAP_VARIABLE}" if os.environ.get(MEMORY_CAP_VARIABLE, "").strip() else (
            f"half this machine's memory; {MEMORY_CAP_VARIABLE} changes it"
        )
        raise error(f"{what} would need {format_bytes(n_bytes)}, more than the memory cap of {format_bytes(cap)} ({source}); {fix}")
