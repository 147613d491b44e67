"""Product quadrature on the unit sphere S^2: Gauss-Legendre in ``cos(theta)`` times a uniform azimuth grid.

The polar angle is measured from +y (the library's polar axis), the azimuth ``phi`` in the
(z, x) plane: ``v = (sin(theta) sin(phi), cos(theta), sin(theta) cos(phi))``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor


def s2_quadrature(degree: int, dtype: torch.dtype = torch.float64, device=None) -> tuple[Tensor, Tensor]:
    """Points and weights that integrate every polynomial of total degree ``<= degree`` exactly on S^2.

    Parameters
    ----------
    degree : int
        Largest polynomial degree integrated exactly (e.g. ``2 l`` for products of two ``Y^l``).

    Returns
    -------
    points : Tensor [P, 3]
        Unit vectors.
    weights : Tensor [P]
        Sum to ``4 pi`` (the area of the sphere), so ``sum w f(v) = int f dOmega``.
    """
    if degree < 0:
        raise ValueError(f"s2_quadrature: degree must be >= 0, got {degree}")
    # Gauss-Legendre with n nodes is exact to degree 2n - 1; the uniform rule with n nodes is
    # exact for trigonometric degree n - 1
    return s2_grid(degree // 2 + 1, degree + 1, dtype, device)


def s2_grid(num_theta: int, num_phi: int, dtype: torch.dtype = torch.float64, device=None) -> tuple[Tensor, Tensor]:
    """Product grid: ``num_theta`` Gauss-Legendre nodes in ``cos(theta)`` times ``num_phi`` azimuths.

    Exact for polynomials of degree ``<= 2 num_theta - 1`` in ``cos(theta)`` times trigonometric
    degree ``<= num_phi - 1`` in ``phi``. Returns points ``[P, 3]`` and weights ``[P]`` summing to ``4 pi``.
    """
    if num_theta < 1 or num_phi < 1:
        raise ValueError(f"s2_grid: need at least one node in each angle, got {num_theta} x {num_phi}")
    cos_t, w_t = np.polynomial.legendre.leggauss(num_theta)
    phi = 2 * math.pi * np.arange(num_phi) / num_phi
    sin_t = np.sqrt(1 - cos_t**2)
    pts = np.stack(
        [np.outer(sin_t, np.sin(phi)), np.outer(cos_t, np.ones_like(phi)), np.outer(sin_t, np.cos(phi))], -1
    ).reshape(-1, 3)
    weights = np.outer(w_t, np.full(num_phi, 2 * math.pi / num_phi)).reshape(-1)
    return torch.as_tensor(pts, dtype=dtype, device=device), torch.as_tensor(weights, dtype=dtype, device=device)
