"""Stochastic depth per structure (EquiformerV2's graph drop-path): a regulariser for deep residual stacks."""

from __future__ import annotations

import torch
from torch import Tensor


class GraphDropPath(torch.nn.Module):
    """In training, zero a residual branch for a whole structure with probability ``p`` and scale the
    kept ones by ``1 / (1 - p)``; the identity in evaluation (and for ``p = 0``).

    ``forward(x [N, ...], batch [N], num_graphs)``: ``batch`` names each atom's structure.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"drop-path rate must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.bernoulli(x.new_full((num_graphs,), 1 - self.p)) / (1 - self.p)
        return x * keep.index_select(0, batch).reshape((-1,) + (1,) * (x.dim() - 1))
