"""Activations of sphere features: S2 (pointwise on a grid), separable S2 and gates (EquiformerV2).

All take and return ``[..., K, C]`` with coefficient 0 the ``l = 0`` one (true of the full and of
the m-primary layouts). The gated and separable forms take their invariant inputs ``scalars``
separately, as EquiformerV2 computes them with a linear map of its own.
"""

from __future__ import annotations

import torch
from torch import Tensor

from irreps.ops.sphere.grid import SphereGrid


class S2Act(torch.nn.Module):
    """``from_grid(act(to_grid(x)))``: a pointwise nonlinearity of each channel's sphere function."""

    def __init__(self, grid: SphereGrid, act: torch.nn.Module | None = None) -> None:
        super().__init__()
        self.grid, self.act = grid, torch.nn.SiLU() if act is None else act

    def forward(self, x: Tensor) -> Tensor:
        return self.grid.from_grid(self.act(self.grid.to_grid(x)))


class SeparableS2Act(S2Act):
    """EquiformerV2's separable S2 activation: ``l = 0`` output ``act(scalars)`` [..., C], the rest
    from the S2 activation of ``x``."""

    def forward(self, scalars: Tensor, x: Tensor) -> Tensor:  # type: ignore[override]
        rest = super().forward(x).split([1, x.shape[-2] - 1], dim=-2)[1]
        return torch.cat((self.act(scalars).unsqueeze(-2), rest), dim=-2)


class GateAct(torch.nn.Module):
    """Gate activation: ``l = 0`` gets ``act(x_0)``; each coefficient of degree ``l > 0`` is multiplied
    by ``sigmoid`` of its own gate, one per (degree, channel): ``scalars [..., L * C]``.

    Parameters
    ----------
    degrees : list of int
        Degree ``l`` of each coefficient (e.g. ``[l for l, m in m_primary_order(L, M)]``).
    channels : int
    """

    def __init__(self, degrees: list[int], channels: int, act: torch.nn.Module | None = None) -> None:
        super().__init__()
        if degrees[0] != 0 or 0 in degrees[1:]:
            raise ValueError("GateAct: coefficient 0 must be the only l = 0 one")
        self.lmax, self.channels = max(degrees), channels
        self.act = torch.nn.SiLU() if act is None else act
        self.register_buffer("_gate_index", torch.tensor([l - 1 for l in degrees[1:]]), persistent=False)

    def forward(self, scalars: Tensor, x: Tensor) -> Tensor:
        gates = torch.sigmoid(scalars).unflatten(-1, (self.lmax, self.channels)).index_select(-2, self._gate_index)
        x0, rest = x.split([1, x.shape[-2] - 1], dim=-2)
        return torch.cat((self.act(x0), rest * gates), dim=-2)
