"""Molecular Hessians held as 3x3 blocks: per-atom diagonal blocks and per-pair off-diagonal blocks.

A Hessian of a structure with N atoms, ``H[3a + x, 3b + y] = d^2E / dr_{a,x} dr_{b,y}``
(atom-major ordering), is symmetric, so it is fixed by its N diagonal blocks ``H_aa`` and the
blocks ``H_ab`` of the unordered pairs ``a < b`` (``H_ba = H_ab^T``). :class:`BlockHessian`
stores exactly that for a batch of structures; pairs that are absent (beyond a cutoff) are
exact zeros. It turns into the dense layout the data layer uses (per-structure
``(3N_b x 3N_b)`` blocks flattened row-major and concatenated, :func:`assemble_dense`) or
acts on displacements without ever forming the dense matrix (:meth:`BlockHessian.matvec`),
which is what large structures need: memory and work grow with the number of pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from irreps.ops.scatter import scatter_sum


def hessian_pairs(positions: Tensor, batch: Tensor, num_graphs: int, cutoff: float | None = None) -> Tensor:
    """Unordered atom pairs ``(a, b)``, ``a < b``, of the same structure, optionally within a cutoff.

    Parameters
    ----------
    positions : Tensor [N, 3]
        Cartesian positions (Å); only used when ``cutoff`` is given.
    batch : Tensor [N] (int64)
        Structure of each atom; the atoms of a structure must be contiguous.
    num_graphs : int
    cutoff : float, optional
        Keep pairs closer than this (Å, open-boundary distance ``|r_b - r_a|``); ``None`` keeps
        every pair of each structure (for molecules of up to a few hundred atoms).

    Returns
    -------
    Tensor [2, P] (int64)
        Pairs sorted by structure, then ``a``, then ``b``.
    """
    if cutoff is not None and not cutoff > 0:
        raise ValueError(f"the Hessian pair cutoff must be > 0 Å, got {cutoff}")
    counts = torch.bincount(batch, minlength=num_graphs).tolist()
    pieces, start = [], 0
    for n in counts:
        pieces.append(torch.triu_indices(n, n, 1, device=batch.device) + start)
        start += n
    pairs = torch.cat(pieces, dim=1) if pieces else torch.zeros(2, 0, dtype=torch.long, device=batch.device)
    if cutoff is not None:
        distance = (positions[pairs[1]] - positions[pairs[0]]).detach().norm(dim=-1)
        pairs = pairs[:, distance < cutoff]
    return pairs


def _dense_offsets(batch: Tensor, num_graphs: int) -> tuple[Tensor, Tensor, Tensor]:
    """Per atom: index inside its structure, 3N of its structure, start of its structure's block."""
    counts = torch.bincount(batch, minlength=num_graphs)
    first_atom = torch.cumsum(counts, 0) - counts
    sizes = 9 * counts * counts
    block_start = torch.cumsum(sizes, 0) - sizes
    local = torch.arange(batch.numel(), device=batch.device) - first_atom[batch]
    return local, 3 * counts[batch], block_start[batch]


def _block_indices(rows: Tensor, cols: Tensor, local: Tensor, width: Tensor, start: Tensor) -> Tensor:
    """Flat dense indices of the 3x3 blocks ``(rows[k], cols[k])``: ``[K, 3, 3]``."""
    xyz = torch.arange(3, device=rows.device)
    r = 3 * local[rows][:, None, None] + xyz[None, :, None]
    c = 3 * local[cols][:, None, None] + xyz[None, None, :]
    return start[rows][:, None, None] + r * width[rows][:, None, None] + c


def assemble_dense(diagonal: Tensor, off_diagonal: Tensor, pairs: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    """Dense per-structure Hessians from blocks, flattened and concatenated (data-layer layout).

    Parameters
    ----------
    diagonal : Tensor [N, 3, 3]
        ``H_aa`` of every atom.
    off_diagonal : Tensor [P, 3, 3]
        ``H_ab`` of every pair in ``pairs``; ``H_ba = H_ab^T`` is filled in.
    pairs : Tensor [2, P] (int64)
        Unordered pairs ``a < b`` of the same structure, each at most once.
    batch : Tensor [N] (int64)
        Structure of each atom (contiguous).
    num_graphs : int

    Returns
    -------
    Tensor [sum_b 9 N_b^2]
        Row-major ``(3N_b x 3N_b)`` matrices, index ``3 * atom + xyz``; entries of absent pairs
        are zero. Differentiable in the blocks.
    """
    local, width, start = _dense_offsets(batch, num_graphs)
    total = int((9 * torch.bincount(batch, minlength=num_graphs) ** 2).sum())
    atoms = torch.arange(batch.numel(), device=batch.device)
    a, b = pairs
    index = torch.cat(
        (
            _block_indices(atoms, atoms, local, width, start).reshape(-1),
            _block_indices(a, b, local, width, start).reshape(-1),
            _block_indices(b, a, local, width, start).reshape(-1),
        )
    )
    values = torch.cat(
        (diagonal.reshape(-1), off_diagonal.reshape(-1), off_diagonal.transpose(1, 2).reshape(-1))
    )
    return values.new_zeros(total).index_add(0, index, values)


@dataclass
class BlockHessian:
    """Hessians of a batch of structures as 3x3 blocks (see the module docstring).

    Attributes
    ----------
    diagonal : Tensor [N, 3, 3]
        ``H_aa`` (symmetric for a true Hessian).
    off_diagonal : Tensor [P, 3, 3]
        ``H_ab`` for each unordered pair ``(a, b) = pairs[:, k]``, ``a < b``.
    pairs : Tensor [2, P] (int64)
    batch : Tensor [N] (int64)
    num_graphs : int
    """

    diagonal: Tensor
    off_diagonal: Tensor
    pairs: Tensor
    batch: Tensor
    num_graphs: int

    def dense(self) -> Tensor:
        """Flattened concatenated dense Hessians, ``[sum_b 9 N_b^2]`` (:func:`assemble_dense`)."""
        return assemble_dense(self.diagonal, self.off_diagonal, self.pairs, self.batch, self.num_graphs)

    def matrices(self) -> list[Tensor]:
        """The dense ``[3N_b, 3N_b]`` matrix of each structure."""
        counts = torch.bincount(self.batch, minlength=self.num_graphs).tolist()
        sizes = [9 * n * n for n in counts]
        return [m.view(3 * n, 3 * n) for m, n in zip(torch.split(self.dense(), sizes), counts)]

    def matvec(self, vectors: Tensor) -> Tensor:
        """Hessian times displacements without forming the dense matrix.

        Parameters
        ----------
        vectors : Tensor [N, 3]
            One 3-vector per atom (e.g. a displacement or a Lanczos vector).

        Returns
        -------
        Tensor [N, 3]
            ``(H v)_a = H_aa v_a + sum_{b > a} H_ab v_b + sum_{b < a} H_ba^T v_b``; costs
            O(N + P), not O(N^2).
        """
        if vectors.shape != self.diagonal.shape[:2]:
            raise ValueError(f"vectors must have shape {tuple(self.diagonal.shape[:2])}, got {tuple(vectors.shape)}")
        a, b = self.pairs
        out = torch.einsum("nxy,ny->nx", self.diagonal, vectors)
        forward = torch.einsum("pxy,py->px", self.off_diagonal, vectors[b])
        backward = torch.einsum("pyx,py->px", self.off_diagonal, vectors[a])
        num_atoms = vectors.shape[0]
        return out + scatter_sum(forward, a, num_atoms) + scatter_sum(backward, b, num_atoms)
