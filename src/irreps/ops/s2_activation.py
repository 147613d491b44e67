"""S2 activation (Cohen et al.; EquiformerV2): a pointwise nonlinearity of the sphere function of the features.

Each channel's coefficients ``x_lm`` (``l <= L``) define ``f = sum x_lm Y_lm``; the layer evaluates
``f`` on a quadrature grid of the sphere, applies ``act`` pointwise and projects back onto the
harmonics up to ``L`` with the quadrature weights. The grid (Gauss-Legendre in ``cos theta`` times a
uniform azimuth, :func:`irreps.o3.s2_quadrature`) integrates polynomials up to ``degree`` exactly, so
for a polynomial ``act`` of order ``k`` and ``degree >= (k+1) L`` the layer is exactly equivariant;
for other activations equivariance is approximate, the error falling quickly with ``degree``.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from irreps.o3 import Irreps, s2_quadrature, spherical_harmonics
from irreps.ops.tensor_product.gaunt import from_sphere_layout, sphere_parity, to_sphere_layout

Activation = Callable[[Tensor], Tensor]


class S2Activation(torch.nn.Module):
    """Pointwise activation on the sphere.

    Parameters
    ----------
    irreps : Irreps or str
        Sphere functions ``C x 0e + C x 1o + ... + C x (L, (-1)^L)`` (input and output).
    act : callable
        Pointwise activation (default SiLU).
    degree : int, optional
        Polynomial degree the grid integrates exactly (default ``3 L``: exact for quadratic ``act``).
    separable : bool
        EquiformerV2's separable variant: the ``l = 0`` channels get ``act`` of the ``l = 0``
        coefficient directly; only ``l > 0`` comes from the grid.
    """

    def __init__(self, irreps: Irreps | str, act: Activation = torch.nn.functional.silu, degree: int | None = None,
                 separable: bool = False) -> None:
        super().__init__()
        self.irreps_in = self.irreps_out = Irreps(irreps)
        self.channels, sign = sphere_parity(self.irreps_in)
        if sign != 1:
            raise ValueError(f"S2Activation: features must have parities (-1)^l (a function on the sphere), got {irreps}")
        lmax = self.irreps_in.lmax
        self.degree = 3 * lmax if degree is None else degree
        if self.degree < 2 * lmax:
            raise ValueError(f"S2Activation: degree {self.degree} < 2 lmax = {2 * lmax} cannot even reproduce the input")
        self.act, self.separable = act, separable
        points, weights = s2_quadrature(self.degree)
        Y = spherical_harmonics(list(range(lmax + 1)), points)  # [P, (L+1)^2], float64
        self.register_buffer("_to_grid", Y.T.contiguous(), persistent=False)
        self.register_buffer("_from_grid", (weights[:, None] * Y / (4 * math.pi)).contiguous(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """``x [..., irreps.dim] -> [..., irreps.dim]``."""
        if x.shape[-1] != self.irreps_in.dim:
            raise ValueError(f"S2Activation: expected last size {self.irreps_in.dim} ({self.irreps_in}), got {x.shape[-1]}")
        sphere = to_sphere_layout(x, self.irreps_in)  # [..., C, (L+1)^2]
        grid = self.act(sphere @ self._to_grid.to(x.dtype))
        out = grid @ self._from_grid.to(x.dtype)
        if self.separable:
            out = torch.cat([self.act(sphere[..., :1]), out[..., 1:]], dim=-1)
        return from_sphere_layout(out, self.irreps_out)
