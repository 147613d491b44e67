"""GL+(n) and SL(n) through the polar decomposition, their Haar measure, and Monte-Carlo samples.

Every ``g`` with ``det g > 0`` factors uniquely as ``g = exp(X) R`` with ``X`` symmetric
(``exp(2X) = g g^T``) and ``R`` in SO(n); for SL(n), ``X`` is also traceless. This is the
decomposition of Mironenco & Forré (ICLR 2024, "Lie group decompositions for equivariant neural
networks"): the group is the product of a compact subgroup and a manifold of positive-definite
matrices, each handled on its own. ``(X, R)`` is a global chart (the matrix exponential of the
whole group is not onto for SL(2)), used here as the kernel's input coordinates.

Haar measure in the chart (G unimodular, ``G / SO(n)`` = positive-definite matrices):
``dg = prod_{i<j} sinh(x_i - x_j) / (x_i - x_j) dX dR`` with ``x_i`` the eigenvalues of X, dX the
Lebesgue measure on (traceless) symmetric matrices in an orthonormal basis and dR the Haar
measure of SO(n) (the constant is dropped). Samples draw X's coordinates from ``N(0, scale^2)``
and R uniformly (for n = 2 at equally spaced angles with one random offset); ``log_weights = log(dg / dq)`` make ``mean(w_j phi(h_j))`` an unbiased estimate of
``integral phi dg``. The Haar measure has infinite mass, so the weights have infinite mean
(``P(w > t) ~ 1/t``): where ``phi`` does not decay away from the samples' own positions, the
largest weight of a draw dominates (`AffineGroupConv` self-normalises them). The sampling
distribution is itself invariant under left multiplication by rotations (``r exp(X) R =
exp(r X r^T) r R``), not by scalings or shears.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

LieGroupName = Literal["GL+", "SL"]


def symmetric_basis(n: int, traceless: bool, dtype=torch.float64) -> torch.Tensor:
    """Orthonormal (Frobenius) basis ``[dim, n, n]`` of symmetric, or traceless symmetric, matrices."""
    basis = []
    for i in range(n):
        for j in range(i + 1, n):
            e = torch.zeros(n, n, dtype=dtype)
            e[i, j] = e[j, i] = 2**-0.5
            basis.append(e)
    diagonals = torch.eye(n, dtype=dtype)
    if traceless:  # an orthonormal basis of the diagonals orthogonal to the identity
        q, _ = torch.linalg.qr(torch.cat([torch.ones(n, 1, dtype=dtype), torch.eye(n, dtype=dtype)[:, : n - 1]], 1))
        diagonals = q[:, 1:].T
    basis += [torch.diag(d) for d in diagonals]
    return torch.stack(basis) if basis else torch.zeros(0, n, n, dtype=dtype)


def exp_symmetric(x: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(x)
    return (vectors * values.exp().unsqueeze(-2)) @ vectors.transpose(-1, -2)


def polar(g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``g = exp(X) R``: returns ``X`` (symmetric) and ``R`` (in SO(n)) for ``g`` ``[..., n, n]``, det > 0."""
    values, vectors = torch.linalg.eigh(g @ g.transpose(-1, -2))
    half_log = 0.5 * values.log()
    x = (vectors * half_log.unsqueeze(-2)) @ vectors.transpose(-1, -2)
    r = (vectors * (-half_log).exp().unsqueeze(-2)) @ vectors.transpose(-1, -2) @ g
    return x, r


def haar_log_density(x: torch.Tensor) -> torch.Tensor:
    """``sum_{i<j} log(sinh(d_ij) / d_ij)``, ``d_ij`` the eigenvalue gaps of symmetric ``x`` ``[..., n, n]``."""
    values = torch.linalg.eigvalsh(x)
    n = values.shape[-1]
    i, j = torch.triu_indices(n, n, 1)
    gap = (values[..., j] - values[..., i]).abs()
    small = gap < 1e-4
    safe = torch.where(small, torch.ones_like(gap), gap)
    # log(sinh(d)/d) = d + log1p(-exp(-2d)) - log(2d); its series d^2/6 near 0
    exact = safe + torch.log1p(-torch.exp(-2 * safe)) - torch.log(2 * safe)
    return torch.where(small, gap**2 / 6, exact).sum(-1)


@dataclass(frozen=True)
class GroupSamples:
    """Sampled group elements ``matrices`` ``[num, n, n]`` and their ``log_weights`` ``[num]`` (log dg/dq)."""

    matrices: torch.Tensor
    log_weights: torch.Tensor

    def __len__(self) -> int:
        return self.matrices.shape[0]

    def left_translate(self, a: torch.Tensor) -> GroupSamples:
        """``{a h_j}`` with the weights of the draw they came from (what equivariance needs)."""
        return GroupSamples(a.to(self.matrices) @ self.matrices, self.log_weights)


class MatrixLieGroup:
    """GL+(n) or SL(n): membership, the polar chart, and Haar-weighted samples.

    Parameters
    ----------
    name : {"GL+", "SL"}
    n : int
    """

    def __init__(self, name: LieGroupName, n: int = 2):
        if name not in ("GL+", "SL"):
            raise ValueError(f"unknown Lie group {name!r}: expected 'GL+' or 'SL'")
        if n < 1:
            raise ValueError(f"n must be positive, got {n}")
        self.name, self.n = name, n
        self.basis = symmetric_basis(n, traceless=name == "SL")

    def __repr__(self) -> str:
        return f"MatrixLieGroup({self.name!r}, {self.n})"

    @property
    def coordinate_dim(self) -> int:
        """Length of `coordinates`: the symmetric part in the basis, then the n^2 entries of R."""
        return len(self.basis) + self.n**2

    def check(self, g: torch.Tensor, tol: float = 1e-6) -> None:
        """Raise ValueError unless ``g`` ``[..., n, n]`` lies in the group."""
        if g.dim() < 2 or g.shape[-2:] != (self.n, self.n):
            raise ValueError(f"{self} elements are [..., {self.n}, {self.n}] matrices, got shape {list(g.shape)}")
        det = torch.linalg.det(g.double())
        if not bool((det > 0).all()):
            raise ValueError(f"{self} needs det > 0, got determinants down to {det.min().item():.3g}")
        if self.name == "SL" and not bool(((det - 1).abs() < tol).all()):
            raise ValueError(f"SL({self.n}) needs det = 1, got {det.flatten()[(det - 1).abs().flatten().argmax()].item():.6g}")

    def coordinates(self, g: torch.Tensor) -> torch.Tensor:
        """Global chart ``[..., coordinate_dim]``: X in the orthonormal basis, then R flattened."""
        x, r = polar(g)
        coeffs = torch.einsum("...ij,kij->...k", x, self.basis.to(x))
        return torch.cat([coeffs, r.flatten(-2)], -1)

    def _rotations(self, num: int, generator: torch.Generator | None) -> torch.Tensor:
        """Haar-uniform rotations; for n = 2 stratified: angles ``t0 + 2 pi k / num``, ``t0`` uniform."""
        if self.n == 2:
            angle = 2 * math.pi * (torch.rand(1, dtype=torch.float64, generator=generator) + torch.arange(num) / num)
            c, s = angle.cos(), angle.sin()
            return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
        q, r = torch.linalg.qr(torch.randn(num, self.n, self.n, dtype=torch.float64, generator=generator))
        q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)  # Haar on O(n)
        q[:, :, 0] *= torch.sign(torch.linalg.det(q)).unsqueeze(-1)  # into SO(n), measure kept
        return q

    def sample(self, num: int, scale: float = 0.5, generator: torch.Generator | None = None,
               dtype: torch.dtype = torch.float64) -> GroupSamples:
        """``num`` elements ``exp(X) R``: X's coordinates ``N(0, scale^2)``, R Haar-uniform on SO(n).

        For n = 2 the angles are stratified (equally spaced, one uniform offset): each sample is
        still distributed as above, so the estimate stays unbiased, with less variance."""
        if num < 1 or scale <= 0:
            raise ValueError(f"need num >= 1 and scale > 0, got num={num}, scale={scale}")
        coeffs = scale * torch.randn(num, len(self.basis), dtype=torch.float64, generator=generator)
        x = torch.einsum("mk,kij->mij", coeffs, self.basis)
        q = self._rotations(num, generator)
        log_normal = -0.5 * (coeffs / scale).pow(2).sum(-1) - len(self.basis) * math.log(scale * math.sqrt(2 * math.pi))
        samples = GroupSamples(exp_symmetric(x) @ q, haar_log_density(x) - log_normal)
        return GroupSamples(samples.matrices.to(dtype), samples.log_weights.to(dtype))
