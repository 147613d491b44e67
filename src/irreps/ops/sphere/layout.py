"""Conversion between sphere features ``[N, (L+1)^2, C]`` and the library's irreps layout."""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from irreps.o3 import Irreps, spherical_harmonics
from irreps.ops.cartesian import edge_components


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


@functools.lru_cache(maxsize=8)
def _rank2_map(dtype: torch.dtype) -> Tensor:
    """``[9, 9]`` block-diagonal ``M`` with ``edge_components(u) = M Y_{l<=2}(u)`` (fitted exactly, float64)."""
    u = torch.nn.functional.normalize(torch.randn(64, 3, generator=torch.Generator().manual_seed(0),
                                                  dtype=torch.float64), dim=1)
    Y = spherical_harmonics([0, 1, 2], u)
    M = torch.linalg.lstsq(Y, edge_components(u)).solution.T
    mask = torch.block_diag(torch.ones(1, 1), torch.ones(3, 3), torch.ones(5, 5)).to(torch.float64)
    return (M * mask).to(dtype)


def to_rank2_components(x: Tensor) -> Tensor:
    """Degrees ``l <= 2`` of sphere features ``[N, >= 9, C]`` as rank-2 Cartesian components ``[N, 9, C]``.

    ``l = 0`` becomes the trace part, ``l = 1`` (a vector) the antisymmetric part ``[v]_x`` and
    ``l = 2`` the symmetric traceless part, in the orthonormal basis of :mod:`irreps.ops.cartesian`,
    so heads written for TensorNet's features (the HIP Hessian head) take them unchanged.
    """
    if x.shape[1] < 9:
        raise ValueError(f"to_rank2_components: needs degrees up to 2 (9 coefficients), got {x.shape[1]}")
    return _rank2_map(x.dtype).to(x.device) @ x[:, :9]
