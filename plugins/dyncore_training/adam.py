"""Adam with torch's fused kernel and the per-step Python bookkeeping done once.

``torch.optim.Adam(fused=True).step()`` spends most of a small model's step in Python: grouping
tensors by device, checking options, looking up state. :class:`LeanAdam` keeps the state lists
and calls the same kernel (``torch._fused_adam_``) with the same arguments, so its numbers are
torch's bit for bit (a test checks); anything unusual (a closure, a parameter without gradient,
the first step that creates the state) goes through torch's own ``step``.
"""

from __future__ import annotations

from typing import Any

import torch


class LeanAdam(torch.optim.Adam):
    """``torch.optim.Adam(params, lr, weight_decay=..., fused=True)`` with a leaner ``step``."""

    def __init__(self, params: list[torch.Tensor], lr: float, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr=lr, weight_decay=weight_decay, fused=True)
        self._lists: tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]] | None = None

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._lists = None
        super().load_state_dict(state_dict)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        group = self.param_groups[0]
        params = group["params"]
        if closure is not None or len(self.param_groups) != 1 or not isinstance(group["lr"], float):
            return super().step(closure)
        grads = [p.grad for p in params]
        if any(g is None for g in grads) or any(not self.state[p] for p in params):
            self._lists = None
            return super().step()
        if self._lists is None:
            states = [self.state[p] for p in params]
            self._lists = ([s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states], [s["step"] for s in states])
        exp_avgs, exp_avg_sqs, steps = self._lists
        beta1, beta2 = group["betas"]
        torch._foreach_add_(steps, 1)
        torch._fused_adam_(
            params, grads, exp_avgs, exp_avg_sqs, [], steps,
            amsgrad=False, lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"],
            eps=group["eps"], maximize=False, grad_scale=None, found_inf=None,
        )
        return None
