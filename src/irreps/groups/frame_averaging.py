"""Frame averaging (Puny et al.) for point clouds with PCA frames.

For a cloud ``X`` ``[num_points, d]`` with centroid ``t`` and covariance ``C = (X-t)^T (X-t) / N
= U diag(lambda) U^T`` (eigenvalues decreasing), the frame is the set of orthogonal matrices
``U S`` over sign matrices ``S = diag(±1)``: 2^d of them for O(d) (8 for O(3)), the 2^(d-1) with
``det(U S) = +1`` for SO(d) (4 for SO(3)). The set does not depend on which signs the
eigensolver returns, and it transforms as ``F(g X + s) = g F(X)``, so

- invariant mode: ``Phi(X) = mean_{R in F(X)} phi((X - t) R)`` is invariant;
- equivariant mode: ``Phi(X) = mean_{R in F(X)} phi((X - t) R) R^T`` (plus ``t`` for position
  outputs) is equivariant, for any backbone ``phi``.

Eigengap guard: when two eigenvalues are closer than ``eigengap_tol * lambda_max`` the
eigenvectors are not determined and averaging over signs no longer makes the map exact. The
documented fallback (``on_degenerate="weighted"``) recomputes the frame from the norm-weighted
covariance ``sum_i |x_i - t|^2 (x_i - t)(x_i - t)^T``, which is equivariant too and separates
clouds whose plain covariance is isotropic but whose radial distribution is not; if that one is
degenerate as well (e.g. the vertices of a cube or a regular polygon), or with
``on_degenerate="raise"``, a ValueError names the sample and its eigenvalues.
"""

from __future__ import annotations

from itertools import product
from typing import Literal

import torch


def _signs(d: int) -> torch.Tensor:
    """All 2^d sign vectors ``[2^d, d]`` (float64)."""
    return torch.tensor(list(product([1.0, -1.0], repeat=d)), dtype=torch.float64)


def _eigen(cov: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues decreasing ``[batch, d]`` and eigenvectors as columns ``[batch, d, d]``."""
    values, vectors = torch.linalg.eigh(cov)
    return values.flip(-1), vectors.flip(-1)


def _degenerate(values: torch.Tensor, tol: float) -> torch.Tensor:
    """``[batch]`` bool: some relative eigengap below ``tol`` (or an all-zero spectrum)."""
    top = values[:, :1].clamp_min(torch.finfo(values.dtype).tiny)
    gaps = (values[:, :-1] - values[:, 1:]) / top
    return (gaps < tol).any(-1) | (values[:, 0] <= 0)


def pca_frames(pos: torch.Tensor, group: Literal["O", "SO"] = "O", eigengap_tol: float = 1e-3,
               on_degenerate: Literal["weighted", "raise"] = "weighted") -> tuple[torch.Tensor, torch.Tensor]:
    """The PCA frame of each point cloud.

    Parameters
    ----------
    pos : Tensor
        ``[batch, num_points, d]`` positions.
    group : {"O", "SO"}
    eigengap_tol : float
        Smallest relative gap ``(lambda_i - lambda_{i+1}) / lambda_max`` accepted.
    on_degenerate : {"weighted", "raise"}
        What to do when the gap is too small (see the module docstring).

    Returns
    -------
    frames : Tensor
        ``[batch, num_frames, d, d]`` orthogonal matrices R (columns are the frame axes),
        computed in float64 and returned in ``pos.dtype``.
    centroid : Tensor
        ``[batch, d]``.
    """
    if pos.dim() != 3:
        raise ValueError(f"expected positions [batch, num_points, d], got {list(pos.shape)}")
    if group not in ("O", "SO"):
        raise ValueError(f"frame averaging supports group 'O' or 'SO', got {group!r}")
    if on_degenerate not in ("weighted", "raise"):
        raise ValueError(f"on_degenerate must be 'weighted' or 'raise', got {on_degenerate!r}")
    if not torch.isfinite(pos).all():
        raise ValueError("positions contain NaN or infinite values")
    x = pos.to(torch.float64)
    centroid = x.mean(1)
    xc = x - centroid[:, None]
    values, vectors = _eigen(xc.transpose(1, 2) @ xc / x.shape[1])
    bad = _degenerate(values, eigengap_tol)
    if bad.any():
        if on_degenerate == "raise":
            _raise(bad, values, eigengap_tol, "covariance")
        weights = (xc**2).sum(-1, keepdim=True)
        w_values, w_vectors = _eigen(xc.transpose(1, 2) @ (weights * xc) / x.shape[1])
        still = bad & _degenerate(w_values, eigengap_tol)
        if still.any():
            _raise(still, w_values, eigengap_tol, "covariance and norm-weighted covariance")
        vectors = torch.where(bad[:, None, None], w_vectors, vectors)
    signs = _signs(x.shape[-1]).to(x.device)
    frames = vectors[:, None] * signs[None, :, None, :]  # U diag(s): scale column j by s_j
    if group == "SO":
        keep = torch.linalg.det(frames) > 0  # exactly 2^(d-1) per cloud
        frames = frames[keep].reshape(x.shape[0], -1, x.shape[-1], x.shape[-1])
    return frames.to(pos.dtype), centroid.to(pos.dtype)


def _raise(mask: torch.Tensor, values: torch.Tensor, tol: float, what: str) -> None:
    i = int(mask.nonzero()[0, 0])
    raise ValueError(
        f"point cloud {i}: degenerate {what} spectrum {values[i].tolist()} (relative eigengap "
        f"below {tol}); its PCA frame is not unique, so frame averaging would not be exact"
    )


class FrameAveraging(torch.nn.Module):
    """Makes any backbone exactly O(d)- or SO(d)-invariant/equivariant (and translation-aware).

    Parameters
    ----------
    backbone : torch.nn.Module
        Maps canonical positions ``[batch * num_frames, num_points, d]`` (and optional
        invariant ``features`` ``[batch * num_frames, num_points, f]``) to ``[batch * num_frames,
        ...]``; in equivariant mode the last axis of its output must have size d.
    group : {"O", "SO"}
    mode : {"invariant", "equivariant"}
    translate_output : bool
        Equivariant mode only: add the centroid back (outputs are positions, not vectors).
    eigengap_tol, on_degenerate :
        The eigengap guard, see `pca_frames`.
    """

    def __init__(self, backbone: torch.nn.Module, group: Literal["O", "SO"] = "O",
                 mode: Literal["invariant", "equivariant"] = "invariant", translate_output: bool = False,
                 eigengap_tol: float = 1e-3, on_degenerate: Literal["weighted", "raise"] = "weighted"):
        super().__init__()
        if mode not in ("invariant", "equivariant"):
            raise ValueError(f"mode must be 'invariant' or 'equivariant', got {mode!r}")
        if translate_output and mode != "equivariant":
            raise ValueError("translate_output applies to the equivariant mode only")
        self.backbone, self.group, self.mode = backbone, group, mode
        self.translate_output = translate_output
        self.eigengap_tol, self.on_degenerate = eigengap_tol, on_degenerate

    def forward(self, pos: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        """``pos`` ``[batch, num_points, d]`` -> ``[batch, ...]`` (the backbone's output, averaged)."""
        frames, centroid = pca_frames(pos, self.group, self.eigengap_tol, self.on_degenerate)
        batch, num_frames = frames.shape[:2]
        canon = (pos - centroid[:, None])[:, None] @ frames  # [batch, frames, points, d]
        flat = canon.reshape(batch * num_frames, *canon.shape[2:])
        if features is not None:
            features = features.repeat_interleave(num_frames, dim=0)
            out = self.backbone(flat, features)
        else:
            out = self.backbone(flat)
        out = out.reshape(batch, num_frames, *out.shape[1:])
        if self.mode == "invariant":
            return out.mean(1)
        d = pos.shape[-1]
        if out.shape[-1] != d:
            raise ValueError(f"equivariant mode needs backbone outputs ending in d={d}, got {list(out.shape)}")
        lead = out.shape[2:-1]
        rotated = out.reshape(batch, num_frames, -1, d) @ frames.transpose(-1, -2)
        result = rotated.mean(1).reshape(batch, *lead, d)
        if self.translate_output:
            result = result + centroid.reshape(batch, *([1] * len(lead)), d)
        return result
