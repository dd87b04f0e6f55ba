"""Torch's intra-op threads for dyncore's work: one for the small problems of this field, more only
where one operation is big enough to gain from them.

A small op (a 1000 x 256 activation) finishes in microseconds, less than it takes a second thread
to wake and synchronise; on a machine that is not idle a thread that waits for a descheduled
sibling stalls every op, and training runs 10-20x slower (docs/benchmarks.md). So dyncore runs
its work on one thread unless the biggest op of the batch has at least :data:`WORK_PER_THREAD`
multiply-adds per thread.

Who decides, first that applies:

1. an explicit count: ``threads=`` of :func:`dyncore.train` (and the other functions that take
   it), ``dyncore --threads N`` (or ``--threads N`` after any command), :func:`set_threads`;
2. ``DYNCORE_THREADS``: a positive count, or ``auto`` for dyncore's choice even over 3;
3. the user's own choice for torch, left as it is: ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` in
   the environment, or a ``torch.set_num_threads(n)`` made before with an ``n`` that is not torch's
   default (a call that sets torch's own default cannot be told apart; use :func:`set_threads`);
4. auto, by the work per op (:func:`auto_threads`).

dyncore sets the count for the duration of its call and puts torch's back afterwards, and logs
its choice on the ``dyncore`` logger at INFO (``dyncore --verbose`` prints it).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from dyncore.errors import ConfigError

#: Environment variable: a positive thread count, or ``auto``.
VARIABLE = "DYNCORE_THREADS"
#: The environment variables by which a user sets torch's (OpenMP's, MKL's) threads themselves.
USER_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: Sources that are the user's own setting for torch, which dyncore leaves as it is.
USER_SOURCES = (*USER_VARIABLES, "torch.set_num_threads")
#: Multiply-adds in the biggest op of a step that each thread must get before dyncore adds one:
#: above every size at which a second thread was measured to gain on the shared 2-core machine
#: (none up to 1e8; benchmarks/threads.py --sizes, docs/benchmarks.md "Threads"), since a second
#: thread gains at most 2x and loses up to 25x on a busy machine.
WORK_PER_THREAD = 64_000_000

T = TypeVar("T")
log = logging.getLogger("dyncore")
_explicit: int | str | None = None  # set_threads(): a count, "auto", or None (not set)
_active: list[ThreadChoice] = []  # the choices of the calls now running, innermost last


@dataclass(frozen=True)
class ThreadChoice:
    """The intra-op thread count dyncore uses for one call, who chose it, and the work it was sized for."""

    threads: int
    source: str  # "explicit", "DYNCORE_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "torch.set_num_threads", "auto"
    work: float | None = None

    def describe(self) -> str:
        """``"1 thread (auto)"``: for a log line."""
        return f"{self.threads} thread{'s' if self.threads != 1 else ''} ({self.source})"

    def as_dict(self) -> dict[str, Any]:
        """The record kept in run metadata (``config.json``)."""
        return {"threads": self.threads, "source": self.source, "work": self.work}


def parse_threads(value: Any, where: str) -> int | str:
    """A thread setting from a user: a positive int, or ``"auto"``; :class:`ConfigError` otherwise."""
    given = value
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return "auto"
        value = int(text) if text.isdigit() else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where} must be a positive number of threads or auto, got {given!r}")
    return value


def set_threads(n: int | str | None) -> None:
    """Use ``n`` intra-op threads for dyncore's work from now on (``"auto"``: dyncore's choice; ``None``: undo).

    Nothing is imported: the count is applied when dyncore next computes, for that call.
    """
    global _explicit
    _explicit = None if n is None else parse_threads(n, "set_threads(n)")


def env_threads() -> int | str | None:
    """``DYNCORE_THREADS`` checked: a count, ``"auto"``, or ``None`` when unset or empty."""
    text = os.environ.get(VARIABLE, "").strip()
    return parse_threads(text, VARIABLE) if text else None


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@functools.lru_cache(maxsize=1)
def _physical_cores() -> int | None:
    """Distinct physical cores in /proc/cpuinfo, or ``None`` where it cannot be read (not Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return None
    cores, physical = set(), "0"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            physical = value.strip()
        elif key == "core id":
            cores.add((physical, value.strip()))
    return len(cores) or None


def _torch_defaults() -> set[int]:
    """The counts torch may start with when nobody set them (logical CPUs, allowed CPUs, physical cores)."""
    return {n for n in (os.cpu_count(), available_cpus(), _physical_cores()) if n}


def auto_threads(work: float | None) -> int:
    """One thread, or ``work // WORK_PER_THREAD`` (at most the CPUs) when the biggest op is that large.

    Args:
        work: multiply-adds (or element operations) of the biggest op of one step; ``None`` for small.
    """
    if not work or work < 2 * WORK_PER_THREAD:
        return 1
    return max(1, min(available_cpus(), int(work // WORK_PER_THREAD)))


def choose_threads(work: float | None = None, threads: int | str | None = None) -> ThreadChoice:
    """The thread count for a call of size ``work``, by the precedence in this module's docstring.

    Args:
        work: multiply-adds of the biggest op of one step (see :func:`auto_threads`).
        threads: the call's own explicit setting (a count or ``"auto"``), above everything else.
    """
    import torch

    setting, source = (parse_threads(threads, "threads") if threads is not None else _explicit), "explicit"
    if setting is None:
        setting, source = env_threads(), VARIABLE
    if isinstance(setting, int):
        return ThreadChoice(setting, source, work)
    if setting is None and _active:  # inside one of our calls: the count is ours, or the user's the outer call kept
        if _active[-1].source in USER_SOURCES:
            return ThreadChoice(_active[-1].threads, _active[-1].source, work)
    elif setting is None:
        for name in USER_VARIABLES:
            if os.environ.get(name, "").strip():
                return ThreadChoice(torch.get_num_threads(), name, work)
        current = torch.get_num_threads()
        if current not in _torch_defaults():
            return ThreadChoice(current, "torch.set_num_threads", work)
    return ThreadChoice(auto_threads(work), "auto", work)


@contextlib.contextmanager
def threads_for(work: float | None = None, threads: int | str | None = None) -> Iterator[ThreadChoice]:
    """Run the block on :func:`choose_threads` ``(work, threads)`` threads and put torch's count back after.

    An explicit ``threads`` also holds for the dyncore calls made inside the block.
    """
    global _explicit
    import torch

    choice = choose_threads(work, threads)
    before, explicit_before = torch.get_num_threads(), _explicit
    if threads is not None:
        _explicit = parse_threads(threads, "threads")
    if choice.threads != before:
        torch.set_num_threads(choice.threads)
    if not _active or _active[-1].threads != choice.threads:
        log.info("torch threads: %s", choice.describe() + (f", for ops of {work:.3g} multiply-adds" if work else ""))
    _active.append(choice)
    try:
        yield choice
    finally:
        _active.pop()
        _explicit = explicit_before
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def with_threads(function: Callable[..., T]) -> Callable[..., T]:
    """Decorate a public function whose ops are small (a few states at a time): it runs in :func:`threads_for` ``()``."""
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        with threads_for():
            return function(*args, **kwargs)

    return wrapper


def model_work(model: Any, rows: int) -> float | None:
    """Multiply-adds of ``model``'s biggest weight matrix applied to ``rows`` states: the work per op of a step.

    ``None`` when the model has no parameters yet (not built).
    """
    sizes = [p.numel() for p in getattr(model, "parameters", list)() if p.dim() >= 2]
    return float(rows * max(sizes)) if sizes else None


__all__ = ["ThreadChoice", "WORK_PER_THREAD", "VARIABLE", "auto_threads", "choose_threads", "env_threads", "model_work",
           "set_threads", "threads_for", "with_threads"]
