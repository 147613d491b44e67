"""Smooth cutoff functions f(r) that go from 1 at r = 0 to 0 at the cutoff radius.

Multiplying every edge contribution by such a function makes a potential continuous (and, for
the polynomial envelope, several times differentiable) when atoms cross the cutoff sphere.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def cosine_cutoff(r: Tensor, cutoff: float) -> Tensor:
    """Behler's cosine cutoff ``0.5 (cos(pi r / r_c) + 1)`` for ``r < r_c``, 0 beyond.

    Continuous with a continuous first derivative at ``r_c`` (both vanish there).

    Parameters
    ----------
    r : Tensor [...]
        Distances in Å.
    cutoff : float
        Cutoff radius ``r_c`` in Å.

    Returns
    -------
    Tensor [...], same shape as ``r``.
    """
    inside = r < cutoff
    return torch.where(inside, 0.5 * (torch.cos(r * (math.pi / cutoff)) + 1.0), torch.zeros_like(r))


def polynomial_cutoff(r: Tensor, cutoff: float, p: int = 6) -> Tensor:
    """Polynomial envelope of DimeNet / NequIP with exponent ``p``.

    ``u(d) = 1 - (p+1)(p+2)/2 d^p + p(p+2) d^(p+1) - p(p+1)/2 d^(p+2)`` with ``d = r / r_c``
    for ``d < 1`` and 0 beyond: value and first two derivatives vanish at ``r_c``.

    Parameters
    ----------
    r : Tensor [...]
        Distances in Å.
    cutoff : float
        Cutoff radius in Å.
    p : int
        Smoothness exponent (6 as in NequIP).

    Returns
    -------
    Tensor [...], same shape as ``r``.
    """
    if p < 1:
        raise ValueError(f"polynomial cutoff exponent p must be >= 1, got {p}")
    d = r / cutoff
    envelope = (
        1.0
        - 0.5 * (p + 1) * (p + 2) * d.pow(p)
        + p * (p + 2) * d.pow(p + 1)
        - 0.5 * p * (p + 1) * d.pow(p + 2)
    )
    return torch.where(d < 1.0, envelope, torch.zeros_like(r))
