"""Group elements for Cl(p, q, r): random O(p, q) matrices (boosts and reflections included) and
their action on multivectors.

A linear map g of the vectors that preserves the quadratic form (``g^T eta g = eta``) extends to the
whole algebra as the *outermorphism* ``g(e_A) = g e_{a_1} ∧ ... ∧ g e_{a_k}``, whose grade-k block
holds the k x k minors of g. It is an algebra automorphism that preserves grades and commutes with
the involutions, so every CGENN/GLGENN layer commutes with it. It is computed from determinants,
not from the Cayley table, so the tests can use it as an independent reference for the versor
action ``rho(w)``.
"""

from __future__ import annotations

import torch

from .algebra import CliffordAlgebra


def metric_matrix(algebra: CliffordAlgebra) -> torch.Tensor:
    """``eta = diag(m)`` ``[n, n]`` float64."""
    return torch.diag(algebra.metric)


def random_pseudo_orthogonal(algebra: CliffordAlgebra, generator: torch.Generator | None = None,
                             scale: float = 0.7, reflect: bool = True) -> torch.Tensor:
    """A random form-preserving ``[n, n]`` float64 matrix g (``g^T eta g = eta``).

    The non-degenerate block is ``expm(eta' S) @ diag(signs)`` with S antisymmetric (entries
    ~ N(0, scale^2)): ``eta' S`` spans the Lie algebra o(p, q), so boosts (rapidities ~ scale)
    appear whenever p, q > 0; ``signs`` are random ±1 when ``reflect`` (every component of
    O(p, q): space and time reflections). Null directions (r > 0) map to a random invertible
    mix of null directions plus random null components of the other vectors, which the degenerate
    form also preserves.
    """
    p, q, r = algebra.signature
    d = p + q
    g = torch.eye(algebra.dim, dtype=torch.float64)
    if d:
        eta = torch.diag(algebra.metric[:d])
        a = torch.randn(d, d, generator=generator, dtype=torch.float64) * scale
        block = torch.linalg.matrix_exp(eta @ (a - a.T) / 2**0.5)
        if reflect:
            signs = torch.randint(0, 2, (d,), generator=generator).to(torch.float64) * 2 - 1
            block = block * signs
        g[:d, :d] = block
    if r:
        g[d:, :d] = torch.randn(r, d, generator=generator, dtype=torch.float64)
        g[d:, d:] = torch.eye(r, dtype=torch.float64) + 0.3 * torch.randn(r, r, generator=generator,
                                                                          dtype=torch.float64)
    return g


def outermorphism(algebra: CliffordAlgebra, g: torch.Tensor) -> torch.Tensor:
    """The ``[2^n, 2^n]`` matrix of the outermorphism of ``g`` ``[n, n]`` acting on column multivectors.

    Entry (B, A) with |A| = |B| = k is the minor ``det g[B, A]``; blocks of different grades are 0.
    Use as ``x @ M.T`` for multivectors ``x`` ``[..., 2^n]``.
    """
    if g.shape != (algebra.dim, algebra.dim):
        raise ValueError(f"expected an [{algebra.dim}, {algebra.dim}] matrix, got shape {list(g.shape)}")
    mat = torch.zeros(algebra.num_blades, algebra.num_blades, dtype=g.dtype, device=g.device)
    mat[0, 0] = 1.0
    for k in range(1, algebra.dim + 1):
        sl = algebra.grade_slice(k)
        idx = torch.tensor(algebra.blades[sl], device=g.device)  # [C(n, k), k]
        minors = g[idx[:, None, :, None], idx[None, :, None, :]]  # [B, A, k, k]: rows B, columns A
        mat[sl, sl] = torch.linalg.det(minors)
    return mat


def versor_matrix(algebra: CliffordAlgebra, w: torch.Tensor) -> torch.Tensor:
    """The ``[2^n, 2^n]`` matrix of ``x -> rho(w)(x)`` (column of blade A = ``rho(w)(e_A)``)."""
    eye = torch.eye(algebra.num_blades, dtype=w.dtype, device=w.device)
    return algebra.versor_action(w, eye).T
