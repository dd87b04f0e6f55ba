"""The exceptions dyncore raises on purpose.

Every message is one line that names the problem and the fix; the CLI prints it as is and exits
non-zero. Anything else escaping a command is a bug.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class DyncoreError(Exception):
    """Base class: an expected failure with a one-line, user-facing message."""

    exit_code = 1


class ConfigError(DyncoreError, ValueError):
    """A parameter, option or hyperparameter that is unknown or out of range."""

    exit_code = 2


class UnknownNameError(ConfigError, KeyError):
    """A name that no registry (or parameter table) knows; carries did-you-mean suggestions."""

    def __init__(self, kind: str, name: str, known: Iterable[str], hint: str = "") -> None:
        known = sorted(known)
        self.kind, self.name, self.known = kind, name, known
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        if close:
            tail = "did you mean " + " or ".join(repr(c) for c in close) + "?"
        elif known:
            tail = "known: " + ", ".join(known)
        else:
            tail = f"no {kind} is registered"
        message = f"unknown {kind} {name!r}; {tail}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class PluginError(DyncoreError):
    """A plugin failed to import, to register, or registered something unusable."""


class DataError(DyncoreError, ValueError):
    """A data file or array that is malformed: wrong keys, shapes, NaN, non-increasing time."""

    exit_code = 2


class CheckpointError(DyncoreError):
    """A checkpoint or run directory that is corrupt, foreign, or unsafe to load."""


class OutputExistsError(DyncoreError):
    """An output that exists and would be overwritten; pass --force (or --resume)."""


class RunLockedError(DyncoreError):
    """A run directory that another live dyncore process is training into (its lock names the PID)."""


class SolverError(DyncoreError):
    """An integration that failed: blow-up, step budget exhausted, stiff system for an explicit solver."""


class TrainingDiverged(DyncoreError):
    """Training produced a non-finite loss or state; the last good weights were kept."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C (SIGINT) or SIGTERM after the run and a checkpoint were saved.

    A ``KeyboardInterrupt``, so code that catches Ctrl-C keeps working; ``exit_code`` is the shell's
    convention for the signal (130 for SIGINT, 143 for SIGTERM).
    """

    def __init__(self, message: str, signum: int = 2) -> None:
        super().__init__(message)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def __str__(self) -> str:
        return str(self.args[0])


class DyncoreWarning(UserWarning):
    """Something that works but probably not as the user hopes; the CLI prints it as one line."""


class StiffnessWarning(DyncoreWarning):
    """An explicit solver was chosen for a stiff system: expect a very long run or an exhausted step budget."""
