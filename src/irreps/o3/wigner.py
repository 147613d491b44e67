"""Wigner-D matrices of SO(3) in the real basis of :func:`irreps.o3.spherical_harmonics`.

``D^l(R)`` satisfies ``Y^l(R v) = D^l(R) Y^l(v)``, is orthogonal, and ``D^1(R) = R`` (basis x, y, z).
For YXY Euler angles ``D(alpha, beta, gamma) = D_y(alpha) D_x(beta) D_y(gamma)`` (e3nn's
``wigner_D``). Rotations about the polar axis y are closed-form in the real basis (they mix
``m`` and ``-m`` by ``cos(m a)``, ``sin(m a)``), and ``D_x(b) = P^T D_y(b) P`` where ``P`` is the
(exact, cached) representation of the axis permutation ``x -> y -> z -> x``, obtained by an exact
quadrature of spherical harmonics. Everything is exact to float64 rounding for any ``l``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor

from irreps.o3.clebsch_gordan import wigner_3j
from irreps.o3.quadrature import s2_quadrature
from irreps.o3.rotations import quaternion_to_matrix
from irreps.o3.spherical_harmonics import spherical_harmonics


def _check_l(l: int) -> None:
    if isinstance(l, bool) or not isinstance(l, int) or l < 0:
        raise ValueError(f"wigner_D: l must be a non-negative int, got {l!r}")


def polar_rotation_D(l: int, angle: Tensor) -> Tensor:
    """``D^l`` of the rotation by ``angle`` about the polar axis y, [..., 2l+1, 2l+1].

    Row ``l+m`` (``m > 0``) is ``cos(m a)`` on the diagonal and ``-sin(m a)`` at column ``l-m``;
    row ``l-m`` is ``sin(m a)`` at column ``l+m``.
    """
    _check_l(l)
    angle = torch.as_tensor(angle)
    if not angle.is_floating_point():
        angle = angle.to(torch.get_default_dtype())
    m = torch.arange(-l, l + 1, dtype=angle.dtype, device=angle.device)
    ma = angle[..., None] * m
    return torch.diag_embed(torch.cos(ma)) + torch.diag_embed(-torch.sin(ma)).flip(-1)


@lru_cache(maxsize=None)
def _axis_permutation_D(l: int) -> Tensor:
    """``D^l(P)`` for ``P`` taking x -> y, y -> z, z -> x (float64, exact by quadrature)."""
    perm = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    points, weights = s2_quadrature(2 * l)
    y = spherical_harmonics(l, points, normalize=False, normalization="integral")
    y_rot = spherical_harmonics(l, points @ perm.T, normalize=False, normalization="integral")
    D = torch.einsum("p,pi,pj->ij", weights, y_rot, y)
    # Entries are rational combinations of square roots; rounding noise below 1e-14 is dropped.
    return torch.where(D.abs() < 1e-14, torch.zeros_like(D), D)


def wigner_D(l: int, alpha: Tensor, beta: Tensor, gamma: Tensor) -> Tensor:
    """Wigner-D of YXY Euler angles: ``D_y(alpha) D_x(beta) D_y(gamma)``.

    Parameters
    ----------
    l : int
    alpha, beta, gamma : Tensor [...]
        Broadcast together.

    Returns
    -------
    Tensor [..., 2l+1, 2l+1]
    """
    _check_l(l)
    angles = [torch.as_tensor(v) for v in (alpha, beta, gamma)]
    dtype = torch.promote_types(torch.promote_types(angles[0].dtype, angles[1].dtype), angles[2].dtype)
    dtype = dtype if dtype.is_floating_point else torch.get_default_dtype()
    alpha, beta, gamma = torch.broadcast_tensors(*(v.to(dtype) for v in angles))
    P = _axis_permutation_D(l).to(dtype=dtype, device=alpha.device)
    return polar_rotation_D(l, alpha) @ (P.T @ polar_rotation_D(l, beta) @ P) @ polar_rotation_D(l, gamma)


def wigner_D_stack(R: Tensor, lmax: int) -> list[Tensor]:
    """Wigner-D matrices ``D^0 .. D^lmax`` of proper rotations, polynomial in ``R``.

    ``D^1 = R`` (e3nn basis) and ``D^l = U^T (D^{l-1} (x) R) U`` with the isometry
    ``U = sqrt(2l+1) C^{(l-1, 1, l)}``: smooth everywhere (no Euler angles, so no singular gradients
    at the poles) and a few small batched GEMMs per degree.

    Parameters
    ----------
    R : Tensor [N, 3, 3]

    Returns
    -------
    list of Tensor [N, 2l+1, 2l+1]
    """
    n = R.shape[0]
    out = [R.new_ones(n, 1, 1)]
    if lmax >= 1:
        out.append(R)
    for l in range(2, lmax + 1):
        di, db = 2 * l - 1, 2 * l + 1
        U = wigner_3j(l - 1, 1, l, dtype=R.dtype, device=R.device) * math.sqrt(db)  # [di, 3, db]
        A = (out[-1].reshape(n * di, di) @ U.reshape(di, 3 * db)).reshape(n, di, 3, db)  # sum_k D_ik U_kmb
        T = R @ A.permute(0, 2, 1, 3).reshape(n, 3, di * db)  # sum_m R_jm A_imb -> [n, j, i*b]
        T = T.reshape(n, 3, di, db).permute(0, 2, 1, 3).reshape(n, di * 3, db)
        out.append(U.reshape(di * 3, db).T @ T)
    return out


def wigner_D_from_matrix(l: int, R: Tensor) -> Tensor:
    """Wigner-D of proper rotation matrices ``R`` [..., 3, 3] -> [..., 2l+1, 2l+1].

    Polynomial in ``R`` (see :func:`wigner_D_stack`): smooth gradients everywhere, including
    rotations whose Euler angles are singular.
    """
    if R.shape[-2:] != (3, 3):
        raise ValueError(f"wigner_D_from_matrix: expected [..., 3, 3], got {tuple(R.shape)}")
    if l < 0:
        raise ValueError(f"wigner_D_from_matrix: negative degree {l}")
    batch = R.shape[:-2]
    D = wigner_D_stack(R.reshape(-1, 3, 3), l)[l]
    return D.reshape(*batch, 2 * l + 1, 2 * l + 1)


def wigner_D_from_quaternion(l: int, q: Tensor) -> Tensor:
    """Wigner-D of unit quaternions ``(w, x, y, z)`` [..., 4] -> [..., 2l+1, 2l+1]."""
    return wigner_D_from_matrix(l, quaternion_to_matrix(q))
