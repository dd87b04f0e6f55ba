"""The NaN/Inf guard and the epoch rollback: the weights, optimizer state and RNG states an epoch starts from.

The guard keeps the last weights that gave a finite loss, at the cost of one copy per epoch; the
rollback adds the optimizer's moments and the RNG states, so an epoch abandoned half-way (a second
Ctrl-C) can be undone and the checkpoint written afterwards is exactly the state after the last
completed epoch.
"""

from __future__ import annotations

from typing import Any

import torch


class WeightGuard:
    """Double-buffered copies of the parameters.

    Each epoch :meth:`stage` copies the current weights (the ones the epoch starts from); when the
    epoch's loss is finite, :meth:`accept` makes that copy the last good one. On a non-finite loss
    :meth:`restore` puts the last good weights back: those of the latest epoch whose loss was finite.
    :meth:`rewind` puts back the weights staged at the start of the epoch in progress.
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

    @torch.no_grad()
    def rewind(self) -> None:
        for p, s in zip(self.params, self._staged):
            p.copy_(s)

    def state_dict(self) -> dict[str, Any]:
        """The last good weights and their epoch, for a checkpoint: a resumed run restores the same ones."""
        return {"epoch": self.good_epoch, "weights": [g.detach().cpu() for g in self._good]}

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, Any]) -> None:
        weights = state["weights"]
        if len(weights) != len(self._good) or any(w.shape != g.shape for w, g in zip(weights, self._good)):
            raise ValueError("the guard's weights have other shapes than the model's")
        for g, w in zip(self._good, weights):
            g.copy_(w)
        self.good_epoch = int(state["epoch"])


class EpochRollback:
    """The optimizer's state and the RNG states at the start of an epoch, to undo an abandoned epoch.

    :meth:`stage` costs one copy of the optimizer's tensors (for Adam: two per parameter, into
    buffers reused from epoch to epoch) and two small RNG states.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> None:
        self.optimizer, self.generator = optimizer, generator
        self._layout: list[tuple[torch.Tensor, str, bool]] = []
        self._copies: list[Any] = []

    @torch.no_grad()
    def stage(self) -> None:
        self._rng, self._generator = torch.get_rng_state(), self.generator.get_state()
        entries = [(p, key, value) for p, values in self.optimizer.state.items() for key, value in values.items()]
        layout = [(p, key, isinstance(value, torch.Tensor)) for p, key, value in entries]
        if len(layout) != len(self._layout) or any(a[0] is not b[0] or a[1:] != b[1:] for a, b in zip(layout, self._layout)):
            self._layout = layout
            self._copies = [value.clone() if tensor else value for (_, _, value), (_, _, tensor) in zip(entries, layout)]
            return
        pairs = [(c, value) for c, (_, _, value), (_, _, tensor) in zip(self._copies, entries, layout) if tensor]
        if pairs:
            torch._foreach_copy_([c for c, _ in pairs], [v for _, v in pairs])
        self._copies = [c if tensor else value for c, (_, _, value), (_, _, tensor) in zip(self._copies, entries, layout)]

    @torch.no_grad()
    def restore(self) -> None:
        state = self.optimizer.state
        staged = {id(p) for p, _, _ in self._layout}
        for p in [p for p in state if id(p) not in staged]:  # state that the abandoned epoch's first step created
            del state[p]
        for (p, key, tensor), saved in zip(self._layout, self._copies):
            if tensor and isinstance(state[p].get(key), torch.Tensor):
                state[p][key].copy_(saved)  # in place: an optimizer may hold references to its state tensors
            else:
                state[p][key] = saved.clone() if tensor else saved
        torch.set_rng_state(self._rng)
        self.generator.set_state(self._generator)
