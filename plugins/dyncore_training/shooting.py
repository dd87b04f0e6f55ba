"""Multiple shooting: the data cut into segments, each predicted from its own start, joined by a continuity penalty.

A long multi-step rollout of a chaotic system has gradients that grow like exp(lambda_1 t); cutting
the trajectory into segments of ``segment_steps`` steps keeps every rollout short while the
segments together cover the whole trajectory. The starts are the data's states (``starts="data"``)
or free parameters initialised there (``starts="learned"``, the classic method: a start may move off
a noisy data point), and the end of each segment is pulled onto the next one's start by the
continuity penalty.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from dyncore.errors import ConfigError
from dyncore.model import Model
from dyncore.trainer import TrainState
from dyncore.trajectory import Trajectory
from dyncore_training.loop import _check_int, _check_number, make_adam
from dyncore_training.multistep import MultiStep


class MultipleShooting(MultiStep):
    """Full-batch Adam on segments of the data, each rolled out from its start (data or learned), plus continuity.

    Options: those of ``multistep`` (L-BFGS polish, Jacobian matching, weight decay; not
    curriculum, lookahead or noise) plus
        segment_steps (10): steps per segment; the data are cut into ``(n - 1) // segment_steps``
            segments per trajectory (at least 2), any remaining points at the end unused.
        starts ("learned"): "learned" (free start states, initialised at the data, trained with the
            weights and part of the checkpoint) or "data" (the data's states).
        continuity (1): weight of the mean squared gap between each segment's end and the next start.

    The loss is the mean squared error of every segment's states (its start included) against the
    data, in states standardised by the data's spread, plus ``continuity`` times the mean squared
    gap. The model must be autonomous (its rollout grid is the first segment's times) and the data
    uniformly sampled.
    """

    name = "shooting"
    default_options: ClassVar[dict[str, Any]] = {**MultiStep.default_options, "segment_steps": 10, "starts": "learned", "continuity": 1.0}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        o = self.options
        _check_int(self.name, "segment_steps", o["segment_steps"], minimum=1)
        _check_number(self.name, "continuity", o["continuity"])
        if o["starts"] not in ("learned", "data"):
            raise ConfigError(f"trainer {self.name!r}: starts must be 'learned' or 'data', got {o['starts']!r}")
        for key, off in (("curriculum", None), ("lookahead", 1), ("noise", 0.0)):
            if o[key] != off:
                raise ConfigError(f"trainer {self.name!r} sets its rollout length by segment_steps; drop {key} (or use trainer 'multistep')")

    @property
    def max_lookahead(self) -> int:
        return self.options["segment_steps"]

    def check_data(self, model: Model, trajectory: Trajectory) -> None:
        """Refuse segments that do not fit the data (fewer than two), irregular grids and time-dependent models."""
        super().check_data(model, trajectory)
        k, n = self.options["segment_steps"], trajectory.n
        if (n - 1) // k < 2:
            raise ConfigError(f"trainer {self.name!r}: segments of {k} steps do not fit the data twice ({n} time points give "
                              f"{(n - 1) // k} segment(s)); multiple shooting needs at least 2, so use segment_steps <= {max((n - 1) // 2, 1)}")
        steps = np.diff(trajectory.t)
        if not np.allclose(steps, steps[0], rtol=1e-6, atol=0.0):
            raise ConfigError(f"trainer {self.name!r} needs uniformly sampled data (one rollout grid for every segment); resample the data")
        if getattr(model, "hparams", {}).get("time_dependent"):
            raise ConfigError(f"trainer {self.name!r} needs an autonomous model; set time_dependent=false or use trainer 'multistep'")

    # -- segments ------------------------------------------------------------------------------
    def segments(self, model: Model, state: TrainState) -> dict[str, Any]:
        """The segments' data (standardised), grid, scale and start states; built once, starts restored on resume."""
        if "segments" in state.extra:
            return state.extra["segments"]
        trajectory: Trajectory = state.trajectory
        x = trajectory.x if trajectory.x.ndim == 3 else trajectory.x[:, None, :]
        n, batch, dim = x.shape
        k = self.options["segment_steps"]
        count = (n - 1) // k
        dtype, device = next(model.parameters()).dtype, next(model.parameters()).device
        mean, scale = x.reshape(-1, dim).mean(axis=0), x.reshape(-1, dim).std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        z = (x - mean) / scale
        windows = np.stack([z[i * k: i * k + k + 1] for i in range(count)], axis=1)  # (k + 1, count, batch, dim)
        as_t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)  # noqa: E731
        seg = {
            "target": as_t(windows.reshape(k + 1, count * batch, dim)),  # segment-major: index i * batch + b
            "grid": as_t(trajectory.t[: k + 1] - trajectory.t[0]),
            "mean": as_t(mean), "scale": as_t(scale), "count": count, "batch": batch,
        }
        starts = seg["target"][0].clone()
        saved = (self._resume.extra if self._resume is not None else {})
        if self.options["starts"] == "learned":
            if "starts" in saved:
                starts = saved["starts"].to(dtype=dtype, device=device).clone()
            seg["starts"] = starts.requires_grad_(True)
            seg["optimizer"] = make_adam([seg["starts"]], float(self.options["lr"]), 0.0)
            if "starts_optimizer" in saved:
                seg["optimizer"].load_state_dict(saved["starts_optimizer"])
        else:
            seg["starts"] = starts
        state.extra["segments"] = seg
        return seg

    def examples_at(self, model: Model, examples: dict[str, torch.Tensor], state: TrainState, k: int) -> dict[str, torch.Tensor]:
        return examples  # the segments are built by objective()

    def prepare_extra(self, model: Model, state: TrainState) -> None:
        self.segments(model, state)

    def prediction_loss(self, model: Model, batch: dict[str, torch.Tensor], state: TrainState, noisy: bool) -> torch.Tensor:
        """Segment fit plus ``continuity`` times the gap between each segment's end and the next start."""
        seg = self.segments(model, state)
        mean, scale = seg["mean"], seg["scale"]
        pred = (model.quick_rollout((seg["starts"] * scale + mean)[None], seg["grid"]) - mean) / scale  # (k + 1, count * batch, dim)
        pred = torch.cat([seg["starts"][None], pred[1:]])
        loss = (pred - seg["target"]).pow(2).mean()
        if self.options["continuity"]:
            b = seg["batch"]
            loss = loss + float(self.options["continuity"]) * (pred[-1, :-b] - seg["starts"][b:]).pow(2).mean()
        return loss

    def adam_step(self, optimizer: torch.optim.Optimizer, state: TrainState) -> None:
        optimizer.step()
        seg = state.extra["segments"]
        if "optimizer" in seg:
            for group in seg["optimizer"].param_groups:
                group["lr"] = optimizer.param_groups[0]["lr"]
            seg["optimizer"].step()
            seg["optimizer"].zero_grad(set_to_none=True)

    def trainable(self, model: Model, state: TrainState) -> list[torch.Tensor]:
        seg = self.segments(model, state)
        return super().trainable(model, state) + ([seg["starts"]] if "optimizer" in seg else [])

    def extra_state(self, state: TrainState) -> dict[str, Any]:
        extra = super().extra_state(state)
        seg = state.extra.get("segments")
        if seg is not None and "optimizer" in seg:
            extra |= {"starts": seg["starts"].detach().cpu(), "starts_optimizer": seg["optimizer"].state_dict()}
        return extra
