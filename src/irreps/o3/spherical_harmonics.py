"""Real spherical harmonics for any degree, e3nn conventions, by Cartesian recurrences.

Axes: the polar axis is ``y``; the l=1 harmonics are proportional to ``(x, y, z)`` so that
``D^1(R) = R``. In the standard z-polar formulas read ``(X, Y, Z) = (z, x, y)``: component ``m`` of
degree ``l`` sits at index ``l + m`` and is (no Condon-Shortley phase)

    Y_lm = N_lm Q_l^|m|(Z, r^2) * { C_m (m > 0), 1 (m = 0), S_|m| (m < 0) },
    C_m + i S_m = (X + i Y)^m,
    (l - m) Q_l^m = (2l - 1) Z Q_{l-1}^m - (l + m - 1) r^2 Q_{l-2}^m,  Q_m^m = (2m - 1)!!,

which are homogeneous polynomials of degree ``l`` (solid harmonics, as in sphericart).
The recurrence over ``l`` runs on all ``m`` at once, component-major ``[rows, N]`` so every
operation is a long contiguous vector operation; the normalisation constants are folded into
the recurrence coefficients.

Normalisations (on unit vectors): ``'integral'``: orthonormal, ``int Y_lm Y_l'm' dOmega = delta``;
``'component'`` (default): ``sum_m Y_lm^2 = 2l + 1``; ``'norm'``: ``sum_m Y_lm^2 = 1``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Iterable, Literal, Union

import torch
from torch import Tensor

from irreps.o3.irreps import Irreps

Normalization = Literal["integral", "component", "norm"]
_NORMALIZATIONS = ("integral", "component", "norm")


@lru_cache(maxsize=None)
def _coefficients(lmax: int, normalization: str) -> tuple:
    """Per-degree recurrence constants (float64 Python lists).

    Returns, for each l, ``(a, b, corner)``: ``q_l^m = a[m] Z q_{l-1}^m - b[m] r^2 q_{l-2}^m`` for
    ``m < l`` (``b`` only for ``m < l-1``) and ``q_l^l = corner``, where ``q_l^m = N_lm Q_l^m``.
    """

    def norm(l: int, m: int) -> float:
        squared = {"integral": (2 * l + 1) / (4 * math.pi), "component": 2 * l + 1, "norm": 1}[normalization]
        squared *= math.exp(math.lgamma(l - m + 1) - math.lgamma(l + m + 1)) * (2 if m > 0 else 1)
        return math.sqrt(squared)

    out = []
    for l in range(lmax + 1):
        a = [norm(l, m) / norm(l - 1, m) * (2 * l - 1) / (l - m) for m in range(l)]
        b = [norm(l, m) / norm(l - 2, m) * (l + m - 1) / (l - m) for m in range(l - 1)]
        double_factorial = math.prod(range(2 * l - 1, 0, -2))
        out.append((a, b, norm(l, l) * double_factorial))
    return tuple(out)


def _parse_ls(l: Union[int, Iterable[int], str, Irreps]) -> list[int]:
    if isinstance(l, (str, Irreps)):
        irreps = Irreps(l)
        ls = []
        for mul, ir in irreps:
            if ir.p != (-1) ** ir.l:
                raise ValueError(f"spherical_harmonics: {ir} has parity {ir.p}, spherical harmonics have (-1)^l")
            ls.extend([ir.l] * mul)
        return ls
    if isinstance(l, int):
        return [l]
    return [int(v) for v in l]


def _solid_harmonics(lmax: int, xyz: Tensor, unit: bool, normalization: str) -> Tensor:
    """All degrees ``0..lmax`` component-major.

    Parameters
    ----------
    xyz : Tensor [3, N]
        Cartesian coordinates (rows x, y, z).
    unit : bool
        Inputs are unit vectors (or exactly zero): ``r^2 = 1`` is used in the recurrence.

    Returns
    -------
    Tensor [(lmax+1)^2, N]
    """
    x, y, z = xyz[0], xyz[1], xyz[2]
    X, Y, Z = z, x, y  # z-polar names of e3nn's y-polar axes
    n = xyz.shape[1]
    coeffs = _coefficients(lmax, normalization)
    new = xyz.new_tensor
    r2 = None if unit else x * x + y * y + z * z
    # Azimuthal factors (m >= 1), C_m + i S_m = (X + iY)^m, stored as rows [S_lmax .. S_1, c0, C_1 .. C_lmax]
    # so that the block of degree l is the contiguous central slice of 2l + 1 rows.
    cos_rows, sin_rows = [X], [Y]
    for _ in range(2, lmax + 1):
        c, s = cos_rows[-1], sin_rows[-1]
        cos_rows.append(X * c - Y * s)
        sin_rows.append(X * s + Y * c)
    # m = 0 factor: 1 off the origin; |x|^2 for unit inputs so that the zero vector maps to Y_l = 0 (l >= 1).
    c0 = (x * x + y * y + z * z) if unit else torch.ones_like(x)
    azimuth = torch.stack(sin_rows[:lmax][::-1] + [c0] + cos_rows[:lmax]) if lmax > 0 else c0[None]

    blocks = [xyz.new_full((1, n), coeffs[0][2])]
    q_prev2 = q_prev = None
    q = xyz.new_full((1, n), coeffs[0][2])  # q_0^0
    for l in range(1, lmax + 1):
        a, b, corner = coeffs[l]
        inner = new(a)[:, None] * (Z * q)  # m = 0 .. l-1
        if l >= 2:
            sub = new(b)[:, None] * (q_prev if unit else r2 * q_prev)
            inner = torch.cat([inner[: l - 1] - sub, inner[l - 1 :]])
        q_next = torch.cat([inner, xyz.new_full((1, n), corner)])  # m = 0 .. l
        q_prev, q = q, q_next
        full = torch.cat([q_next.flip(0), q_next[1:]])  # rows m = -l .. l use q_l^|m|
        blocks.append(full * azimuth[lmax - l : lmax + l + 1])
    return torch.cat(blocks)


def spherical_harmonics(
    l: Union[int, Iterable[int], str, Irreps],
    x: Tensor,
    normalize: bool = True,
    normalization: Normalization = "component",
) -> Tensor:
    """Real spherical harmonics ``Y^l(x)`` (e3nn conventions).

    Parameters
    ----------
    l : int, list of int, str or Irreps
        Degree(s). An int gives that degree only (e3nn semantics); a list or irreps such as
        ``"0e+1o+2e"`` gives the concatenation. Irreps must have parity ``(-1)^l``.
    x : Tensor [..., 3]
        Vectors, Cartesian ``(x, y, z)``.
    normalize : bool
        Project ``x`` onto the unit sphere first. The zero vector then gives ``Y^0`` only
        (all ``l >= 1`` components are 0) with finite gradients. Without it, ``Y^l`` is a
        homogeneous polynomial of degree ``l`` (``|x|^l`` times the unit-vector value).
    normalization : {'component', 'integral', 'norm'}
        ``'component'``: ``|Y^l|^2 = 2l+1`` on the sphere; ``'integral'``: orthonormal on the sphere;
        ``'norm'``: ``|Y^l| = 1``.

    Returns
    -------
    Tensor [..., sum_l (2l+1)]
        Same dtype and device as ``x``; differentiable (twice and more) through autograd.
    """
    if normalization not in _NORMALIZATIONS:
        raise ValueError(f"spherical_harmonics: normalization must be one of {_NORMALIZATIONS}, got {normalization!r}")
    if x.shape[-1:] != (3,):
        raise ValueError(f"spherical_harmonics: x must have shape [..., 3], got {tuple(x.shape)}")
    ls = _parse_ls(l)
    if not ls:
        raise ValueError("spherical_harmonics: no degree requested")
    if min(ls) < 0:
        raise ValueError(f"spherical_harmonics: negative degree in {ls}")
    lmax = max(ls)
    batch_shape = x.shape[:-1]
    flat = x.reshape(-1, 3)
    if normalize:
        flat = flat * torch.rsqrt((flat * flat).sum(-1, keepdim=True).clamp_min(1e-24))
    rows = _solid_harmonics(lmax, flat.t().contiguous(), normalize, normalization)
    if ls != list(range(lmax + 1)):
        rows = torch.cat([rows[d * d : (d + 1) * (d + 1)] for d in ls])
    return rows.t().reshape(*batch_shape, rows.shape[0])
