"""Rotations of R^3: random draws, conversions between parametrisations, edge frames, 6D representation.

Conventions (e3nn-compatible):
- matrices act on column vectors, ``v' = R v``;
- Euler angles are YXY: ``R(alpha, beta, gamma) = R_y(alpha) R_x(beta) R_y(gamma)``, every factor a
  right-handed (counter-clockwise) rotation about its axis;
- quaternions are ``(w, x, y, z)`` with the real part first, unit norm;
- axis-angle is a unit axis ``[..., 3]`` and an angle ``[...]`` (right-hand rule).
"""

from __future__ import annotations

import torch
from torch import Tensor


def _rot(angle: Tensor, i: int, j: int) -> Tensor:
    """Rotation by ``angle`` in the (i, j) coordinate plane taking e_i towards e_j, [..., 3, 3]."""
    c, s = torch.cos(angle), torch.sin(angle)
    o, z = torch.ones_like(angle), torch.zeros_like(angle)
    m = [[o, z, z], [z, o, z], [z, z, o]]
    m[i][i], m[j][j], m[j][i], m[i][j] = c, c, s, -s
    return torch.stack([torch.stack(row, -1) for row in m], -2)


def matrix_x(angle: Tensor) -> Tensor:
    """Rotation about x by ``angle`` (y -> z), [..., 3, 3]."""
    return _rot(torch.as_tensor(angle), 1, 2)


def matrix_y(angle: Tensor) -> Tensor:
    """Rotation about y by ``angle`` (z -> x), [..., 3, 3]."""
    return _rot(torch.as_tensor(angle), 2, 0)


def matrix_z(angle: Tensor) -> Tensor:
    """Rotation about z by ``angle`` (x -> y), [..., 3, 3]."""
    return _rot(torch.as_tensor(angle), 0, 1)


def angles_to_matrix(alpha: Tensor, beta: Tensor, gamma: Tensor) -> Tensor:
    """``R_y(alpha) R_x(beta) R_y(gamma)``, [..., 3, 3] (broadcast over the angle shapes)."""
    alpha, beta, gamma = torch.broadcast_tensors(torch.as_tensor(alpha), torch.as_tensor(beta), torch.as_tensor(gamma))
    return matrix_y(alpha) @ matrix_x(beta) @ matrix_y(gamma)


def xyz_to_angles(xyz: Tensor) -> tuple[Tensor, Tensor]:
    """Angles ``(alpha, beta)`` with ``R_y(alpha) R_x(beta) e_y`` parallel to ``xyz`` [..., 3].

    ``beta`` in [0, pi] is the angle from +y, ``alpha`` in (-pi, pi] the azimuth ``atan2(x, z)``.
    """
    # atan2 instead of acos(y): full precision near the poles, where acos loses half the digits.
    beta = torch.atan2(torch.hypot(xyz[..., 0], xyz[..., 2]), xyz[..., 1])
    alpha = torch.atan2(xyz[..., 0], xyz[..., 2])
    return alpha, beta


def matrix_to_angles(R: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """YXY Euler angles of proper rotations ``R`` [..., 3, 3] (inverse of :func:`angles_to_matrix`)."""
    if R.shape[-2:] != (3, 3):
        raise ValueError(f"matrix_to_angles: expected [..., 3, 3], got {tuple(R.shape)}")
    alpha, beta = xyz_to_angles(R[..., :, 1])
    rest = angles_to_matrix(alpha, beta, torch.zeros_like(alpha)).transpose(-1, -2) @ R
    gamma = torch.atan2(rest[..., 0, 2], rest[..., 0, 0])
    return alpha, beta, gamma


def quaternion_to_matrix(q: Tensor) -> Tensor:
    """Unit quaternions ``(w, x, y, z)`` [..., 4] -> rotation matrices [..., 3, 3] (q and -q agree)."""
    if q.shape[-1:] != (4,):
        raise ValueError(f"quaternion_to_matrix: expected [..., 4], got {tuple(q.shape)}")
    q = torch.nn.functional.normalize(q, dim=-1)
    w, x, y, z = q.unbind(-1)
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return torch.stack([torch.stack(r, -1) for r in rows], -2)


def matrix_to_quaternion(R: Tensor) -> Tensor:
    """Rotation matrices [..., 3, 3] -> unit quaternions ``(w, x, y, z)`` [..., 4] with ``w >= 0``.

    Uses the largest of the four diagonal combinations for each matrix (Shepperd's method), so it
    is accurate for every rotation including angles near pi.
    """
    if R.shape[-2:] != (3, 3):
        raise ValueError(f"matrix_to_quaternion: expected [..., 3, 3], got {tuple(R.shape)}")
    m = R
    t = torch.stack(
        [
            1 + m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2],
            1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
            1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
            1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2],
        ],
        -1,
    )
    a = m[..., 2, 1] - m[..., 1, 2]
    b = m[..., 0, 2] - m[..., 2, 0]
    c = m[..., 1, 0] - m[..., 0, 1]
    d = m[..., 0, 1] + m[..., 1, 0]
    e = m[..., 0, 2] + m[..., 2, 0]
    f = m[..., 1, 2] + m[..., 2, 1]
    # Candidate quaternions (unnormalised, each scaled by 4 times one component).
    cand = torch.stack(
        [
            torch.stack([t[..., 0], a, b, c], -1),
            torch.stack([a, t[..., 1], d, e], -1),
            torch.stack([b, d, t[..., 2], f], -1),
            torch.stack([c, e, f, t[..., 3]], -1),
        ],
        -2,
    )
    best = t.argmax(-1)
    q = torch.gather(cand, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    q = torch.nn.functional.normalize(q, dim=-1)
    return torch.where(q[..., :1] < 0, -q, q)


def axis_angle_to_matrix(axis: Tensor, angle: Tensor) -> Tensor:
    """Rodrigues' formula: rotation by ``angle`` [...] about ``axis`` [..., 3] (normalised here)."""
    axis = torch.nn.functional.normalize(axis, dim=-1)
    half = torch.as_tensor(angle, dtype=axis.dtype, device=axis.device)[..., None] / 2
    return quaternion_to_matrix(torch.cat([torch.cos(half), torch.sin(half) * axis], -1))


def matrix_to_axis_angle(R: Tensor) -> tuple[Tensor, Tensor]:
    """Rotation matrices [..., 3, 3] -> (unit axis [..., 3], angle in [0, pi] [...])."""
    q = matrix_to_quaternion(R)
    vec_norm = q[..., 1:].norm(dim=-1)
    angle = 2 * torch.atan2(vec_norm, q[..., 0])
    axis = torch.nn.functional.normalize(q[..., 1:], dim=-1)
    # The identity has no axis: report +y (the polar axis) so the pair is always usable.
    axis = torch.where(vec_norm[..., None] > 0, axis, torch.tensor([0.0, 1.0, 0.0], dtype=R.dtype, device=R.device))
    return axis, angle


def quaternion_to_angles(q: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Unit quaternions [..., 4] -> YXY Euler angles."""
    return matrix_to_angles(quaternion_to_matrix(q))


def angles_to_quaternion(alpha: Tensor, beta: Tensor, gamma: Tensor) -> Tensor:
    """YXY Euler angles -> unit quaternions [..., 4] with ``w >= 0``."""
    return matrix_to_quaternion(angles_to_matrix(alpha, beta, gamma))


def random_quaternion(*shape: int, generator: torch.Generator | None = None, dtype=None, device=None) -> Tensor:
    """Haar-uniform unit quaternions [*shape, 4] (normalised 4D Gaussians), ``w >= 0``."""
    q = torch.randn(*shape, 4, generator=generator, dtype=dtype, device=device)
    q = torch.nn.functional.normalize(q, dim=-1)
    return torch.where(q[..., :1] < 0, -q, q)


def random_rotation(*shape: int, generator: torch.Generator | None = None, dtype=None, device=None) -> Tensor:
    """Haar-uniform random rotation matrices [*shape, 3, 3]; pass a seeded ``generator`` to reproduce."""
    return quaternion_to_matrix(random_quaternion(*shape, generator=generator, dtype=dtype, device=device))


def random_angles(*shape: int, generator: torch.Generator | None = None, dtype=None, device=None) -> tuple[Tensor, Tensor, Tensor]:
    """YXY Euler angles of Haar-uniform random rotations, each [*shape]."""
    return matrix_to_angles(random_rotation(*shape, generator=generator, dtype=dtype, device=device))


def _skew(k: Tensor) -> Tensor:
    """Cross-product matrix ``[k]_x`` [..., 3, 3] of ``k`` [..., 3]."""
    z = torch.zeros_like(k[..., 0])
    kx, ky, kz = k.unbind(-1)
    return torch.stack(
        [torch.stack([z, -kz, ky], -1), torch.stack([kz, z, -kx], -1), torch.stack([-ky, kx, z], -1)], -2
    )


def rotation_to_polar_axis(vec: Tensor) -> Tensor:
    """A rotation ``R`` with ``R @ (vec / |vec|) = +y`` for each vector (edge frames of eSCN).

    Parameters
    ----------
    vec : Tensor [..., 3]
        Any non-zero vectors (e.g. edge vectors ``r_ij = pos[j] - pos[i] + shift``).

    Returns
    -------
    Tensor [..., 3, 3]
        For ``vec_y >= 0``: the smallest rotation taking ``vec`` to +y (about the axis
        ``vec x y``); the identity for ``vec`` along +y.
        For ``vec_y < 0``: the smallest rotation taking ``vec`` to -y followed by the rotation by
        pi about x, ``diag(1, -1, -1)``; exactly that flip for ``vec`` along -y.
        Both branches use ``1 / (1 + |cos|)`` with ``|cos| >= 0``, so values and gradients stay
        finite everywhere, including at both poles. The choice jumps across the equator
        ``vec_y = 0``; any frame-independent (equivariant) computation is unaffected. A zero
        vector gives the identity.
    """
    if vec.shape[-1:] != (3,):
        raise ValueError(f"rotation_to_polar_axis: expected [..., 3], got {tuple(vec.shape)}")
    u = torch.nn.functional.normalize(vec, dim=-1)
    sign = torch.where(u[..., 1] < 0, -1.0, 1.0).to(u.dtype)
    # Target s*y; k = u x (s y), c = u . (s y) = |u_y| >= 0.
    k = torch.stack([-u[..., 2], torch.zeros_like(u[..., 0]), u[..., 0]], -1) * sign[..., None]
    c = u[..., 1] * sign
    K = _skew(k)
    eye = torch.eye(3, dtype=u.dtype, device=u.device)
    R = eye + K + (K @ K) / (1 + c)[..., None, None]
    flip = torch.stack([torch.ones_like(sign), sign, sign], -1)  # diag(1, s, s) maps s*y to +y
    return flip[..., :, None] * R


def matrix_from_6d(d6: Tensor) -> Tensor:
    """Continuous 6D representation (Zhou et al., CVPR 2019) -> rotation matrix.

    Parameters
    ----------
    d6 : Tensor [..., 6]
        Two 3-vectors ``a1 = d6[..., :3]``, ``a2 = d6[..., 3:]`` (not necessarily orthonormal).

    Returns
    -------
    Tensor [..., 3, 3]
        Columns ``b1 = a1/|a1|``, ``b2`` = Gram-Schmidt of ``a2`` against ``b1``, ``b3 = b1 x b2``.
    """
    if d6.shape[-1:] != (6,):
        raise ValueError(f"matrix_from_6d: expected [..., 6], got {tuple(d6.shape)}")
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], -1)


def matrix_to_6d(R: Tensor) -> Tensor:
    """Rotation matrix [..., 3, 3] -> its first two columns concatenated, [..., 6]."""
    if R.shape[-2:] != (3, 3):
        raise ValueError(f"matrix_to_6d: expected [..., 3, 3], got {tuple(R.shape)}")
    return torch.cat([R[..., :, 0], R[..., :, 1]], -1)

