"""Exponential moving average (EMA) of model weights.

Averaging the weights over the last ~1/(1-decay) optimiser steps removes most of the step-to-step
noise of stochastic training, so the averaged model validates better than the raw one; the
trainer validates and saves the averaged weights.

After ``n`` updates the effective decay is ``min(decay, (1 + n) / (10 + n))`` so the average
is not dominated by the random initial weights early on.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor


class ExponentialMovingAverage:
    """Shadow copies of a model's floating-point parameters, updated after each step.

    ``shadow <- d * shadow + (1 - d) * param`` (a lerp) with ``d`` the effective decay. Buffers are
    not averaged (they are not trained); :meth:`swapped_into` exchanges the parameters only.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.num_updates = 0
        self.shadow = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}

    def effective_decay(self) -> float:
        """Decay used by the next update."""
        return min(self.decay, (1.0 + self.num_updates) / (10.0 + self.num_updates))

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """Blend the model's current parameters into the average."""
        d = self.effective_decay()
        pairs = [(self.shadow[name], p.detach()) for name, p in model.named_parameters() if name in self.shadow]
        if pairs:  # one multi-tensor kernel instead of two per parameter (~3x faster on a CPU)
            shadows, params = zip(*pairs)
            torch._foreach_lerp_(list(shadows), list(params), 1.0 - d)
        self.num_updates += 1

    @torch.no_grad()
    def copy_to(self, model: torch.nn.Module) -> None:
        """Overwrite the model's parameters with the averaged ones."""
        for name, p in model.named_parameters():
            if name in self.shadow:
                p.copy_(self.shadow[name])

    @contextmanager
    def swapped_into(self, model: torch.nn.Module) -> Iterator[torch.nn.Module]:
        """Temporarily load the averaged weights into ``model`` (restored on exit)."""
        saved = {name: p.detach().clone() for name, p in model.named_parameters() if name in self.shadow}
        self.copy_to(model)
        try:
            yield model
        finally:
            with torch.no_grad():
                for name, p in model.named_parameters():
                    if name in saved:
                        p.copy_(saved[name])

    def state_dict(self) -> dict[str, object]:
        return {"decay": self.decay, "num_updates": self.num_updates, "shadow": dict(self.shadow)}

    def load_state_dict(self, state: dict[str, object]) -> None:
        shadow: dict[str, Tensor] = state["shadow"]  # type: ignore[assignment]
        if set(shadow) != set(self.shadow):
            raise ValueError("EMA state does not match the model's parameters")
        self.decay = float(state["decay"])  # type: ignore[arg-type]
        self.num_updates = int(state["num_updates"])  # type: ignore[arg-type]
        for name, value in shadow.items():
            self.shadow[name].copy_(value)
