"""Learned canonicalisation: any backbone made exactly E(d)- (or O(p, q)-) and permutation-invariant.

Following Kaba et al. (2023) and Kim et al. (2023), a small equivariant network (the canonicaliser)
maps a point cloud X to a matrix ``Z(X)`` with ``Z(g X + s) = g Z(X)``; a group element ``h(X)``
with ``h(g X + s) = g h(X)`` is read off Z and the backbone sees the canonical cloud
``h^{-1} (x_i - centroid)``, which no longer changes under g and s. Nguyen, Kim, Yang & Hong (2023)
read h off Z by minimising the orbit distance ``|h^{-1} Z - I|`` over the group numerically; here h
is computed in closed form:

- O(d): the polar factor ``h = U V^T`` of ``Z = U S V^T`` is ``argmin_{h in O(d)} |Z - h|_F``
  (= argmin ``|h^{-1} Z - I|_F``); SO(d) flips the last singular pair when det Z < 0 (Kabsch).
- O(p, q), metric ``eta``: the generalised polar factor ``h = Z (eta Z^T eta Z)^{-1/2}`` (Higham,
  Mackey, Mackey & Tisseur 2005), by the Newton iteration ``h <- (h + eta h^{-T} eta) / 2`` from
  ``h = Z``; every iterate commutes with left multiplication by the group, so h is equivariant,
  and h = Z when Z is in the group. It is not in general the Frobenius-distance minimiser (the
  group is not compact), which Nguyen et al. approach by numerical optimisation.

`orbit_distance` ``|h^{-1} Z - I|_F^2`` is also a training loss: added to the task loss it keeps Z
near the group, away from the singular Z where the canonical frame jumps.

Permutations: with ``sort_points=True`` the canonical points are sorted by their first canonical
coordinate (learned, through the canonicaliser), making a permutation-sensitive backbone exactly
permutation-invariant for clouds without ties in that coordinate.
"""

from __future__ import annotations

from typing import Literal

import torch

NEWTON_STEPS = 30


def _check_metric(metric: torch.Tensor | None, d: int) -> None:
    if metric is not None and (metric.shape != (d,) or not bool((metric.abs() == 1).all())):
        raise ValueError(f"metric must be a [{d}] tensor of ±1 (the diagonal of eta), got {metric!r}")


def polar_frame(z: torch.Tensor, metric: torch.Tensor | None = None, group: Literal["O", "SO"] = "O") -> torch.Tensor:
    """The group element nearest to each ``z`` ``[..., d, d]`` (see the module docstring), ``[..., d, d]``.

    ``metric`` (``[d]`` of ±1, default all +1) selects O(p, q); ``group="SO"`` is for the Euclidean
    metric only. Computed in float64 (an ill-conditioned Z costs accuracy, not a crash) and returned
    in ``z.dtype``. Raises ValueError when Z is singular (no frame) or the Newton iteration fails.
    """
    d = z.shape[-1]
    if z.dim() < 2 or z.shape[-2] != d:
        raise ValueError(f"expected square matrices [..., d, d], got shape {list(z.shape)}")
    if group not in ("O", "SO"):
        raise ValueError(f"group must be 'O' or 'SO', got {group!r}")
    _check_metric(metric, d)
    return _polar_frame64(z.to(torch.float64), metric, group).to(z.dtype)


def _polar_frame64(z: torch.Tensor, metric: torch.Tensor | None, group: str) -> torch.Tensor:
    d = z.shape[-1]
    u, s, vh = torch.linalg.svd(z)
    if (s[..., -1] <= d * torch.finfo(z.dtype).eps * s[..., 0]).any():
        raise ValueError("the canonicaliser output Z is singular: its polar factor (the frame) is not defined")
    if metric is None or bool((metric > 0).all()):
        if group == "SO":
            flip = torch.linalg.det(u @ vh) < 0
            u = torch.cat([u[..., :-1], torch.where(flip[..., None, None], -u[..., -1:], u[..., -1:])], dim=-1)
        return u @ vh
    if group == "SO":
        raise ValueError("group='SO' needs the Euclidean metric")
    eta = torch.diag(metric.to(z))
    h = z
    for _ in range(NEWTON_STEPS):
        inv, info = torch.linalg.inv_ex(h)
        if (info != 0).any():
            break
        h = (h + eta @ inv.transpose(-1, -2) @ eta) / 2
    residual = (h.transpose(-1, -2) @ eta @ h - eta).abs().amax()
    if (info != 0).any() or not torch.isfinite(residual) or residual > 1e3 * torch.finfo(z.dtype).eps ** 0.5:
        raise ValueError("the generalised polar iteration did not converge "
                         f"(|h^T eta h - eta| = {float(residual.detach()):.2e}): "
                         "eta Z^T eta Z has eigenvalues on the negative real axis")
    return h


def orbit_distance(z: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
    """``|frame^{-1} Z - I|_F^2`` ``[...]``: how far Z is from the group (0 when Z is a group element)."""
    eye = torch.eye(z.shape[-1], dtype=z.dtype, device=z.device)
    return ((torch.linalg.solve(frame, z) - eye) ** 2).sum((-1, -2))


class PointCloudCanonicalizer(torch.nn.Module):
    """``[batch, points, d]`` -> ``Z`` ``[batch, d, d]`` with ``Z(g X + s) = g Z(X)``, permutation-invariant.

    Two rounds, with ``c_i = x_i - centroid`` and ``<,>`` the metric's form:

    1. invariants ``f_i = (<c_i, c_i>, mean_j <c_i, c_j>^2, mean_j <c_i - c_j, c_i - c_j>)`` weight the
       points into ``num_vectors`` equivariant vectors ``V = mean_i c_i phi_1(f_i)^T``;
    2. the coordinates ``V^T eta c_i`` of each point against them are invariant too (``(g V)^T eta g c
       = V^T eta c``) and break the symmetry that leaves pure norm weights cancelling (points
       opposite each other get different weights): ``Z = mean_i c_i phi_2(f_i, V^T eta c_i)^T``.
    """

    def __init__(self, d: int, hidden_dim: int = 32, num_vectors: int = 8, metric: torch.Tensor | None = None):
        super().__init__()
        _check_metric(metric, d)
        self.d = d
        self.register_buffer("metric", torch.ones(d) if metric is None else metric.clone().float())

        def mlp(n_in: int, n_out: int) -> torch.nn.Sequential:
            return torch.nn.Sequential(torch.nn.Linear(n_in, hidden_dim), torch.nn.SiLU(),
                                       torch.nn.Linear(hidden_dim, hidden_dim), torch.nn.SiLU(),
                                       torch.nn.Linear(hidden_dim, n_out))

        self.phi_1, self.phi_2 = mlp(3, num_vectors), mlp(3 + num_vectors, d)

    def forward(self, pos: torch.Tensor) -> torch.Tensor:
        c = pos - pos.mean(1, keepdim=True)
        eta_c = c * self.metric.to(c)
        gram = eta_c @ c.transpose(1, 2)  # [batch, i, j] = <c_i, c_j>
        # invariants divided by the cloud's mean |<c_i, c_i>| so that the MLPs see O(1) inputs at any scale
        scale = gram.diagonal(dim1=1, dim2=2).abs().mean(-1)[:, None, None].clamp_min(torch.finfo(c.dtype).tiny)
        gram = gram / scale
        sq = gram.diagonal(dim1=1, dim2=2)
        feats = torch.stack([sq, (gram**2).mean(-1), sq + sq.mean(-1, keepdim=True) - 2 * gram.mean(-1)], dim=-1)
        vectors = c.transpose(1, 2) @ self.phi_1(feats) / pos.shape[1]  # [batch, d, num_vectors]
        coords = eta_c @ vectors  # [batch, points, num_vectors]: invariant
        coords = coords / coords.abs().amax(1, keepdim=True).clamp_min(torch.finfo(c.dtype).tiny)
        weights = self.phi_2(torch.cat([feats, coords], dim=-1))
        return c.transpose(1, 2) @ weights / pos.shape[1]


class Canonicalized(torch.nn.Module):
    """Wraps any backbone so that it is exactly invariant (or equivariant) through a learned frame.

    Parameters
    ----------
    backbone : torch.nn.Module
        Maps canonical clouds ``[batch, points, d]`` to ``[batch, ...]``; in equivariant mode the
        last axis of its output must have size d (vectors, rotated back by the frame).
    canonicalizer : torch.nn.Module
        Maps ``[batch, points, d]`` to equivariant ``Z`` ``[batch, d, d]``, e.g. `PointCloudCanonicalizer`.
    metric, group :
        As in `polar_frame`.
    mode : {"invariant", "equivariant"}
    sort_points : bool
        Sort canonical points by their first coordinate (exact permutation invariance without ties).
    """

    def __init__(self, backbone: torch.nn.Module, canonicalizer: torch.nn.Module, metric: torch.Tensor | None = None,
                 group: Literal["O", "SO"] = "O", mode: Literal["invariant", "equivariant"] = "invariant",
                 sort_points: bool = False):
        super().__init__()
        if mode not in ("invariant", "equivariant"):
            raise ValueError(f"mode must be 'invariant' or 'equivariant', got {mode!r}")
        self.backbone, self.canonicalizer = backbone, canonicalizer
        self.metric, self.group, self.mode, self.sort_points = metric, group, mode, sort_points

    def frame(self, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(Z [batch, d, d], h [batch, d, d])``: the canonicaliser output and its group element."""
        if pos.dim() != 3:
            raise ValueError(f"expected positions [batch, num_points, d], got {list(pos.shape)}")
        if not torch.isfinite(pos).all():
            raise ValueError("positions contain NaN or infinite values")
        z = self.canonicalizer(pos)
        return z, polar_frame(z, self.metric, self.group)

    def forward(self, pos: torch.Tensor) -> torch.Tensor:
        """``[batch, points, d]`` -> the backbone's output on the canonical cloud (rotated back if equivariant)."""
        _, h = self.frame(pos)
        canon = torch.linalg.solve(h, (pos - pos.mean(1, keepdim=True)).transpose(1, 2)).transpose(1, 2)
        if self.sort_points:
            order = canon[..., 0].argsort(dim=1)
            canon = canon.gather(1, order[..., None].expand_as(canon))
        out = self.backbone(canon)
        if self.mode == "invariant":
            return out
        if out.shape[-1] != pos.shape[-1]:
            raise ValueError(f"equivariant mode needs backbone outputs ending in d={pos.shape[-1]}, got {list(out.shape)}")
        lead = out.shape[1:-1]
        return (out.reshape(out.shape[0], -1, pos.shape[-1]) @ h.transpose(1, 2)).reshape(out.shape[0], *lead, -1)
