"""eSCN's SO(2) block: per ``m``, ``fc2(fc1(x) * g(edge))`` with edge-dependent gates in a hidden width.

The original eSCN message (Passaro & Zitnick 2023, ``SO2Block``) maps edge-frame features through a
bottleneck of ``H`` hidden channels per ``m``: ``m = 0`` as ``fc2_m0(fc1_m0(x_0) * act(W_0 e))``
and ``m > 0`` as the complex pair ``A = fc2_r diag(act(W_r e)) fc1_r``, ``B = fc2_i diag(act(W_i
e)) fc1_i`` applied to ``(x_{+m}, x_{-m})`` (see :mod:`~irreps.ops.sphere.so2_linear`), where ``e``
are invariant edge features. Both rows of a pair share every map, so the block commutes with
rotations about the edge; ``equivariance="O(3)"`` drops ``B``.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from irreps.ops.sphere.so2_linear import complex_combine


class SO2Bottleneck(torch.nn.Module):
    """``forward(x [E, K, C], edge [E, F]) -> [E, K, C]`` (m-primary ``K`` for ``(lmax, mmax)``).

    ``act`` is applied to the edge gates (eSCN: SiLU). Parameter names follow the reference
    (``fc1_dist0, fc1_m0, fc2_m0``; per ``m``: ``fc1_dist, fc1_r, fc2_r, fc1_i, fc2_i``).
    """

    def __init__(self, lmax: int, mmax: int, channels: int, hidden_channels: int, edge_channels: int,
                 act: torch.nn.Module, equivariance: Literal["SO(3)", "O(3)"] = "SO(3)") -> None:
        super().__init__()
        if not 0 <= mmax <= lmax:
            raise ValueError(f"SO2Bottleneck: need 0 <= m_max <= l_max, got l_max={lmax}, m_max={mmax}")
        if equivariance not in ("SO(3)", "O(3)"):
            raise ValueError(f"SO2Bottleneck: equivariance must be 'SO(3)' or 'O(3)', got {equivariance!r}")
        self.lmax, self.channels, self.hidden, self.act = lmax, channels, hidden_channels, act
        self.complex = equivariance == "SO(3)"
        h, parts = hidden_channels, (2 if self.complex else 1)
        self.fc1_dist0 = torch.nn.Linear(edge_channels, h)
        self.fc1_m0 = torch.nn.Linear((lmax + 1) * channels, h, bias=False)
        self.fc2_m0 = torch.nn.Linear(h, (lmax + 1) * channels, bias=False)
        self.blocks = torch.nn.ModuleList()
        for m in range(1, mmax + 1):
            width = (lmax - m + 1) * channels
            block = torch.nn.Module()
            block.fc1_dist = torch.nn.Linear(edge_channels, parts * h)
            block.fc1_r, block.fc2_r = torch.nn.Linear(width, h, bias=False), torch.nn.Linear(h, width, bias=False)
            if self.complex:
                block.fc1_i, block.fc2_i = torch.nn.Linear(width, h, bias=False), torch.nn.Linear(h, width, bias=False)
            self.blocks.append(block)

    def forward(self, x: Tensor, edge: Tensor) -> Tensor:
        e, lmax, c = x.shape[0], self.lmax, self.channels
        blocks = x.split([lmax + 1] + [2 * (lmax - m + 1) for m in range(1, len(self.blocks) + 1)], 1)
        x0 = blocks[0].reshape(e, (lmax + 1) * c)
        out = [self.fc2_m0(self.fc1_m0(x0) * self.act(self.fc1_dist0(edge))).reshape(e, lmax + 1, c)]
        for m, block in enumerate(self.blocks, start=1):
            n = lmax - m + 1
            xm = blocks[m].reshape(e, 2, n * c)
            gates = self.act(block.fc1_dist(edge)).reshape(e, 2 if self.complex else 1, 1, self.hidden)
            ym = block.fc2_r(block.fc1_r(xm) * gates[:, 0])
            if self.complex:
                ym = complex_combine(ym, block.fc2_i(block.fc1_i(xm) * gates[:, 1]))
            out.append(ym.reshape(e, 2 * n, c))
        return torch.cat(out, dim=1)
