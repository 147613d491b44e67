"""Learning-rate schedules: linear warm-up, then plateau decay, cosine decay or constant.

The rate is recomputed from a small state (optimiser steps taken, plateau scale, best
validation loss, epochs without improvement) and written into the optimiser, so a checkpoint
of that state resumes the exact same sequence of rates.
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
    ):
        if kind not in ("plateau", "cosine", "constant"):
            raise ValueError(f"unknown schedule {kind!r}; use plateau, cosine or constant")
        self.optimizer = optimizer
        self.kind = kind
        self.lr = lr
        self.total_steps = max(total_steps, 1)
        self.warmup_steps = warmup_steps
        self.min_lr = min_lr
        self.factor = factor
        self.patience = patience
        self.step_count = 0
        self.scale = 1.0
        self.best = math.inf
        self.bad_epochs = 0
        self._apply()

    def current_lr(self) -> float:
        """The rate used by the next optimiser step."""
        step = self.step_count
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps > 0 else 1.0
        if self.kind == "cosine":
            span = max(self.total_steps - self.warmup_steps, 1)
            progress = min(max(step - self.warmup_steps, 0) / span, 1.0)
            return warm * (self.min_lr + 0.5 * (self.lr - self.min_lr) * (1.0 + math.cos(math.pi * progress)))
        if self.kind == "plateau":
            return warm * max(self.lr * self.scale, self.min_lr)
        return warm * self.lr

    def _apply(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.current_lr()

    def step(self) -> None:
        """Advance one optimiser step (call after ``optimizer.step()``)."""
        self.step_count += 1
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
        return {"step_count": self.step_count, "scale": self.scale, "best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, float | int]) -> None:
        self.step_count = int(state["step_count"])
        self.scale = float(state["scale"])
        self.best = float(state["best"])
        self.bad_epochs = int(state["bad_epochs"])
        self._apply()
