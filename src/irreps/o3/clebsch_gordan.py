"""Real-basis Clebsch-Gordan coefficients (Wigner 3j, e3nn normalisation and phase) and Gaunt coefficients.

The complex (Condon-Shortley) Clebsch-Gordan coefficients come from Racah's formula in exact
rational arithmetic; they are carried to the real basis of :func:`irreps.o3.spherical_harmonics`
by the unitary ``U_l`` with ``Y_real = U_l Y_complex`` (complex harmonics about the polar axis),
multiplied by the phase ``(-i)^(l1 + l2 - l3)`` that makes them real, and scaled to unit Frobenius
norm. This reproduces e3nn's ``wigner_3j`` including its sign.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

import torch
from torch import Tensor

_NORMALIZATIONS = ("integral", "component", "norm")


def _check_triangle(l1: int, l2: int, l3: int) -> None:
    for l in (l1, l2, l3):
        if isinstance(l, bool) or not isinstance(l, int) or l < 0:
            raise ValueError(f"degrees must be non-negative ints, got {(l1, l2, l3)}")
    if not abs(l1 - l2) <= l3 <= l1 + l2:
        raise ValueError(f"({l1}, {l2}, {l3}) violates the triangle condition |l1-l2| <= l3 <= l1+l2")


def su2_clebsch_gordan(j1: int, m1: int, j2: int, m2: int, j3: int, m3: int) -> float:
    """``<j1 m1 j2 m2 | j3 m3>`` (integer spins, Condon-Shortley phase), exact then rounded once."""
    if m3 != m1 + m2 or abs(m1) > j1 or abs(m2) > j2 or abs(m3) > j3 or not abs(j1 - j2) <= j3 <= j1 + j2:
        return 0.0
    f = math.factorial
    prefactor = Fraction(
        (2 * j3 + 1) * f(j3 + j1 - j2) * f(j3 - j1 + j2) * f(j1 + j2 - j3)
        * f(j3 + m3) * f(j3 - m3) * f(j1 - m1) * f(j1 + m1) * f(j2 - m2) * f(j2 + m2),
        f(j1 + j2 + j3 + 1),
    )
    total = Fraction(0)
    for k in range(max(0, j2 - j3 - m1, j1 - j3 + m2), min(j1 + j2 - j3, j1 - m1, j2 + m2) + 1):
        total += Fraction(
            (-1) ** k,
            f(k) * f(j1 + j2 - j3 - k) * f(j1 - m1 - k) * f(j2 + m2 - k) * f(j3 - j2 + m1 + k) * f(j3 - j1 - m2 + k),
        )
    if total == 0:
        return 0.0
    return math.copysign(math.sqrt(total * total * prefactor), total)


def _real_from_complex(l: int) -> Tensor:
    """Unitary ``U`` [2l+1, 2l+1] (complex128): ``Y_real[l+m] = sum_mu U[l+m, l+mu] Y_complex[l+mu]``."""
    U = torch.zeros(2 * l + 1, 2 * l + 1, dtype=torch.complex128)
    s = 1 / math.sqrt(2)
    U[l, l] = 1
    for m in range(1, l + 1):
        U[l + m, l + m] = (-1) ** m * s  # cos(m phi) = (e^{im phi} + e^{-im phi}) / 2 with Y^-m = (-1)^m conj(Y^m)
        U[l + m, l - m] = s
        U[l - m, l - m] = 1j * s  # sin(m phi)
        U[l - m, l + m] = -1j * (-1) ** m * s
    return U


@lru_cache(maxsize=None)
def _wigner_3j_float64(l1: int, l2: int, l3: int) -> Tensor:
    C = torch.zeros(2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1, dtype=torch.complex128)
    for m1 in range(-l1, l1 + 1):
        for m2 in range(max(-l2, -l3 - m1), min(l2, l3 - m1) + 1):
            C[l1 + m1, l2 + m2, l3 + m1 + m2] = su2_clebsch_gordan(l1, m1, l2, m2, l3, m1 + m2)
    U1, U2, U3 = _real_from_complex(l1), _real_from_complex(l2), _real_from_complex(l3)
    real = torch.einsum("ia,jb,kc,abc->ijk", U1.conj(), U2.conj(), U3, C) * (-1j) ** (l1 + l2 - l3)
    if real.imag.abs().max() > 1e-12:
        raise RuntimeError(f"wigner_3j({l1}, {l2}, {l3}) is not real after the change of basis")
    out = real.real
    out = out / out.norm()
    return torch.where(out.abs() < 1e-15, torch.zeros_like(out), out)


def wigner_3j(l1: int, l2: int, l3: int, dtype: torch.dtype | None = None, device=None) -> Tensor:
    """Real-basis Wigner 3j tensor ``C`` [2l1+1, 2l2+1, 2l3+1], equal to e3nn's ``wigner_3j``.

    ``C`` is invariant, ``C_ijk = D1_ia D2_jb D3_kc C_abc`` for every rotation, has unit Frobenius
    norm, and is computed exactly in float64 then cached. Returns a fresh copy in ``dtype``
    (default: torch's default dtype).
    """
    _check_triangle(l1, l2, l3)
    return _wigner_3j_float64(l1, l2, l3).to(dtype=dtype or torch.get_default_dtype(), device=device, copy=True)


def _three_j_zero_squared(l1: int, l2: int, l3: int) -> Fraction:
    """``(l1 l2 l3; 0 0 0)^2`` in closed form (even ``l1 + l2 + l3``)."""
    f = math.factorial
    g = (l1 + l2 + l3) // 2
    ratio = Fraction(f(2 * g - 2 * l1) * f(2 * g - 2 * l2) * f(2 * g - 2 * l3), f(2 * g + 1))
    return ratio * Fraction(f(g), f(g - l1) * f(g - l2) * f(g - l3)) ** 2


def gaunt(l1: int, l2: int, l3: int, normalization: str = "integral", dtype: torch.dtype | None = None, device=None) -> Tensor:
    """Gaunt coefficients ``G_ijk = int_S2 Y^l1_i Y^l2_j Y^l3_k dOmega`` for the library's real harmonics.

    Parameters
    ----------
    normalization : {'integral', 'component', 'norm'}
        Normalisation of the three harmonics (as in :func:`spherical_harmonics`); the integral is
        over the sphere with area ``4 pi``. With ``'integral'`` (orthonormal harmonics)
        ``G = s sqrt((2l1+1)(2l2+1)(2l3+1) / (4 pi)) |(l1 l2 l3; 0 0 0)| C`` where ``C`` is
        :func:`wigner_3j` and ``s`` the sign of its all-``m = 0`` entry.

    Returns
    -------
    Tensor [2l1+1, 2l2+1, 2l3+1]
        Zero when ``l1 + l2 + l3`` is odd or the triangle condition fails.
    """
    if normalization not in _NORMALIZATIONS:
        raise ValueError(f"gaunt: normalization must be one of {_NORMALIZATIONS}, got {normalization!r}")
    for l in (l1, l2, l3):
        if isinstance(l, bool) or not isinstance(l, int) or l < 0:
            raise ValueError(f"gaunt: degrees must be non-negative ints, got {(l1, l2, l3)}")
    dtype = dtype or torch.get_default_dtype()
    shape = (2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1)
    if (l1 + l2 + l3) % 2 or not abs(l1 - l2) <= l3 <= l1 + l2:
        return torch.zeros(shape, dtype=dtype, device=device)
    C = _wigner_3j_float64(l1, l2, l3)
    scale = math.sqrt((2 * l1 + 1) * (2 * l2 + 1) * (2 * l3 + 1) / (4 * math.pi) * _three_j_zero_squared(l1, l2, l3))
    scale = math.copysign(scale, C[l1, l2, l3].item())
    for l in (l1, l2, l3):
        if normalization == "component":
            scale *= math.sqrt(4 * math.pi)
        elif normalization == "norm":
            scale *= math.sqrt(4 * math.pi / (2 * l + 1))
    return (scale * C).to(dtype=dtype, device=device)
