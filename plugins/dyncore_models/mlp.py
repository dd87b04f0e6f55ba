"""The NODE's network: a plain MLP, and one Runge-Kutta step through it with a hand-written backward.

Training a NODE on a small system is dominated by memory traffic and per-operation overhead, not
arithmetic: a 999 x 3 batch through a 3-256-3 MLP, four times per RK4 step. :class:`FusedMLPStep`
computes the step and its gradient with few tensor operations: no autograd graph, activations and
their derivatives in place in reusable buffers (no page faults from fresh 1 MB allocations), and
every matrix product in whichever layout is fast for skinny shapes. It gives the same numbers as
autograd through :func:`~dyncore_models.tableaus.rk_step`, which the tests check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dyncore.errors import ConfigError, UnknownNameError
from dyncore_models.tableaus import Tableau

aten = torch.ops.aten
#: A matrix side at most this wide counts as skinny (the state dimension, not a hidden width).
SKINNY = 16


@dataclass(frozen=True)
class Activation:
    """An activation for autograd, the same into a buffer, and its derivative applied in place."""

    function: Callable[[torch.Tensor], torch.Tensor]  # out of place, for autograd
    into: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (z, out) -> activation, may return z itself
    backward_: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], None]  # (grad, z, a): grad *= act'(z) in place
    needs_input: bool  # the derivative needs z (kept in its own buffer), not just a


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(
        torch.relu, lambda z, out: z.relu_(), lambda g, z, a: aten.threshold_backward.grad_input(g, a, 0, grad_input=g), False
    ),
    "tanh": Activation(
        torch.tanh, lambda z, out: z.tanh_(), lambda g, z, a: aten.tanh_backward.grad_input(g, a, grad_input=g), False
    ),
    "softplus": Activation(
        F.softplus,
        lambda z, out: aten.softplus.out(z, 1, 20, out=out),
        lambda g, z, a: aten.softplus_backward.grad_input(g, z, 1, 20, grad_input=g),
        True,
    ),
    "gelu": Activation(
        F.gelu, lambda z, out: aten.gelu.out(z, out=out), lambda g, z, a: aten.gelu_backward.grad_input(g, z, grad_input=g), True
    ),
    "silu": Activation(
        F.silu, lambda z, out: aten.silu.out(z, out=out), lambda g, z, a: aten.silu_backward.grad_input(g, z, grad_input=g), True
    ),
}


def activation(name: str) -> Activation:
    """The activation called ``name``; :class:`UnknownNameError` with suggestions otherwise."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise UnknownNameError("activation", name, ACTIVATIONS, "for model 'node'") from None


class MLP(nn.Module):
    """``n_in -> hidden (x depth) -> n_out`` fully connected network, one activation between layers.

    Args:
        n_in: input width. n_out: output width. hidden: hidden width. depth: hidden layers (>= 1).
        act: activation name (see :data:`ACTIVATIONS`). dtype: parameter dtype.
    """

    def __init__(self, n_in: int, n_out: int, hidden: int, depth: int, act: str, dtype: torch.dtype) -> None:
        super().__init__()
        if depth < 1 or hidden < 1:
            raise ConfigError(f"the node MLP needs depth >= 1 and hidden >= 1, got depth={depth}, hidden={hidden}")
        widths = [n_in] + [hidden] * depth + [n_out]
        self.layers = nn.ModuleList(nn.Linear(a, b, dtype=dtype) for a, b in zip(widths[:-1], widths[1:]))
        self.act_name = act
        self.act = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network applied to ``x`` of shape ``(..., n_in)``; differentiable with autograd."""
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < last:
                x = self.act.function(x)
        return x

    def flat_params(self) -> list[torch.Tensor]:
        """``[W0, b0, W1, b1, ...]`` in layer order: the trailing arguments of :class:`FusedMLPStep`."""
        return [p for layer in self.layers for p in (layer.weight, layer.bias)]


class Workspace:
    """Buffers one :class:`FusedMLPStep` call keeps between its forward and backward.

    A loss that chains several steps (lookahead > 1) needs one workspace per step. Reusing a
    workspace before the previous graph's backward is detected and refused.
    """

    def __init__(self) -> None:
        self._buffers: dict[Any, torch.Tensor] = {}
        self.generation = 0

    def buffer(self, key: Any, rows: int, cols: int, like: torch.Tensor, last_column: float | None = None) -> torch.Tensor:
        """A ``(rows, cols)`` buffer like ``like``, kept under ``key``; ``last_column`` is written once, at creation."""
        buf = self._buffers.get(key)
        if buf is None or buf.shape != (rows, cols) or buf.dtype != like.dtype or buf.device != like.device:
            buf = torch.empty(rows, cols, dtype=like.dtype, device=like.device)
            if last_column is not None:
                buf[:, -1] = last_column
            self._buffers[key] = buf
        return buf


def linear(a: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ w.T + b`` for a skinny output (``w`` has few rows): ``(w @ a.T).T`` is several times faster."""
    return torch.mm(w, a.t()).t() + b


def lincomb(terms: list[tuple[float, torch.Tensor | None]]) -> torch.Tensor | None:
    """``sum c * x`` over the terms with nonzero ``c`` and a tensor ``x`` (None when there are none).

    Starts from a unit-coefficient term and adds the others with ``torch.add(..., alpha=c)``: one
    operation per term, and no Python float turned into a tensor (that costs a conversion each).
    """
    live = sorted(((c, x) for c, x in terms if c != 0.0 and x is not None), key=lambda cx: cx[0] != 1.0)
    if not live:
        return None
    c, acc = live[0]
    if c != 1.0:
        acc = acc * c
    for c, x in live[1:]:
        acc = torch.add(acc, x, alpha=c)
    return acc


class FusedMLPStep(torch.autograd.Function):
    """``y + h * sum_i b_i k_i`` for an explicit tableau whose stages evaluate an autonomous MLP.

    Call as ``FusedMLPStep.apply(y, h, tableau, activation_name, workspace, *mlp.flat_params())``
    with ``y`` of shape ``(batch, dim)`` and ``h`` broadcastable to ``(batch, 1)``. Gradients flow to
    ``y`` (when it requires them) and to every weight and bias; ``h`` is data.
    """

    @staticmethod
    def forward(ctx, y, h, tableau: Tableau, act_name: str, ws: Workspace, *params):
        act = ACTIVATIONS[act_name]
        weights, biases = params[0::2], params[1::2]
        last = len(weights) - 1
        rows, dim = y.shape
        # A skinny first layer takes the bias as a column of ones: one plain product forward, and
        # its weight and bias gradients in one product backward.
        augment = weights[0].shape[1] <= SKINNY
        first = torch.cat([weights[0], biases[0][:, None]], dim=1) if augment else None
        hks: list[torch.Tensor] = []  # h * k_j
        stages = []  # per stage: (layer inputs a_0 .. a_last, pre-activations or None)
        for i in range(tableau.stages):
            a = lincomb([(1.0, y), *zip(tableau.a[i], hks)])
            if augment:
                a_aug = ws.buffer(("y", i), rows, dim + 1, y, last_column=1.0)
                a_aug[:, :dim].copy_(a)
                a = a_aug
            inputs, pre = [a], []
            for j, (w, b) in enumerate(zip(weights, biases)):
                if j == last:
                    a = linear(a, w, b) if w.shape[0] <= SKINNY else torch.addmm(b, a, w.t())
                    break
                z = ws.buffer(("z", i, j), rows, w.shape[0], y)
                if j == 0 and augment:
                    torch.mm(a, first.t(), out=z)
                else:
                    torch.addmm(b, a, w.t(), out=z)
                a = act.into(z, ws.buffer(("a", i, j), rows, w.shape[0], y) if act.needs_input else z)
                pre.append(z if act.needs_input else None)
                inputs.append(a)
            hks.append(h * a)
            stages.append((inputs, pre))
        ws.generation += 1
        ctx.generation, ctx.ws, ctx.augment = ws.generation, ws, augment
        ctx.save_for_backward(h, *params)
        ctx.stages, ctx.tableau, ctx.act = stages, tableau, act
        return lincomb([(1.0, y), *zip(tableau.b, hks)])

    @staticmethod
    def backward(ctx, g):
        if ctx.ws.generation != ctx.generation:
            raise RuntimeError("a fused NODE step's buffers were reused before its backward; call backward() before the next loss")
        h, *params = ctx.saved_tensors
        weights = params[0::2]
        tableau, act, stages, ws = ctx.tableau, ctx.act, ctx.stages, ctx.ws
        need_y = ctx.needs_input_grad[0]
        n_layers = len(weights)
        rows = g.shape[0]
        # weight gradients accumulate in the cheap layout: W.grad, or W.grad transposed (see _transposed)
        grad_w: list[torch.Tensor | None] = [None] * n_layers
        grad_b: list[torch.Tensor | None] = [None] * n_layers
        grad_stage: list[torch.Tensor | None] = [None] * tableau.stages
        first_t = weights[0].t().contiguous() if weights[0].shape[1] <= SKINNY else None
        hg = h * g
        h_grad_stage: list[torch.Tensor | None] = [None] * tableau.stages  # h * dL/dy_m
        for i in reversed(range(tableau.stages)):
            # dL/dk_i = b_i h dL/dy_out + sum_{m > i} a_mi h dL/dy_m, dL/dy_m the gradient at stage m's input
            gz = lincomb([(tableau.b[i], hg), *((tableau.a[m][i], h_grad_stage[m]) for m in range(i + 1, tableau.stages))])
            if gz is None:
                continue
            inputs, pre = stages[i]
            for j in reversed(range(n_layers)):
                w = weights[j]
                if j == 0 and ctx.augment:  # [dW | db]^T in one product, thanks to the ones column
                    grad_w[0] = _mm_into(grad_w[0], inputs[0].t(), gz)
                else:
                    left, right = (inputs[j].t(), gz) if _transposed(w) else (gz.t(), inputs[j])
                    grad_w[j] = _mm_into(grad_w[j], left, right)
                    grad_b[j] = gz.sum(0) if grad_b[j] is None else grad_b[j].add_(gz.sum(0))
                if j == 0:
                    if i > 0 or need_y:
                        grad_stage[i] = torch.mm(first_t, gz.t()).t() if first_t is not None else gz @ w
                        if i > 0:
                            h_grad_stage[i] = h * grad_stage[i]
                    break
                ga = torch.mm(gz, w, out=ws.buffer(("g", j % 2), rows, w.shape[1], g))
                act.backward_(ga, pre[j - 1], inputs[j])
                gz = ga
        grad_y = lincomb([(1.0, g), *((1.0, gs) for gs in grad_stage)]) if need_y else None
        ctx.stages = None
        if ctx.augment and grad_w[0] is not None:
            grad_w[0], grad_b[0] = grad_w[0][:-1], grad_w[0][-1]
        grads: list[torch.Tensor | None] = []
        for j in range(n_layers):
            gw = grad_w[j]
            if gw is not None and (_transposed(weights[j]) or (j == 0 and ctx.augment)):
                gw = gw.t().contiguous()
            grads += [gw, grad_b[j]]
        return (grad_y, None, None, None, None, *grads)


def _transposed(w: torch.Tensor) -> bool:
    """True when ``W.grad`` is cheaper accumulated as its transpose ``a_in.T @ gz`` (fewer output rows)."""
    return w.shape[0] > w.shape[1]


def _mm_into(acc: torch.Tensor | None, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """``left @ right``, added into ``acc`` in one product when there is one."""
    return torch.mm(left, right) if acc is None else acc.addmm_(left, right)
