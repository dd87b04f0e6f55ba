"""The NaN/Inf guard: keeps the last weights that gave a finite loss, at the cost of one copy per epoch."""

from __future__ import annotations

import torch


class WeightGuard:
    """Double-buffered copies of the parameters.

    Each epoch :meth:`stage` copies the current weights (the ones the epoch starts from); when the
    epoch's loss is finite, :meth:`accept` makes that copy the last good one. On a non-finite loss
    :meth:`restore` puts the last good weights back: those of the latest epoch whose loss was finite.
    """

    def __init__(self, params: list[torch.Tensor]) -> None:
        self.params = params
        with torch.no_grad():
            self._good = [p.detach().clone() for p in params]
            self._staged = [p.detach().clone() for p in params]
        self.good_epoch = 0  # epochs completed when the good weights were current

    @torch.no_grad()
    def stage(self) -> None:
        torch._foreach_copy_(self._staged, [p.detach() for p in self.params])

    def accept(self, epochs_before: int) -> None:
        self._good, self._staged = self._staged, self._good
        self.good_epoch = epochs_before

    @torch.no_grad()
    def restore(self) -> None:
        for p, g in zip(self.params, self._good):
            p.copy_(g)
