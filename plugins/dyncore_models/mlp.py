"""The NODE's network: a plain MLP, and one Runge-Kutta step through it with a hand-written backward.

Training a NODE on a small system is dominated by memory traffic and per-operation overhead, not
arithmetic: a 999 x 3 batch through a 3-256-3 MLP, four times per RK4 step. :class:`FusedMLPStep`
computes the step and its gradient with few tensor operations: no autograd graph, activations and
their derivatives in place in reusable buffers (no page faults from fresh 1 MB allocations), and
every matrix product in whichever layout is fast for skinny shapes. It gives the same numbers as
autograd through :func:`~dyncore_models.tableaus.rk_step`, which the tests check.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

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


#: relu, gelu and silu apply their derivative with torch's private ``aten.*_backward`` ops, in place:
#: each measured faster per NODE epoch than public tensor operations (private / public 0.70, 0.70,
#: 0.76; ``benchmarks/train.py --only private-api``, docs/benchmarks.md). tanh and softplus measured
#: no gain (0.96, 0.97, within the noise) and use public operations.
ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(
        torch.relu, lambda z, out: z.relu_(), lambda g, z, a: aten.threshold_backward.grad_input(g, a, 0, grad_input=g), False
    ),
    "tanh": Activation(torch.tanh, lambda z, out: z.tanh_(), lambda g, z, a: g.mul_(1 - a * a), False),
    "softplus": Activation(
        F.softplus,
        lambda z, out: aten.softplus.out(z, 1, 20, out=out),
        lambda g, z, a: g.mul_(torch.sigmoid(z).masked_fill_(z > 20, 1.0)),  # F.softplus's threshold 20: slope 1 above
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
        self.generation = 0
        self._key: tuple | None = None
        self.inputs: list[torch.Tensor] = []  # per stage: the stage input (with a column of ones when augmented)
        self.pre: list[list[torch.Tensor]] = []  # per stage, per hidden layer: pre-activation (post too when in place)
        self.post: list[list[torch.Tensor]] = []  # per stage, per hidden layer: activation
        self.grad: list[torch.Tensor] = []  # two hidden-width gradient buffers, used in turn

    def prepare(self, rows: int, dim: int, hidden: int, layers: int, stages: int, augment: bool, separate_post: bool, like: torch.Tensor) -> None:
        """(Re)allocate the buffers unless the last call had the same shapes, dtype and device."""
        key = (rows, dim, hidden, layers, stages, augment, separate_post, like.dtype, like.device)
        if key == self._key:
            return
        self._key = key

        def new(cols: int) -> torch.Tensor:
            return torch.empty(rows, cols, dtype=like.dtype, device=like.device)

        self.inputs = []
        for _ in range(stages):
            buf = new(dim + 1) if augment else new(dim)
            if augment:
                buf[:, -1] = 1.0
            self.inputs.append(buf)
        self.pre = [[new(hidden) for _ in range(layers)] for _ in range(stages)]
        self.post = [[new(hidden) for _ in range(layers)] for _ in range(stages)] if separate_post else self.pre
        self.grad = [new(hidden), new(hidden)]


def linear(a: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ w.T + b`` for a skinny output (``w`` has few rows): ``(w @ a.T).T`` is several times faster."""
    return torch.mm(w, a.t()).t() + b


@dataclass(frozen=True)
class _Plan:
    """A tableau's linear combinations as index lists, every one starting from a unit coefficient.

    Sums are then chains of ``torch.add(acc, x, alpha=c)``: one operation per term, and no Python
    float turned into a tensor (each such conversion is an extra operation).
    """

    stage: tuple[tuple[tuple[int, float], ...], ...]  # stage i input = y + sum a_ij (h k_j)
    out: tuple[tuple[int, float], ...]  # output = y + sum b_j (h k_j)
    back: tuple[tuple[tuple[int, float], ...], ...]  # dL/dk_i = sum c (h g_m); m = -1: dL/dy_out, else stage m's input


@functools.cache
def _plan(tableau: Tableau) -> _Plan:
    def live(pairs) -> tuple[tuple[int, float], ...]:
        return tuple(sorted(((j, c) for j, c in pairs if c != 0.0), key=lambda jc: jc[1] != 1.0))

    n = tableau.stages
    back = tuple(live([(-1, tableau.b[i])] + [(m, tableau.a[m][i]) for m in range(i + 1, n)]) for i in range(n))
    return _Plan(
        stage=tuple(tuple((j, c) for j, c in enumerate(row) if c != 0.0) for row in tableau.a),
        out=tuple((j, c) for j, c in enumerate(tableau.b) if c != 0.0),
        back=back,
    )


def _chain(acc: torch.Tensor, terms: tuple[tuple[int, float], ...], xs: list[torch.Tensor]) -> torch.Tensor:
    for j, c in terms:
        acc = torch.add(acc, xs[j], alpha=c)
    return acc


class FusedMLPStep(torch.autograd.Function):
    """``y + h * sum_i b_i k_i`` for an explicit tableau whose stages evaluate an autonomous MLP.

    Call as ``FusedMLPStep.apply(y, h, tableau, activation_name, workspace, *mlp.flat_params())``
    with ``y`` of shape ``(batch, dim)`` and ``h`` of shape ``(batch, 1)``. Gradients flow to ``y``
    (when it requires them) and to every weight and bias; ``h`` is data.
    """

    @staticmethod
    def forward(ctx, y, h, tableau: Tableau, act_name: str, ws: Workspace, *params):
        act = ACTIVATIONS[act_name]
        plan = _plan(tableau)
        weights, biases = params[0::2], params[1::2]
        hidden_layers = len(weights) - 1
        w_out, b_out = weights[-1], biases[-1]
        rows, dim = y.shape
        # A skinny first layer takes its bias as a column of ones: one plain product forward, and
        # its weight and bias gradients in one product backward.
        augment = dim <= SKINNY
        first = torch.cat([weights[0], biases[0][:, None]], dim=1).t() if augment else weights[0].t()
        ws.prepare(rows, dim, weights[0].shape[0], hidden_layers, tableau.stages, augment, act.needs_input, y)
        skinny_out = w_out.shape[0] <= SKINNY
        hks: list[torch.Tensor] = []  # h * k_j
        for i in range(tableau.stages):
            a = _chain(y, plan.stage[i], hks)
            if augment:
                ws.inputs[i][:, :dim].copy_(a)
            else:
                ws.inputs[i].copy_(a)
            a = ws.inputs[i]
            pre, post = ws.pre[i], ws.post[i]
            for j in range(hidden_layers):
                if j == 0:
                    torch.mm(a, first, out=pre[0]) if augment else torch.addmm(biases[0], a, first, out=pre[0])
                else:
                    torch.addmm(biases[j], a, weights[j].t(), out=pre[j])
                a = act.into(pre[j], post[j])
            k = linear(a, w_out, b_out) if skinny_out else torch.addmm(b_out, a, w_out.t())
            hks.append(h * k)
        ws.generation += 1
        ctx.generation, ctx.ws, ctx.augment = ws.generation, ws, augment
        ctx.save_for_backward(h, *params)
        ctx.tableau, ctx.act = tableau, act
        return _chain(y, plan.out, hks)

    @staticmethod
    def backward(ctx, g):
        ws = ctx.ws
        if ws.generation != ctx.generation:
            raise RuntimeError("a fused NODE step's buffers were reused before its backward; call backward() before the next loss")
        h, *params = ctx.saved_tensors
        weights = params[0::2]
        tableau, act, augment = ctx.tableau, ctx.act, ctx.augment
        plan = _plan(tableau)
        need_y = ctx.needs_input_grad[0]
        last = len(weights) - 1
        # weight gradients accumulate in the cheap layout: W.grad, or its transpose (see _transposed)
        grad_w: list[torch.Tensor | None] = [None] * (last + 1)
        grad_b: list[torch.Tensor | None] = [None] * (last + 1)
        grad_stage: list[torch.Tensor | None] = [None] * tableau.stages  # dL/d(stage input)
        h_grad = [torch.empty(0)] * tableau.stages  # h * dL/d(stage input)
        hg = h * g
        first_t = weights[0].t().contiguous() if weights[0].shape[1] <= SKINNY else None
        flipped = [_transposed(w) for w in weights]
        for i in reversed(range(tableau.stages)):
            terms = plan.back[i]
            if not terms:  # this stage does not influence the output
                continue
            (m, c), rest = terms[0], terms[1:]
            gz = hg if m < 0 else h_grad[m]
            gz = gz if c == 1.0 else gz * c
            for m, c in rest:
                gz = torch.add(gz, hg if m < 0 else h_grad[m], alpha=c)
            pre, post = ws.pre[i], ws.post[i]
            for j in range(last, -1, -1):
                a_in = ws.inputs[i] if j == 0 else post[j - 1]
                if j == 0 and augment:  # [dW | db]^T in one product, thanks to the ones column
                    grad_w[0] = _mm_into(grad_w[0], a_in.t(), gz)
                else:
                    grad_w[j] = _mm_into(grad_w[j], a_in.t(), gz) if flipped[j] else _mm_into(grad_w[j], gz.t(), a_in)
                    grad_b[j] = gz.sum(0) if grad_b[j] is None else grad_b[j].add_(gz.sum(0))
                if j == 0:
                    if i > 0 or need_y:
                        grad_stage[i] = torch.mm(first_t, gz.t()).t() if first_t is not None else gz @ weights[0]
                        h_grad[i] = h * grad_stage[i]
                    break
                ga = torch.mm(gz, weights[j], out=ws.grad[j % 2])
                act.backward_(ga, pre[j - 1], post[j - 1])
                gz = ga
        grad_y = None
        if need_y:
            grad_y = g
            for gs in grad_stage:
                if gs is not None:
                    grad_y = grad_y + gs
        if augment and grad_w[0] is not None:
            grad_w[0], grad_b[0] = grad_w[0][:-1], grad_w[0][-1]
        grads: list[torch.Tensor | None] = []
        for j in range(last + 1):
            gw = grad_w[j]
            if gw is not None and (flipped[j] or (j == 0 and augment)):
                gw = gw.t().contiguous()
            grads += [gw, grad_b[j]]
        return (grad_y, None, None, None, None, *grads)


def _transposed(w: torch.Tensor) -> bool:
    """True when ``W.grad`` is cheaper accumulated as its transpose ``a_in.T @ gz`` (fewer output rows)."""
    return w.shape[0] > w.shape[1]


def _mm_into(acc: torch.Tensor | None, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """``left @ right``, added into ``acc`` in one product when there is one."""
    return torch.mm(left, right) if acc is None else acc.addmm_(left, right)
