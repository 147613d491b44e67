"""Neighbour lists with ``vesin`` for open, periodic and mixed boundary conditions.

Lists are full (each pair appears as i->j and j->i) and follow the library convention:
``edge_index[0]`` is the receiving atom i, ``edge_index[1]`` the neighbour j, and the edge
vector is ``r_ij = pos[j] - pos[i] + shift`` with ``shift = unit_shift @ cell``. An atom is never
its own neighbour in the same image; periodic images of itself (possible when the cutoff exceeds
a lattice vector's length) are kept as edges. Edges are sorted by ``(i, j)``.

Small open-boundary structures (up to ``ALL_PAIRS_MAX_ATOMS`` atoms) skip the cell list: all
pairs of a whole batch of them are tested at once in numpy (:func:`open_boundary_pairs`), which
for a batch of molecules costs less than one vesin call per molecule and gives the same list.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import vesin

ALL_PAIRS_MAX_ATOMS = 128
_PAIRS_PER_CHUNK = 1 << 20  # candidate pairs tested per numpy pass (~50 MB of temporaries)


def neighbor_list(
    positions: np.ndarray,
    cell: np.ndarray,
    pbc: np.ndarray | tuple[bool, bool, bool] | bool,
    cutoff: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs closer than ``cutoff``.

    Parameters
    ----------
    positions : np.ndarray [num_atoms, 3]
        Cartesian positions in Å.
    cell : np.ndarray [3, 3]
        Lattice vectors as rows, Å. Ignored along non-periodic directions, where it may be zero.
    pbc : bool or array [3] of bool
        Periodicity along each lattice vector.
    cutoff : float
        Radius in Å; pairs with ``|r_ij| < cutoff`` are kept.

    Returns
    -------
    edge_index : np.ndarray [2, num_edges] (int64)
        ``(i, j)``: receiver first, sorted by ``(i, j)`` (periodic images of one pair keep
        vesin's order).
    shifts : np.ndarray [num_edges, 3] (float64)
        Cartesian image offsets so that ``r_ij = pos[j] - pos[i] + shifts``.
    unit_shifts : np.ndarray [num_edges, 3] (int64)
        The same offsets in units of the lattice vectors.

    Raises
    ------
    ValueError
        For a non-positive cutoff, wrongly shaped input, non-finite positions, or a periodic
        direction whose lattice vectors are degenerate.
    """
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    cell = np.asarray(cell, dtype=np.float64)
    pbc = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,)).copy()
    if not cutoff > 0:
        raise ValueError(f"cutoff must be positive, got {cutoff}")
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise ValueError(f"positions must have shape [num_atoms, 3], got {positions.shape}")
    if cell.shape != (3, 3):
        raise ValueError(f"cell must have shape [3, 3], got {cell.shape}")
    if not np.isfinite(positions).all():
        raise ValueError("positions contain non-finite values")
    if len(positions) == 0:
        empty = np.zeros((0, 3))
        return np.zeros((2, 0), dtype=np.int64), empty, empty.astype(np.int64)

    if not pbc.any() and len(positions) <= ALL_PAIRS_MAX_ATOMS:
        (edge_index,) = open_boundary_pairs([positions], cutoff)
        shifts = np.zeros((edge_index.shape[1], 3))
        return edge_index, shifts, shifts.astype(np.int64)
    box = _complete_cell(positions, cell, pbc)
    calculator = vesin.NeighborList(cutoff=float(cutoff), full_list=True, sorted=False)
    i, j, unit_shifts = calculator.compute(positions, box, pbc.tolist() if pbc.any() else False, quantities="ijS")
    i, j = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
    order = np.argsort(i * len(positions) + j, kind="stable")  # by (i, j); images of a pair keep their order
    unit_shifts = np.asarray(unit_shifts, dtype=np.int64).reshape(-1, 3)[order]
    edge_index = np.stack([i[order], j[order]])
    # Only periodic directions ever carry a shift, so the completed box never leaks into them.
    shifts = unit_shifts @ np.where(pbc[:, None], cell, 0.0)
    return edge_index, shifts, unit_shifts


def open_boundary_pairs(structures: Sequence[np.ndarray], cutoff: float) -> list[np.ndarray]:
    """Neighbour lists of many open-boundary structures by testing all pairs, vectorised over the batch.

    Parameters
    ----------
    structures : sequence of np.ndarray [num_atoms_b, 3]
        Positions (Å) of each structure; meant for small ones (``ALL_PAIRS_MAX_ATOMS``), since
        the work grows as the sum of ``num_atoms_b ** 2``.
    cutoff : float
        Radius in Å; pairs with ``|r_ij| < cutoff`` are kept, self-pairs never.

    Returns
    -------
    list of np.ndarray [2, num_edges_b] (int64)
        Per structure, local ``(i, j)`` indices sorted by ``(i, j)``: the same list as
        :func:`neighbor_list` with open boundaries (shifts are all zero).

    Raises
    ------
    ValueError
        For a non-positive cutoff, wrongly shaped or non-finite positions.
    """
    if not cutoff > 0:
        raise ValueError(f"cutoff must be positive, got {cutoff}")
    for n, positions in enumerate(structures):
        if np.ndim(positions) != 2 or np.shape(positions)[1] != 3:
            raise ValueError(f"positions of structure {n} must have shape [num_atoms, 3], got {np.shape(positions)}")
    counts = np.array([len(p) for p in structures], dtype=np.int64)
    out: list[np.ndarray] = []
    start = 0
    while start < len(structures):  # groups of whole structures with a bounded number of candidate pairs
        budget = np.cumsum(counts[start:] ** 2)
        stop = start + max(1, int(np.searchsorted(budget, _PAIRS_PER_CHUNK, side="right")))
        out += _all_pairs(structures[start:stop], counts[start:stop], cutoff)
        start = stop
    return out


def _all_pairs(structures: Sequence[np.ndarray], counts: np.ndarray, cutoff: float) -> list[np.ndarray]:
    positions = np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1, 3) for p in structures])
    if not np.isfinite(positions).all():
        raise ValueError("positions contain non-finite values")
    sizes = counts**2
    structure = np.repeat(np.arange(len(counts)), sizes)  # owner of each candidate pair
    # Candidate k of a structure with n atoms is the local pair (k // n, k % n): row-major, so
    # the kept pairs come out sorted by (i, j).
    local_i, local_j = np.divmod(np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes), counts[structure])
    first_atom = np.repeat(np.cumsum(counts) - counts, sizes)
    vectors = positions[first_atom + local_j] - positions[first_atom + local_i]
    keep = (np.einsum("ex,ex->e", vectors, vectors) < cutoff * cutoff) & (local_i != local_j)
    pairs = np.stack([local_i[keep], local_j[keep]])
    return np.split(pairs, np.cumsum(np.bincount(structure[keep], minlength=len(counts)))[:-1], axis=1)


def _complete_cell(positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> np.ndarray:
    """A non-singular box for vesin that agrees with ``cell`` along periodic directions.

    Open structures have an all-zero cell, which vesin accepts when nothing is periodic. With
    mixed boundaries the non-periodic lattice vectors may be zero; they are replaced by
    orthogonal vectors long enough to hold the structure, which changes no distances since no
    image is taken along them.
    """
    if not pbc.any():
        return cell if _rank(cell) == 3 else np.zeros((3, 3))
    periodic = cell[pbc]
    if _rank(periodic) < len(periodic):
        raise ValueError(f"periodic lattice vectors {periodic.tolist()} are degenerate (pbc={pbc.tolist()})")
    if _rank(cell) == 3:
        return cell
    extent = float(np.ptp(positions, axis=0).max()) + 1.0
    box = cell.copy()
    # Orthonormal complement of the periodic vectors, from the SVD of the periodic rows.
    _, _, vt = np.linalg.svd(periodic)
    complement = vt[len(periodic):]
    for axis, vector in zip(np.flatnonzero(~pbc), complement):
        box[axis] = vector * (extent + np.abs(periodic).sum())
    return box


def _rank(matrix: np.ndarray) -> int:
    if not np.any(matrix):
        return 0
    return int(np.linalg.matrix_rank(matrix, tol=1e-8 * float(np.abs(matrix).max())))
