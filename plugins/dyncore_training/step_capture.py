"""The full-batch training step, replayed from a CUDA graph and optionally compiled with ``torch.compile``.

A full-batch epoch repeats one computation on the same tensors: forward, backward and the Adam
update. On a GPU a small problem then spends most of an epoch launching kernels (dozens, a few
microseconds each); replaying the whole step from one CUDA graph removes that. The graph is
captured after :data:`WARMUP_EPOCHS` eager epochs (the optimizer's state must exist, cuBLAS must be
initialised), and captured again when the learning rate changes (it is a constant of the fused
Adam kernel). The first captured epoch is checked against an eager epoch from the same state: only
when the weights, the optimizer's state and the loss agree is the graph kept; otherwise, or when
capture fails, training goes on eagerly and one notice goes to the ``dyncore`` logger (shown by
``--verbose``). The graph runs the same kernels on the same data as the eager step, so on one
device the losses are the same (tests/test_cuda.py compares them).

Capture applies to models that declare ``capturable = True`` (their loss is a function of their
weights and the batch tensors alone, with no host-side state changing between epochs: the built-in
NODE and RNN). ``torch.compile`` of the model's loss is separate and opt-in (``compile=True`` or a
backend name); compiled kernels are captured like any others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import torch

from dyncore.errors import ConfigError
from dyncore.model import Model

log = logging.getLogger("dyncore")
#: Eager epochs before the first capture (Adam creates its state in the first; the second runs its lean step).
WARMUP_EPOCHS = 2
#: How far the checked graph epoch may be from the eager one (the same kernels give the same bits; this
#: only admits libraries whose reductions are not deterministic).
CHECK_RTOL, CHECK_ATOL = 1e-5, 1e-7


def check_options(owner: str, capture: Any, compile: Any, device: Any = "cuda") -> None:
    """One-line :class:`ConfigError` for a bad ``capture`` ("auto", True, False), ``compile`` (bool or backend
    name), or ``capture=True`` on a ``device`` other than CUDA."""
    if capture not in ("auto", True, False):
        raise ConfigError(f"trainer {owner!r}: capture must be auto, true or false, got {capture!r}")
    if isinstance(compile, str):
        from torch._dynamo import list_backends

        names = list_backends(exclude_tags=())
        if compile not in names:
            raise ConfigError(f"trainer {owner!r}: compile backend {compile!r} is unknown; use true (inductor) or one of {', '.join(names)}")
    if capture is True and not str(device).startswith("cuda"):
        raise ConfigError(f"trainer {owner!r}: capture=true needs a CUDA device (--device cuda); use capture=auto or false")
    if not isinstance(compile, (bool, str)) or compile == "":
        raise ConfigError(f"trainer {owner!r}: compile must be true, false or a torch.compile backend name, got {compile!r}")


class Graph(Protocol):
    """What :class:`StepRunner` needs of a graph: capture a function once, replay it later."""

    def capture(self, fn: Callable[[], torch.Tensor]) -> torch.Tensor:
        """Record ``fn``; return its output tensor, which every :meth:`replay` refills."""

    def replay(self) -> None:
        """Run the recorded work again."""


class CudaGraph:
    """A :class:`torch.cuda.CUDAGraph`: capture records the kernels without running them."""

    def __init__(self) -> None:
        self.graph = torch.cuda.CUDAGraph()

    def capture(self, fn: Callable[[], torch.Tensor]) -> torch.Tensor:
        with torch.cuda.graph(self.graph):
            return fn()

    def replay(self) -> None:
        self.graph.replay()


def eager_step(loss_fn: Callable[[dict[str, torch.Tensor]], torch.Tensor], examples: dict[str, torch.Tensor],
               optimizer: torch.optim.Optimizer) -> torch.Tensor:
    """One full-batch step: zero the gradients, loss, backward, optimizer step; the loss as a ``(1,)`` tensor."""
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(examples)
    loss.backward()
    optimizer.step()
    return loss.detach().reshape(1)


class StepRunner:
    """Runs a full-batch trainer's step each epoch: eagerly, compiled, and/or replayed from a graph.

    Args:
        model, examples, optimizer: what the step trains, on, with.
        capture: ``"auto"`` (a graph on CUDA for a ``capturable`` model), True (a graph; needs CUDA),
            False (never).
        compile: False, True (``torch.compile``'s default backend) or a backend name.
        graph_factory: builds the graphs (a test passes a stand-in that replays by calling).
    """

    def __init__(self, model: Model, examples: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer,
                 capture: str | bool = "auto", compile: bool | str = False,
                 graph_factory: Callable[[], Graph] | None = None) -> None:
        self.model, self.examples, self.optimizer = model, examples, optimizer
        on_cuda = next(iter(examples.values())).device.type == "cuda"
        if capture is True and not on_cuda and graph_factory is None:
            raise ConfigError("trainer option capture=true needs a CUDA device (--device cuda); use capture=auto or false")
        if capture is False:
            self.use_graph = False
        elif graph_factory is not None or capture is True:
            self.use_graph = True
        else:  # auto
            self.use_graph = on_cuda and bool(getattr(model, "capturable", False))
            if on_cuda and not self.use_graph:
                log.info("model %r does not declare capturable = True: its training step runs eagerly", model.name)
        self.graph_factory = graph_factory or CudaGraph
        self.loss_fn = model.loss
        self.mode = "eager"
        if compile:
            self.loss_fn = torch.compile(model.loss, backend="inductor" if compile is True else compile, dynamic=False)
            self.mode = "compiled"
        self.epochs = 0
        self.graph: Graph | None = None
        self.graph_lr: tuple[float, ...] | None = None
        self.checked = False
        self.static_loss: torch.Tensor | None = None
        self.nfe_per_step = 0

    def __call__(self) -> torch.Tensor:
        """One epoch's step; returns the loss, a ``(1,)`` tensor on the device."""
        self.epochs += 1
        if not self.use_graph or self.epochs <= WARMUP_EPOCHS:
            return self._eager()
        lr = tuple(group["lr"] for group in self.optimizer.param_groups)
        if self.graph is None or lr != self.graph_lr:
            return self._capture(lr)
        return self._replay()

    # -- the pieces -------------------------------------------------------------------------------
    def _eager(self) -> torch.Tensor:
        if self.loss_fn is self.model.loss:
            return self._eager_step()
        try:
            return self._eager_step()
        except Exception as exc:  # noqa: BLE001 - torch.compile failed: its errors have no common type
            # the weights are untouched: compilation happens in the forward and backward, before the optimizer's step
            log.info("torch.compile of the model's loss failed (%s: %s); training without it", type(exc).__name__,
                     str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "")
            self.loss_fn, self.mode = self.model.loss, "eager"
            return self._eager_step()

    def _eager_step(self) -> torch.Tensor:
        if self.use_graph and self.graph_factory is CudaGraph:  # warm-up on a side stream, as torch.cuda.graph asks
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                loss = eager_step(self.loss_fn, self.examples, self.optimizer)
            torch.cuda.current_stream().wait_stream(stream)
            return loss
        return eager_step(self.loss_fn, self.examples, self.optimizer)

    def _replay(self) -> torch.Tensor:
        nfe = self._nfe()
        self.graph.replay()
        self._set_nfe(nfe + self.nfe_per_step)  # the graph does not run the Python that counts
        return self.static_loss

    def _state(self) -> list[torch.Tensor]:
        """The tensors a step changes in place: parameters and the optimizer's state."""
        tensors = [p for group in self.optimizer.param_groups for p in group["params"]]
        return tensors + [v for s in self.optimizer.state.values() for v in s.values() if isinstance(v, torch.Tensor)]

    def _capture(self, lr: tuple[float, ...]) -> torch.Tensor:
        """Capture the step at the learning rates ``lr`` (one per parameter group) and run this epoch by it; check it against eager the first time."""
        state = self._state()
        before, nfe_before = [t.detach().clone() for t in state], self._nfe()
        expected: list[torch.Tensor] = []
        if not self.checked:
            eager = self._eager()
            expected = [t.detach().clone() for t in state] + [eager.detach().clone()]
        nfe = self._nfe()
        try:
            self.graph = None
            self.optimizer.zero_grad(set_to_none=True)  # the gradients are allocated inside the graph
            graph = self.graph_factory()
            self.static_loss = graph.capture(lambda: eager_step(self.loss_fn, self.examples, self.optimizer))
        except Exception as exc:  # noqa: BLE001 - any failure to capture means: train eagerly
            reason = str(exc).splitlines()[0][:200] if str(exc) else ""
            self._give_up(f"the training step could not be captured in a CUDA graph ({type(exc).__name__}: {reason}); training eagerly")
            _copy(state, before)
            self._set_nfe(nfe_before)
            return self._eager()
        self.nfe_per_step = self._nfe() - nfe
        _copy(state, before)  # capture ran nothing on a GPU; a stand-in graph may have
        self._set_nfe(nfe_before)
        self.graph, self.graph_lr = graph, lr
        loss = self._replay()
        if not self.checked:
            self.checked = True
            got = [t.detach() for t in state] + [loss]
            if not all(torch.allclose(a, b, rtol=CHECK_RTOL, atol=CHECK_ATOL, equal_nan=True) for a, b in zip(got, expected)):
                self._give_up("the CUDA graph of the training step did not reproduce the eager step; training eagerly")
                _copy(state, expected[:-1])
                self._set_nfe(nfe)
                return expected[-1]
            self.mode = "compiled+graph" if self.mode == "compiled" else "graph"
            log.info("training step replayed from a CUDA graph, captured after %d eager epochs", WARMUP_EPOCHS)
        return loss

    def _give_up(self, notice: str) -> None:
        self.use_graph, self.graph = False, None
        log.info(notice)

    def _nfe(self) -> int:
        return int(getattr(self.model, "nfe", 0))

    def _set_nfe(self, value: int) -> None:
        if hasattr(self.model, "nfe"):
            self.model.nfe = value


@torch.no_grad()
def _copy(targets: list[torch.Tensor], sources: list[torch.Tensor]) -> None:
    for t, s in zip(targets, sources):
        t.copy_(s)
