"""Channel mixing with one weight matrix per degree ``l`` (EquiformerV2's ``SO3_LinearV2``)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


class DegreeLinear(torch.nn.Module):
    """``x [N, (L+1)^2, C_in] -> [N, (L+1)^2, C_out]``: ``y_lm = W_l x_lm`` (+ bias at ``l = 0``).

    Equivariant because all ``2l+1`` components of a degree share ``W_l``. Weights ``[L+1, C_out,
    C_in]`` drawn uniformly in ``+-1/sqrt(C_in)``, bias zero, as in the reference code.
    """

    def __init__(self, lmax: int, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__()
        self.lmax, self.in_channels, self.out_channels = lmax, in_channels, out_channels
        bound = 1 / math.sqrt(in_channels)
        self.weight = torch.nn.Parameter(torch.empty(lmax + 1, out_channels, in_channels).uniform_(-bound, bound))
        self.bias = torch.nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1:] != ((self.lmax + 1) ** 2, self.in_channels):
            raise ValueError(f"DegreeLinear: expected [N, {(self.lmax + 1) ** 2}, {self.in_channels}], got {tuple(x.shape)}")
        # split, not slices: a slice's backward is a full-size zero tensor per degree
        blocks = x.split([2 * l + 1 for l in range(self.lmax + 1)], dim=1)
        out = [block @ w.T for block, w in zip(blocks, self.weight.unbind(0))]
        if self.bias is not None:
            out[0] = out[0] + self.bias
        return torch.cat(out, dim=1)
