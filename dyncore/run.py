"""The names of ``dyncore.run`` in earlier releases, kept as they were.

The run object and its directory are :mod:`dyncore.runs`, training into one is
:mod:`dyncore.training`, and the checkpoint format is :mod:`dyncore.checkpoint`.
"""

from __future__ import annotations

from dyncore.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    load_tensors,
    read_checkpoint,
    stored_bytes,
    write_checkpoint,
)
from dyncore.runs import (
    CHECKPOINT,
    CONFIG,
    HISTORY,
    LOCK,
    RUN_FILES,
    RUN_FORMAT,
    SNAPSHOTS,
    WEIGHTS,
    Run,
    RunLock,
    read_run_config,
    state_mismatch,
)
from dyncore.training import DEFAULT_CHECKPOINT_EVERY, train

__all__ = [
    "CHECKPOINT", "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "CONFIG", "DEFAULT_CHECKPOINT_EVERY", "HISTORY", "LOCK", "RUN_FILES",
    "RUN_FORMAT", "SNAPSHOTS", "WEIGHTS", "Run", "RunLock", "load_tensors", "read_checkpoint", "read_run_config", "state_mismatch",
    "stored_bytes", "train", "write_checkpoint",
]
