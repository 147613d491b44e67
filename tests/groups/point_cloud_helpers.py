"""A deliberately non-equivariant backbone shared by the frame-averaging and canonicalisation tests."""

from __future__ import annotations

import torch


class FlatMLP(torch.nn.Module):
    """Neither rotation- nor permutation-invariant: an MLP on the flattened coordinates (float64)."""

    def __init__(self, d: int, out: int, num_points: int = 7):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(num_points * d, 32), torch.nn.Tanh(),
                                       torch.nn.Linear(32, out)).double()

    def forward(self, pos):
        return self.net(pos.reshape(pos.shape[0], -1))
