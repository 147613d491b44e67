"""Coulomb-matrix descriptors (Rupp et al. 2012; sorted form: Hansen et al. 2013), the baseline
for kernel-ridge energy regression.

``M_ii = 0.5 Z_i^2.4`` and ``M_ij = Z_i Z_j / |r_i - r_j|`` (Å^-1) depend on distances only, so
they are invariant to rotations, reflections and translations. Permutation invariance comes from
either the sorted eigenvalues (``kind="eigenvalues"``, exact, loses information) or rows and
columns sorted by decreasing row norm (``kind="sorted"``, the upper triangle; exact wherever row
norms are distinct).
"""

from __future__ import annotations

from typing import Literal

import torch


def coulomb_matrix(numbers: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """``[num_atoms, num_atoms]`` Coulomb matrix in the dtype of ``positions`` ``[num_atoms, 3]`` (Å)."""
    numbers = torch.as_tensor(numbers)
    positions = torch.as_tensor(positions)
    if positions.dim() != 2 or positions.shape[1] != 3 or numbers.shape != positions.shape[:1]:
        raise ValueError(f"expected numbers [n] and positions [n, 3], got {list(numbers.shape)} and {list(positions.shape)}")
    if not torch.isfinite(positions).all():
        raise ValueError("positions contain non-finite values")
    z = numbers.to(positions.dtype)
    dist = torch.cdist(positions, positions)
    off = torch.eye(len(z), dtype=torch.bool, device=positions.device)
    if (dist[~off] < 1e-8).any():
        raise ValueError("two atoms share a position: the Coulomb matrix is undefined")
    m = z[:, None] * z[None, :] / dist.masked_fill(off, 1.0)
    return torch.where(off, 0.5 * z[:, None] ** 2.4, m)


def coulomb_descriptor(numbers, positions, kind: Literal["sorted", "eigenvalues"] = "sorted") -> torch.Tensor:
    """Permutation-invariant vector of one structure: ``n (n + 1) / 2`` entries for ``"sorted"``,
    ``n`` for ``"eigenvalues"`` (descending)."""
    m = coulomb_matrix(numbers, positions)
    if kind == "eigenvalues":
        return torch.linalg.eigvalsh(m).flip(0)
    if kind != "sorted":
        raise ValueError(f"kind must be 'sorted' or 'eigenvalues', got {kind!r}")
    order = torch.argsort(m.norm(dim=1), descending=True, stable=True)
    m = m[order][:, order]
    rows, cols = torch.triu_indices(len(m), len(m))
    return m[rows, cols]


def coulomb_features(structures, kind: Literal["sorted", "eigenvalues"] = "sorted",
                     dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``[num_structures, length]`` descriptors of ASE ``Atoms`` (zero-padded to the largest)."""
    vectors = [coulomb_descriptor(torch.as_tensor(a.numbers), torch.as_tensor(a.positions, dtype=dtype), kind)
               for a in structures]
    if not vectors:
        raise ValueError("need at least one structure")
    out = torch.zeros(len(vectors), max(v.shape[0] for v in vectors), dtype=dtype)
    for i, v in enumerate(vectors):
        out[i, : v.shape[0]] = v
    return out
