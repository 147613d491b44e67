"""Learning-rate schedules: linear warm-up, then plateau decay, cosine decay or constant.

The rate is recomputed from a small state (optimiser steps taken, plateau scale, best
validation loss, epochs without improvement, the factor of the recoveries from non-finite
steps) and written into the optimiser, so a checkpoint of that state resumes the exact same
sequence of rates. A cosine can also span a time budget
instead of a number of steps (``total_seconds``): its progress is then the training time
spent, which fits the decay to the machine at the price of run-to-run reproducibility.
"""

from __future__ import annotations

import math
from typing import Literal

import torch


class LRSchedule:
    """Learning rate as a function of the optimiser step and the validation history.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
    kind : "plateau", "cosine" or "constant"
    lr : float
        Peak rate (after warm-up).
    total_steps : int
        Optimiser steps of the whole run (cosine decays to ``min_lr`` at this step).
    total_seconds : float, optional
        Cosine only: decay over this much training time instead (``step`` then takes the
        elapsed seconds); the decay starts when the warm-up ends.
    warmup_steps : int
        The rate grows linearly from ``lr / warmup_steps`` to ``lr`` over these steps.
    min_lr : float
        Floor of the plateau decay and end point of the cosine decay.
    factor, patience : float, int
        Plateau: multiply the rate by ``factor`` after ``patience`` epochs without a new
        best validation loss (relative improvement below 1e-4 does not count).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        kind: Literal["plateau", "cosine", "constant"],
        lr: float,
        total_steps: int,
        warmup_steps: int = 0,
        min_lr: float = 0.0,
        factor: float = 0.8,
        patience: int = 20,
        total_seconds: float | None = None,
    ):
        if kind not in ("plateau", "cosine", "constant"):
            raise ValueError(f"unknown schedule {kind!r}; use plateau, cosine or constant")
        if total_seconds is not None and (kind != "cosine" or total_seconds <= 0.0):
            raise ValueError(f"total_seconds needs a cosine schedule and a positive budget, got {kind!r}, {total_seconds}")
        self.optimizer = optimizer
        self.kind = kind
        self.lr = lr
        self.total_steps = max(total_steps, 1)
        self.warmup_steps = warmup_steps
        self.min_lr = min_lr
        self.factor = factor
        self.patience = patience
        self.total_seconds = total_seconds
        self.elapsed = 0.0
        self.warm_end = 0.0
        self.step_count = 0
        self.scale = 1.0
        self.recovery_scale = 1.0  # halved by every recovery from a non-finite step (halve())
        self.best = math.inf
        self.bad_epochs = 0
        self._apply()

    def current_lr(self) -> float:
        """The rate used by the next optimiser step."""
        step = self.step_count
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps > 0 else 1.0
        factor = warm * self.recovery_scale
        if self.kind == "cosine":
            progress = self.progress()
            return factor * (self.min_lr + 0.5 * (self.lr - self.min_lr) * (1.0 + math.cos(math.pi * progress)))
        if self.kind == "plateau":
            return factor * max(self.lr * self.scale, self.min_lr)
        return factor * self.lr

    def progress(self) -> float:
        """How far the cosine decay is, 0 (end of warm-up) to 1 (``min_lr``)."""
        if self.step_count < self.warmup_steps:
            return 0.0
        if self.total_seconds is not None:
            span = self.total_seconds - self.warm_end
            return min((self.elapsed - self.warm_end) / span, 1.0) if span > 0.0 else 1.0
        return min((self.step_count - self.warmup_steps) / max(self.total_steps - self.warmup_steps, 1), 1.0)

    def _apply(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.current_lr()

    def step(self, elapsed: float | None = None) -> None:
        """Advance one optimiser step (call after ``optimizer.step()``); ``elapsed``: the
        training seconds so far, required when the cosine spans ``total_seconds``."""
        if self.total_seconds is not None:
            if elapsed is None:
                raise ValueError("a cosine over total_seconds needs the elapsed seconds at every step")
            self.elapsed = elapsed
        self.step_count += 1
        if self.step_count == self.warmup_steps:
            self.warm_end = self.elapsed
        self._apply()

    def halve(self) -> None:
        """Halve every later rate: a recovery from a non-finite step (the trainer's)."""
        self.recovery_scale *= 0.5
        self._apply()

    def end_epoch(self, valid_loss: float) -> None:
        """Feed the epoch's validation loss to the plateau rule."""
        if valid_loss < self.best * (1.0 - 1e-4):
            self.best = valid_loss
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
            if self.kind == "plateau" and self.bad_epochs > self.patience:
                self.scale *= self.factor
                self.bad_epochs = 0
        self._apply()

    def state_dict(self) -> dict[str, float | int]:
        return {
            "step_count": self.step_count, "scale": self.scale, "best": self.best, "bad_epochs": self.bad_epochs,
            "elapsed": self.elapsed, "warm_end": self.warm_end, "recovery_scale": self.recovery_scale,
        }

    def load_state_dict(self, state: dict[str, float | int]) -> None:
        self.step_count = int(state["step_count"])
        self.scale = float(state["scale"])
        self.best = float(state["best"])
        self.bad_epochs = int(state["bad_epochs"])
        self.elapsed = float(state.get("elapsed", 0.0))  # absent in checkpoints of older versions
        self.warm_end = float(state.get("warm_end", 0.0))
        self.recovery_scale = float(state.get("recovery_scale", 1.0))
        self._apply()
