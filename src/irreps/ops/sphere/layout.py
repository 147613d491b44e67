"""Conversion between sphere features ``[N, (L+1)^2, C]`` and the library's irreps layout."""

from __future__ import annotations

import torch
from torch import Tensor

from irreps.o3 import Irreps


def sphere_irreps(lmax: int, channels: int) -> Irreps:
    """``C x 0e + C x 1o + ... + C x (L, (-1)^L)``: the irreps of sphere features."""
    return Irreps("+".join(f"{channels}x{l}{'e' if l % 2 == 0 else 'o'}" for l in range(lmax + 1)))


def to_irreps_layout(x: Tensor) -> Tensor:
    """``[N, (L+1)^2, C]`` -> ``[N, dim]`` of :func:`sphere_irreps` (channel-major within each degree)."""
    n, k, _ = x.shape
    lmax = round(k**0.5) - 1
    if k == 0 or (lmax + 1) ** 2 != k:
        raise ValueError(f"to_irreps_layout: {k} coefficients is not (L+1)^2 for any L")
    return torch.cat([x[:, l * l:(l + 1) ** 2].transpose(1, 2).reshape(n, -1) for l in range(lmax + 1)], 1)


def from_irreps_layout(x: Tensor, lmax: int, channels: int) -> Tensor:
    """Inverse of :func:`to_irreps_layout`: ``[N, dim] -> [N, (L+1)^2, C]``."""
    if x.shape[-1] != channels * (lmax + 1) ** 2:
        raise ValueError(f"from_irreps_layout: expected last size {channels * (lmax + 1) ** 2}, got {x.shape[-1]}")
    blocks = x.split([channels * (2 * l + 1) for l in range(lmax + 1)], dim=-1)
    return torch.cat([b.reshape(x.shape[0], channels, 2 * l + 1).transpose(1, 2) for l, b in enumerate(blocks)], 1)
