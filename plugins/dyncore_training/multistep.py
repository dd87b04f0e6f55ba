"""Full-batch training for chaotic systems: a lookahead curriculum, regularisers and an L-BFGS polish.

:class:`MultiStep` is the full-batch gradient loop of :mod:`dyncore_training.loop` (same seeding,
NaN guard, Ctrl-C handling, checkpoints and bit-identical ``resume``) with three additions, each
off by default so that ``multistep`` with no options is ``full_batch``:

- ``curriculum``: the lookahead (predicted steps per example) grows on a schedule, e.g.
  ``"1,2,4,8,16"``: the Adam epochs are cut into equal stages, one per entry;
- regularisers: ``noise`` (Gaussian noise on the start states, model units), ``jacobian`` (the weight
  of Jacobian matching against finite differences of the data, :mod:`dyncore_training.regularisers`);
  ``weight_decay`` is Adam's, as in every gradient trainer;
- ``lbfgs_epochs``: the last epochs run L-BFGS (strong-Wolfe line search) on the full batch, a
  second-order polish after Adam; its state is part of the checkpoint.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch

from dyncore.checkpoint import Checkpoint
from dyncore.errors import ConfigError
from dyncore.model import Model
from dyncore.trainer import Callback, History, TrainState
from dyncore.trajectory import Trajectory
from dyncore_training.full_batch import FullBatch
from dyncore_training.loop import LR_FINAL_DIVISOR, _check_int, _check_number
from dyncore_training.regularisers import JacobianPairs, check_jacobian_model, with_input_noise


def parse_curriculum(owner: str, value: Any) -> tuple[int, ...]:
    """``"1,2,4,8,16"`` or ``[1, 2, 4]`` (or one integer) as a tuple of lookaheads >= 1; None: no curriculum."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, (list, tuple)) else [value]
    try:
        stages = tuple(int(str(v).strip()) for v in items)
    except ValueError:
        stages = ()
    if not stages or any(s < 1 for s in stages) or any(isinstance(v, (bool, float)) for v in items):
        raise ConfigError(f"trainer {owner!r}: curriculum is a list of lookaheads >= 1 such as \"1,2,4,8,16\", got {value!r}")
    return stages


class MultiStep(FullBatch):
    """Full-batch Adam with a lookahead curriculum, input noise, Jacobian matching and an L-BFGS polish.

    Options: those of ``full_batch`` plus
        curriculum (None): lookaheads, e.g. "1,2,4,8,16"; the Adam epochs are cut into equal stages,
            one per entry (the polish uses the last). Replaces ``lookahead``.
        noise (0): std of Gaussian noise added to every start state in each Adam epoch, in the
            model's units (a NODE's standardised states); seeded, part of the checkpoint.
        jacobian (0): weight of Jacobian matching against finite differences of the data
            (relative mean squared error of directional derivatives between neighbouring passes);
            jacobian_neighbours (8) pairs per state.
        lbfgs_epochs (0): the last this many of ``epochs`` run one L-BFGS iteration each (full
            batch, strong-Wolfe line search, lr 1, history lbfgs_history = 50), without noise.
            In float32 at losses near 1e-8 the line search finds no lower loss: polish in float64.

    The recorded loss is the whole objective (prediction error plus the weighted regularisers).
    """

    name = "multistep"
    default_options: ClassVar[dict[str, Any]] = {
        **FullBatch.default_options,
        "curriculum": None,
        "noise": 0.0,
        "jacobian": 0.0,
        "jacobian_neighbours": 8,
        "lbfgs_epochs": 0,
        "lbfgs_history": 50,
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        o = self.options
        self.stages = parse_curriculum(self.name, o["curriculum"])
        if self.stages and o["lookahead"] != 1:
            raise ConfigError(f"trainer {self.name!r}: give either curriculum or lookahead, not both (the curriculum sets the lookahead)")
        for key in ("noise", "jacobian"):
            _check_number(self.name, key, o[key])
        _check_int(self.name, "jacobian_neighbours", o["jacobian_neighbours"], minimum=1)
        _check_int(self.name, "lbfgs_history", o["lbfgs_history"], minimum=1)
        _check_int(self.name, "lbfgs_epochs", o["lbfgs_epochs"], minimum=0)
        if o["lbfgs_epochs"] > o["epochs"]:
            raise ConfigError(f"trainer {self.name!r}: lbfgs_epochs ({o['lbfgs_epochs']}) are the last of the {o['epochs']} epochs; "
                              "raise epochs or lower lbfgs_epochs")
        self._resume: Checkpoint | None = None

    @property
    def adam_epochs(self) -> int:
        """Epochs before the L-BFGS polish."""
        return self.options["epochs"] - self.options["lbfgs_epochs"]

    @property
    def max_lookahead(self) -> int:
        """The longest lookahead the training uses (points needed after each start)."""
        return max(self.stages) if self.stages else self.options["lookahead"]

    def lookahead_at(self, epoch: int) -> int:
        """Lookahead of 0-based ``epoch``: its curriculum stage's (the last stage's in the polish)."""
        if not self.stages:
            return self.options["lookahead"]
        stage = min(epoch * len(self.stages) // max(self.adam_epochs, 1), len(self.stages) - 1)
        return self.stages[stage]

    def lr_at(self, epoch: int) -> float:
        """Adam's schedule over the Adam epochs (``lr_drop`` is a fraction of them); L-BFGS runs at lr 1."""
        o = self.options
        if epoch >= self.adam_epochs:
            return 1.0
        if o["lr_final"] is None or epoch < round(float(o["lr_drop"]) * self.adam_epochs):
            return float(o["lr"])
        return float(o["lr"]) / LR_FINAL_DIVISOR if o["lr_final"] == "auto" else float(o["lr_final"])

    # -- the loop's pieces ---------------------------------------------------------------------
    def fit(self, model: Model, trajectory: Trajectory, callbacks: list[Callback] | tuple = (), *,
            resume: Checkpoint | None = None) -> History:
        """Check the data fit the schedule (before anything is built or written), then train as ``full_batch``."""
        self.check_data(model, trajectory)
        self._resume = Checkpoint.from_payload(resume) if isinstance(resume, dict) else resume
        return super().fit(model, trajectory, callbacks, resume=resume)

    def check_data(self, model: Model, trajectory: Trajectory) -> None:
        """Refuse data too short for the curriculum, and Jacobian matching on a model without a vector field."""
        k = self.max_lookahead
        if self.stages and trajectory.n < k + 1:
            raise ConfigError(f"trainer {self.name!r}: the curriculum goes up to lookahead {k}, which needs at least {k + 1} "
                              f"time points, but the data have {trajectory.n}; end the curriculum at {trajectory.n - 1} or below")
        if self.options["jacobian"]:
            check_jacobian_model(model)

    def run_epoch(self, model: Model, examples: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer, state: TrainState) -> torch.Tensor:
        epoch = state.epoch
        batch = self.examples_at(model, examples, state, self.lookahead_at(epoch))
        polish = epoch >= self.adam_epochs
        if polish:
            self.lbfgs(model, state)
        self.prepare_extra(model, state)
        self.stage_extra(state)
        if polish:
            return self.lbfgs_epoch(model, batch, state)
        optimizer.zero_grad(set_to_none=True)
        loss = self.objective(model, batch, state, noisy=True)
        loss.backward()
        self.adam_step(optimizer, state)
        return loss.detach().reshape(1)

    def prepare_extra(self, model: Model, state: TrainState) -> None:
        """Build (or restore from the checkpoint) what :meth:`extra_state` holds, before the epoch stages it."""

    def adam_step(self, optimizer: torch.optim.Optimizer, state: TrainState) -> None:
        """The Adam step of an epoch (a subclass steps its own extra parameters here too)."""
        optimizer.step()

    def examples_at(self, model: Model, examples: dict[str, torch.Tensor], state: TrainState, k: int) -> dict[str, torch.Tensor]:
        """The examples with lookahead ``k`` (built once per lookahead and kept: they are a function of the data)."""
        cache = state.extra.setdefault("examples_by_lookahead", {self.options["lookahead"]: examples})
        if k not in cache:
            cache[k] = model.examples(state.trajectory, k)
        return cache[k]

    def objective(self, model: Model, batch: dict[str, torch.Tensor], state: TrainState, noisy: bool) -> torch.Tensor:
        """The prediction loss (with input noise when ``noisy``) plus the weighted Jacobian matching."""
        loss = self.prediction_loss(model, batch, state, noisy)
        if self.options["jacobian"]:
            if "jacobian_pairs" not in state.extra:
                state.extra["jacobian_pairs"] = JacobianPairs.from_data(state.trajectory, self.options["jacobian_neighbours"], loss.dtype, loss.device)
            loss = loss + float(self.options["jacobian"]) * state.extra["jacobian_pairs"].loss(model)
        return loss

    def prediction_loss(self, model: Model, batch: dict[str, torch.Tensor], state: TrainState, noisy: bool) -> torch.Tensor:
        """The model's loss on ``batch``, its start states perturbed by ``noise`` when ``noisy``."""
        if noisy and self.options["noise"]:
            if "x0" not in batch:
                raise ConfigError(f"trainer {self.name!r}: noise needs examples with start states x0 (a node or hybrid); set noise=0")
            batch = with_input_noise(batch, float(self.options["noise"]), state.generator)
        return model.loss(batch)

    # -- the L-BFGS polish ------------------------------------------------------------------------
    def trainable(self, model: Model, state: TrainState) -> list[torch.Tensor]:
        """What L-BFGS optimises: the model's trainable parameters (a subclass adds its own)."""
        return [p for p in model.parameters() if p.requires_grad]

    def lbfgs(self, model: Model, state: TrainState) -> torch.optim.LBFGS:
        """The polish's optimizer, made at its first epoch (its memory restored from the checkpoint on resume)."""
        if "lbfgs" not in state.extra:
            # no tolerances: torch's defaults (gradient 1e-7) would end the polish at once on the small losses it is for
            state.extra["lbfgs"] = torch.optim.LBFGS(self.trainable(model, state), lr=1.0, max_iter=1, tolerance_grad=0.0, tolerance_change=0.0,
                                               history_size=self.options["lbfgs_history"], line_search_fn="strong_wolfe")
            saved = (self._resume.extra if self._resume is not None else {}).get("lbfgs")
            if saved is not None:
                state.extra["lbfgs"].load_state_dict(copy.deepcopy(saved))
        return state.extra["lbfgs"]

    def lbfgs_epoch(self, model: Model, batch: dict[str, torch.Tensor], state: TrainState) -> torch.Tensor:
        """One L-BFGS iteration on the full batch; returns the loss before it."""
        lbfgs = self.lbfgs(model, state)

        def closure() -> torch.Tensor:
            lbfgs.zero_grad(set_to_none=True)
            loss = self.objective(model, batch, state, noisy=False)
            loss.backward()
            return loss

        return lbfgs.step(closure).detach().reshape(1)

    # -- the extra state in checkpoints ----------------------------------------------------------
    def extra_state(self, state: TrainState) -> dict[str, Any]:
        """State beyond the loop's that a resumed run needs (the L-BFGS memory; a subclass adds its own)."""
        return {"lbfgs": state.extra["lbfgs"].state_dict()} if "lbfgs" in state.extra else {}

    def stage_extra(self, state: TrainState) -> None:
        """Keep a copy of the extra state as the epoch starts: a checkpoint of an abandoned epoch (second Ctrl-C) uses it."""
        state.extra["extra_staged"] = (state.epoch, copy.deepcopy(self.extra_state(state)))

    def checkpoint(self, model: Model, state: TrainState) -> Checkpoint:
        """The loop's checkpoint plus :meth:`extra_state` as it was after ``state.epoch`` completed epochs."""
        checkpoint = super().checkpoint(model, state)
        staged = state.extra.get("extra_staged")
        checkpoint.extra = staged[1] if staged and staged[0] == state.epoch else copy.deepcopy(self.extra_state(state))
        return checkpoint
