"""Sphere features sampled on a product grid and projected back (the grid of S2 activations).

Each channel's coefficients ``x_lm`` are a function ``f = sum x_lm Y_lm`` on the sphere; ``to_grid``
evaluates it at the grid points (Gauss-Legendre in ``cos theta`` from the polar axis +y, uniform
azimuth about it) and ``from_grid`` projects grid values back onto the kept harmonics with the
quadrature weights. Pointwise functions applied between the two are exactly equivariant when the
grid integrates their result times ``Y_lm`` exactly (e.g. polynomials of low order); for SiLU and
other non-polynomial functions the error is aliasing, falling as the grid grows.

The kept coefficients are any list of ``(l, m)`` (all of them in node frames, ``|m| <= m_max`` in
edge frames, :func:`~irreps.ops.sphere.m_primary_order`). Default resolution as in EquiformerV2:
``2 (L + 1)`` latitudes and ``2 m_max + 1`` azimuths (``2 L + 3`` when nothing is truncated).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from irreps.o3 import s2_grid, spherical_harmonics


class SphereGrid(torch.nn.Module):
    """Grid transforms for the coefficients ``coefficients`` (list of ``(l, m)``).

    Parameters
    ----------
    coefficients : list of (int, int)
    resolution : int or None
        Latitudes = azimuths = ``resolution``; None picks the default above.
    rescale : bool
        EquiformerV2's normalisation of truncated degrees: both transforms multiply the
        coefficients of degree ``l > m_max`` by ``sqrt((2l+1) / (2 m_max+1))`` (per degree, so
        still equivariant).
    """

    def __init__(self, coefficients: list[tuple[int, int]], resolution: int | None = None, rescale: bool = False) -> None:
        super().__init__()
        lmax = max(l for l, _ in coefficients)
        mmax = max(abs(m) for _, m in coefficients)
        if resolution is None:
            num_theta, num_phi = 2 * (lmax + 1), (2 * mmax + 3 if mmax == lmax else 2 * mmax + 1)
        else:
            if resolution < 1:
                raise ValueError(f"SphereGrid: resolution must be >= 1, got {resolution}")
            num_theta = num_phi = resolution
        self.num_theta, self.num_phi = num_theta, num_phi
        points, weights = s2_grid(num_theta, num_phi)
        Y = spherical_harmonics(list(range(lmax + 1)), points)[:, [l * l + l + m for l, m in coefficients]]
        if rescale:
            Y = Y * torch.tensor([math.sqrt((2 * l + 1) / (2 * mmax + 1)) if l > mmax else 1.0 for l, _ in coefficients],
                                 dtype=Y.dtype)
        self.register_buffer("points", points, persistent=False)  # [P, 3]
        self.register_buffer("quadrature_weights", weights, persistent=False)  # [P], sum 4 pi
        self.register_buffer("_to_grid", Y.contiguous(), persistent=False)  # [P, K]
        self.register_buffer("_from_grid", (weights[:, None] * Y / (4 * math.pi)).T.contiguous(), persistent=False)

    @property
    def num_points(self) -> int:
        return self._to_grid.shape[0]

    def to_grid(self, x: Tensor) -> Tensor:
        """``[..., K, C] -> [..., P, C]``."""
        return self._to_grid.to(x.dtype) @ x

    def from_grid(self, f: Tensor) -> Tensor:
        """``[..., P, C] -> [..., K, C]``."""
        return self._from_grid.to(f.dtype) @ f
