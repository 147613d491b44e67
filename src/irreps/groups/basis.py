"""Spanning sets and bases of Hom_G((R^n)^{⊗k}, (R^n)^{⊗l}) for every supported group.

`spanning_set` returns every diagram of the group (linearly dependent for small n);
`hom_basis` prunes it to a basis, and says how in `HomBasis.pruning`:

- S_n, diagram basis: the partition diagrams with at most n blocks. They are a basis because
  ``D_pi = sum_{sigma >= pi} X_sigma`` is unitriangular against the orbit basis and coarsenings
  never have more blocks.
- S_n, orbit basis: the orbit elements with at most n blocks (disjoint supports), applied through
  Möbius inversion onto partition diagrams.
- A_n: the S_n basis plus the jellyfish elements (independent by construction, see `partitions`).
- O(n), SO(n), Sp(n): no pruning when the spanning set is as large as `hom_dimension` (the
  stable range); otherwise a greedy Gram-Schmidt on the dense matrices in float64 keeps a
  maximal independent subset in spanning-set order (Brauer diagrams before determinant ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .brauer import brauer_diagrams, determinant_diagrams, symplectic_diagrams
from .counting import check_group, hom_dimension
from .dense import diagram_matrix, independent_subset
from .diagrams import Diagram
from .partitions import coarsenings, jellyfish_diagrams, partition_diagrams

MAX_DENSE_ENTRIES = 2**22
BasisKind = Literal["diagram", "orbit", "spanning_set"]


@dataclass(frozen=True, eq=False)
class HomBasis:
    """A basis (or spanning set) of Hom_G((R^n)^{⊗k}, (R^n)^{⊗l}) in terms of diagrams.

    Attributes
    ----------
    group, n, k, l :
        The Hom space.
    kind : {"diagram", "orbit", "spanning_set"}
    terms : tuple[Diagram, ...]
        The diagrams the fast operator applies.
    coefficients : np.ndarray
        ``[num_basis, num_terms]``: basis element b is ``sum_t coefficients[b, t] * D_t``.
    definitions : tuple
        Each element's own definition, ``("diagram", Diagram)`` or ``("orbit", labels)``, which
        `dense.basis_matrices` evaluates independently of ``terms``.
    spanning_set_size : int
        Number of diagrams before pruning.
    pruning : str
        How the spanning set was reduced to this basis.
    """

    group: str
    n: int
    k: int
    l: int
    kind: str
    terms: tuple[Diagram, ...]
    coefficients: np.ndarray
    definitions: tuple
    spanning_set_size: int
    pruning: str

    def __len__(self) -> int:
        return self.coefficients.shape[0]


def spanning_set(group: str, n: int, k: int, l: int) -> list[Diagram]:
    """Every diagram of the group for (k, l), before pruning (may be linearly dependent)."""
    check_group(group, n)
    if k < 0 or l < 0:
        raise ValueError(f"tensor orders must be non-negative, got k={k}, l={l}")
    if group == "S":
        return partition_diagrams(k, l)
    if group == "A":
        return partition_diagrams(k, l) + jellyfish_diagrams(n, k, l)
    if group == "O":
        return brauer_diagrams(k, l)
    if group == "SO":
        return brauer_diagrams(k, l) + determinant_diagrams(n, k, l)
    return symplectic_diagrams(k, l)


def _identity_basis(group, n, k, l, kind, diagrams, size, pruning) -> HomBasis:
    return HomBasis(
        group, n, k, l, kind, tuple(diagrams), np.eye(len(diagrams)),
        tuple(("diagram", d) for d in diagrams), size, pruning,
    )


def _orbit_basis(group: str, n: int, k: int, l: int, extra: list[Diagram]) -> HomBasis:
    orbits = [d.labels for d in partition_diagrams(k, l, max_blocks=n)]
    terms = partition_diagrams(k, l, max_blocks=n) + extra
    position = {d.labels: i for i, d in enumerate(terms) if not d.tensors}
    coeff = np.zeros((len(orbits) + len(extra), len(terms)))
    for b, labels in enumerate(orbits):
        for sigma, mu in coarsenings(labels):
            coeff[b, position[sigma]] += mu
    for j in range(len(extra)):
        coeff[len(orbits) + j, len(orbits) + j] = 1.0
    definitions = tuple(("orbit", o) for o in orbits) + tuple(("diagram", d) for d in extra)
    pruning = f"orbit elements with at most n={n} blocks (disjoint supports)"
    return HomBasis(group, n, k, l, "orbit", tuple(terms), coeff, definitions,
                    len(spanning_set(group, n, k, l)), pruning)


def hom_basis(group: str, n: int, k: int, l: int, kind: BasisKind = "diagram") -> HomBasis:
    """A basis of Hom_G((R^n)^{⊗k}, (R^n)^{⊗l}) built from diagrams.

    Parameters
    ----------
    group : {"S", "A", "O", "SO", "Sp"}
    n : int
        Size of the defining representation (even for Sp).
    k, l : int
        Input and output tensor orders.
    kind : {"diagram", "orbit", "spanning_set"}
        ``"diagram"``: the diagrams themselves, pruned to a basis; ``"orbit"`` (S and A only):
        the orbit basis; ``"spanning_set"``: every diagram unpruned (over-parametrised when
        dependent).

    Returns
    -------
    HomBasis
        ``len(basis) == hom_dimension(group, n, k, l)`` unless ``kind == "spanning_set"``.
    """
    full = spanning_set(group, n, k, l)
    if kind == "spanning_set":
        return _identity_basis(group, n, k, l, kind, full, len(full), "none (spanning set)")
    extra = jellyfish_diagrams(n, k, l) if group == "A" else []
    if kind == "orbit":
        if group not in ("S", "A"):
            raise ValueError(f"the orbit basis exists for S and A only, not {group!r}")
        return _orbit_basis(group, n, k, l, extra)
    if kind != "diagram":
        raise ValueError(f"unknown basis kind {kind!r}; expected 'diagram', 'orbit' or 'spanning_set'")
    if group in ("S", "A"):
        kept = partition_diagrams(k, l, max_blocks=n) + extra
        pruning = "none" if len(kept) == len(full) else f"partition diagrams with at most n={n} blocks"
        return _identity_basis(group, n, k, l, kind, kept, len(full), pruning)
    dim = hom_dimension(group, n, k, l)
    if len(full) == dim:
        return _identity_basis(group, n, k, l, kind, full, len(full), "none")
    if n ** (k + l) > MAX_DENSE_ENTRIES:
        raise ValueError(
            f"{group}({n}) with k={k}, l={l}: the spanning set is dependent and pruning it needs "
            f"dense n^(k+l) = {n ** (k + l)} entries (limit {MAX_DENSE_ENTRIES}); use kind='spanning_set'"
        )
    kept_idx = independent_subset([diagram_matrix(d, n, k, l) for d in full])
    kept = [full[i] for i in kept_idx]
    return _identity_basis(group, n, k, l, kind, kept, len(full), "greedy rank (Gram-Schmidt, float64)")
