"""Random group elements, Lie algebra generators and tensor actions for the groups tests (float64 numpy)."""

from __future__ import annotations

import numpy as np
from scipy.linalg import expm

from irreps.groups.dense import symplectic_form


def permutation_matrix(perm) -> np.ndarray:
    """P with P e_j = e_{perm[j]}."""
    n = len(perm)
    mat = np.zeros((n, n))
    mat[np.asarray(perm), np.arange(n)] = 1.0
    return mat


def is_even(perm) -> bool:
    n = len(perm)
    return sum(1 for i in range(n) for j in range(i + 1, n) if perm[i] > perm[j]) % 2 == 0


def random_element(group: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """A random [n, n] matrix of the group in its defining representation."""
    if group in ("S", "A"):
        while True:
            perm = rng.permutation(n)
            if group == "S" or is_even(perm):
                return permutation_matrix(perm)
    if group in ("O", "SO"):
        q, r = np.linalg.qr(rng.normal(size=(n, n)))
        q = q * np.sign(np.diag(r))
        if group == "SO" and np.linalg.det(q) < 0:
            q[:, 0] *= -1
        elif group == "O" and np.linalg.det(q) > 0:
            q[:, 0] *= -1  # make sure reflections are exercised
        return q
    sym = rng.normal(size=(n, n)) * 0.4
    return expm(symplectic_form(n) @ (sym + sym.T))


def constraint_generators(group: str, n: int, rng: np.random.Generator) -> tuple[list, list]:
    """(finite group elements, Lie algebra elements) whose invariants are exactly the G-invariants.

    S_n: a transposition and an n-cycle; A_n: the 3-cycles (0 1 i); O(n): two random generators
    of so(n) plus a reflection; SO(n): two random generators; Sp(n): two random J S.
    """
    if group == "S":
        if n == 1:
            return [], []
        return [permutation_matrix([1, 0] + list(range(2, n))), permutation_matrix(list(range(1, n)) + [0])], []
    if group == "A":
        gens = []
        for i in range(2, n):
            perm = list(range(n))
            perm[0], perm[1], perm[i] = 1, i, 0
            gens.append(permutation_matrix(perm))
        return gens, []
    if group in ("O", "SO"):
        lie = []
        for _ in range(2 if n > 1 else 0):
            a = rng.normal(size=(n, n))
            lie.append(a - a.T)
        finite = [np.diag([-1.0] + [1.0] * (n - 1))] if group == "O" else []
        return finite, lie
    lie = []
    for _ in range(2):
        s = rng.normal(size=(n, n))
        lie.append(symplectic_form(n) @ (s + s.T))
    return [], lie


def act(tensor: np.ndarray, out_mat: np.ndarray, in_mat: np.ndarray, l: int, k: int) -> np.ndarray:
    """Apply ``out_mat`` on each of the first l axes and ``in_mat`` on each of the next k axes."""
    for axis in range(l + k):
        mat = out_mat if axis < l else in_mat
        tensor = np.moveaxis(np.tensordot(mat, tensor, axes=([1], [axis])), 0, axis)
    return tensor


def nullspace_dimension(group: str, n: int, k: int, l: int, rng: np.random.Generator) -> int:
    """Dimension of {W : W g^{⊗k} = g^{⊗l} W for all g in G} from the linear constraints, float64."""
    m = k + l
    size = n**m
    if m == 0:
        return 1
    finite, lie = constraint_generators(group, n, rng)
    gram = np.zeros((size, size))
    eye = np.eye(size)
    for g in finite:
        c = _kron_action([g] * l + [np.linalg.inv(g).T] * k) - eye
        gram += c.T @ c
    for a in lie:
        c = sum(_kron_action([np.eye(n)] * i + [a if i < l else -a.T] + [np.eye(n)] * (m - i - 1)) for i in range(m))
        gram += c.T @ c
    if not finite and not lie:
        return size
    eig = np.linalg.eigvalsh(gram)
    return int(np.sum(eig < 1e-9 * max(eig.max(), 1.0)))


def _kron_action(mats: list) -> np.ndarray:
    out = np.ones((1, 1))
    for mat in mats:
        out = np.kron(out, mat)
    return out


def unit_parameter_maps(params, apply) -> np.ndarray:
    """One flattened ``apply()`` per scalar of ``params`` (torch tensors), that scalar 1 and every
    other 0: the linear maps a layer's parameters stand for, as rows."""
    import torch

    maps = []
    for param in params:
        for idx in range(param.numel()):
            with torch.no_grad():
                for p in params:
                    p.zero_()
                param.view(-1)[idx] = 1.0
                maps.append(apply().reshape(-1).clone())
    return torch.stack(maps).numpy()
