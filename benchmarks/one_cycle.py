"""The training loop the small group-layer benchmarks share: Adam with a one-cycle schedule."""

from __future__ import annotations

import math
import time
from typing import Callable

import torch


def train_one_cycle(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], epochs: int, batch: int, seed: int,
                    lr: float = 3e-3, transform: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None) -> float:
    """Train in shuffled mini-batches (``transform`` augments a batch); returns the seconds taken."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * math.ceil(len(inputs) / batch))
    model.train()
    start = time.perf_counter()
    for _ in range(epochs):
        for idx in torch.randperm(len(inputs), generator=gen).split(batch):
            x = inputs[idx] if transform is None else transform(inputs[idx], gen)
            loss = loss_fn(model(x), targets[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return time.perf_counter() - start
