"""Recovery from non-finite training steps: skip, restore the epoch's start, halve the rate.

A NaN or inf in the loss or the gradients (a bad batch, a rate too high for the curvature the
model has reached) used to end a run at once. :class:`Recovery` makes the trainer skip such a
step instead, put back the weights, optimiser moments and EMA of the start of the epoch (the
last state whose validation was finite: the divergence may have built up over several steps
before it showed) and halve the learning rate for the rest of the run. After
``optim.nonfinite_retries`` recoveries the next fault stops the run with a
``FloatingPointError`` that says what happened; the last checkpoint is untouched.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, Callable

import torch

from irreps.train.ema import ExponentialMovingAverage
from irreps.train.schedule import LRSchedule


def gradient_norm(parameters: Iterable[torch.nn.Parameter], clip: float | None) -> torch.Tensor:
    """The 2-norm of all gradients together; with ``clip`` they are also scaled down to it
    (``torch.nn.utils.clip_grad_norm_``, which returns the norm before clipping)."""
    parameters = [p for p in parameters if p.grad is not None]
    if clip is not None:
        return torch.nn.utils.clip_grad_norm_(parameters, clip)
    if not parameters:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in parameters]))


def nonfinite_step(loss: torch.Tensor, grad_norm: torch.Tensor) -> str | None:
    """What is non-finite about a training step (its loss, else its gradients), or ``None``."""
    if not torch.isfinite(loss):
        return f"the training loss is {float(loss.detach())}"
    if not torch.isfinite(grad_norm):
        return f"the gradient norm is {float(grad_norm.detach())}"
    return None


class Recovery:
    """Keeps the state of the start of each epoch and restores it after a non-finite step.

    Parameters
    ----------
    model, optimizer, ema, schedule
        What a recovery restores (``ema`` may be ``None``) and whose rate it halves.
    retries : int
        Recoveries allowed over the whole run (``optim.nonfinite_retries``).
    log : callable
        Receives one line per recovery.

    Attributes
    ----------
    used : int
        Recoveries made so far in the run (kept in checkpoints, so ``--resume`` does not
        reset the allowance).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        ema: ExponentialMovingAverage | None,
        schedule: LRSchedule,
        retries: int,
        log: Callable[[str], None],
    ):
        self.model, self.optimizer, self.ema, self.schedule = model, optimizer, ema, schedule
        self.retries, self.log = retries, log
        self.used = 0
        self._good: dict[str, Any] = {}

    def mark_good(self) -> None:
        """Remember the current state (call at the start of every epoch)."""
        self._good = copy.deepcopy({
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "schedule": self.schedule.state_dict(),
        })

    def recover(self, problem: str) -> None:
        """Restore the remembered state and halve the learning rate, saying so; raise
        ``FloatingPointError`` instead when the allowance is spent. ``problem`` names the
        step and what is non-finite (``epoch 3, step 7: the training loss is nan``)."""
        if self.used >= self.retries:
            raise FloatingPointError(
                f"{problem}, and the optim.nonfinite_retries={self.retries} recoveries (each restoring the start of "
                f"the epoch and halving the learning rate, now {self.schedule.current_lr():.2e}) are spent: stopped; "
                "the last checkpoint is intact: resume it with a lower optim.lr, or look for broken structures"
            )
        self.used += 1
        good = copy.deepcopy(self._good)  # loading shares tensors with the source: keep ours intact
        self.model.load_state_dict(good["model"])
        self.optimizer.load_state_dict(good["optimizer"])
        if self.ema is not None:
            self.ema.load_state_dict(good["ema"])
        self.schedule.load_state_dict({**good["schedule"], "recovery_scale": self.schedule.recovery_scale})
        self.schedule.halve()
        self.log(f"{problem}: skipped; restored the weights, optimiser and EMA of the epoch's start and halved the "
                 f"learning rate to {self.schedule.current_lr():.2e} (recovery {self.used} of {self.retries})")
