"""Dense matrices of diagrams, straight from their definitions (for tests, pruning and the dense path).

Everything here is ``n^(l+k)`` in size: use it for small n only. The fast layer never calls it.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import permutations

import numpy as np

from .diagrams import Diagram, blocks


@lru_cache(maxsize=8)
def _levi_civita(n: int) -> np.ndarray:
    eps = np.zeros((n,) * n)
    for perm in permutations(range(n)):
        inversions = sum(1 for i in range(n) for j in range(i + 1, n) if perm[i] > perm[j])
        eps[perm] = -1.0 if inversions % 2 else 1.0
    eps.flags.writeable = False
    return eps


def levi_civita(n: int) -> np.ndarray:
    """The Levi-Civita symbol as an ``[n] * n`` array of 0 and ±1."""
    return _levi_civita(n).copy()


def symplectic_form(n: int) -> np.ndarray:
    """J = [[0, I], [-I, 0]] of shape [n, n] (n even): the form Sp(n) preserves, g^T J g = J."""
    if n % 2:
        raise ValueError(f"the symplectic form needs an even n, got {n}")
    r = n // 2
    form = np.zeros((n, n))
    form[:r, r:] = np.eye(r)
    form[r:, :r] = -np.eye(r)
    return form


def vertex_tensor(name: str, n: int) -> np.ndarray:
    """The numerical vertex tensor named in `Diagram.tensors` (float64)."""
    if name == "eps":
        return levi_civita(n)
    if name == "eps_open":
        return levi_civita(n).sum(axis=-1)
    if name == "omega":
        return symplectic_form(n)
    if name == "omega_t":
        return symplectic_form(n).T.copy()
    raise ValueError(f"unknown vertex tensor {name!r}")


@lru_cache(maxsize=8)
def _index_grid(n: int, m: int) -> np.ndarray:
    """[m, n^m]: the index values of every entry of an m-axis tensor, row-major (read-only, cached)."""
    grid = np.indices((n,) * m).reshape(m, n**m)
    grid.flags.writeable = False
    return grid


def diagram_matrix(diagram: Diagram, n: int, k: int, l: int) -> np.ndarray:
    """The ``[n^l, n^k]`` matrix of a diagram: block indicator times its vertex tensors."""
    m = k + l
    if len(diagram.labels) != m:
        raise ValueError(f"diagram has {len(diagram.labels)} points, expected k + l = {m}")
    idx = _index_grid(n, m)
    value = np.ones(idx.shape[1])
    parts = blocks(diagram.labels)
    for block in parts:
        for point in block[1:]:
            value *= idx[point] == idx[block[0]]
    for name, legs in diagram.tensors:
        tensor = vertex_tensor(name, n)
        value *= tensor[tuple(idx[parts[leg][0]] for leg in legs)]
    return value.reshape(n**l, n**k)


def orbit_matrix(labels: tuple[int, ...], n: int, k: int, l: int) -> np.ndarray:
    """The S_n orbit element X_pi: 1 where indices are equal within blocks and distinct across."""
    idx = _index_grid(n, k + l)
    parts = blocks(labels)
    value = np.ones(idx.shape[1], dtype=bool)
    for block in parts:
        for point in block[1:]:
            value &= idx[point] == idx[block[0]]
    for a in range(len(parts)):
        for b in range(a + 1, len(parts)):
            value &= idx[parts[a][0]] != idx[parts[b][0]]
    return value.astype(np.float64).reshape(n**l, n**k)


def independent_subset(matrices: list[np.ndarray], tol: float = 1e-8) -> list[int]:
    """Indices of a maximal linearly independent subset, kept greedily in the given order.

    Gram-Schmidt on the flattened matrices in float64; an element is dropped when its residual
    norm falls below ``tol`` times its own norm.
    """
    kept: list[int] = []
    ortho: list[np.ndarray] = []
    for i, mat in enumerate(matrices):
        v = mat.reshape(-1).astype(np.float64)
        norm = np.linalg.norm(v)
        if norm == 0:
            continue
        for _ in range(2):  # twice is enough for stability (Kahan)
            for q in ortho:
                v = v - (q @ v) * q
        res = np.linalg.norm(v)
        if res > tol * norm:
            kept.append(i)
            ortho.append(v / res)
    return kept


def basis_matrices(basis) -> np.ndarray:
    """``[num_basis, n^l, n^k]``: each basis element from its own definition (not via ``terms``)."""
    mats = []
    for how, what in basis.definitions:
        if how == "orbit":
            mats.append(orbit_matrix(what, basis.n, basis.k, basis.l))
        else:
            mats.append(diagram_matrix(what, basis.n, basis.k, basis.l))
    shape = (len(mats), basis.n**basis.l, basis.n**basis.k)
    return np.stack(mats) if mats else np.zeros(shape)
