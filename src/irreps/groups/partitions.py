"""Set partitions: the spanning sets of S_n and A_n equivariant maps, and the orbit basis.

For S_n the partition diagrams ``D_pi`` (indices equal within each block) span
Hom_{S_n}((R^n)^{⊗k}, (R^n)^{⊗l}); the orbit elements ``X_pi`` (equal within blocks *and*
distinct across blocks) with at most n blocks are a basis, and ``D_pi = sum_{sigma >= pi}
X_sigma`` over coarsenings. Möbius inversion on the partition lattice gives
``X_pi = sum_{sigma >= pi} mu(pi, sigma) D_sigma`` with ``mu = prod_b (-1)^(c_b - 1) (c_b - 1)!``
where block b of sigma merges c_b blocks of pi.

For A_n every S_n orbit with t >= n - 1 blocks splits in two; the difference of the halves is
the "jellyfish" element: the block values fed to the Levi-Civita symbol (t = n), or to the
symbol with one leg summed (t = n - 1, the missing value completes the permutation).
"""

from __future__ import annotations

from collections.abc import Iterator
from math import factorial

from .diagrams import Diagram, canonical


def set_partitions(m: int) -> Iterator[tuple[int, ...]]:
    """All set partitions of ``m`` points as restricted-growth label tuples.

    ``labels[0] = 0`` and ``labels[i] <= max(labels[:i]) + 1``; there are Bell(m) of them.
    """
    if m == 0:
        yield ()
        return

    def grow(prefix: list[int], top: int) -> Iterator[tuple[int, ...]]:
        if len(prefix) == m:
            yield tuple(prefix)
            return
        for lab in range(top + 2):
            prefix.append(lab)
            yield from grow(prefix, max(top, lab))
            prefix.pop()

    yield from grow([0], 0)


def partition_diagrams(k: int, l: int, max_blocks: int | None = None) -> list[Diagram]:
    """Partition diagrams of ``l + k`` points, optionally only those with at most ``max_blocks`` blocks."""
    out = []
    for labels in set_partitions(k + l):
        if max_blocks is None or len(set(labels)) <= max_blocks:
            out.append(Diagram(labels))
    return out


def coarsenings(labels: tuple[int, ...]) -> Iterator[tuple[tuple[int, ...], int]]:
    """Every partition ``sigma >= pi`` (merging blocks of ``pi``) with the Möbius value mu(pi, sigma).

    Yields ``(sigma labels, mu)``; a partition of the blocks of pi gives each coarsening once.
    """
    num = len(set(labels))
    for merge in set_partitions(num):
        sizes: dict[int, int] = {}
        for b in merge:
            sizes[b] = sizes.get(b, 0) + 1
        mu = 1
        for c in sizes.values():
            mu *= (-1) ** (c - 1) * factorial(c - 1)
        yield canonical(tuple(merge[x] for x in labels)).labels, mu


def jellyfish_diagrams(n: int, k: int, l: int) -> list[Diagram]:
    """The extra A_n elements: partitions with n or n - 1 blocks, blocks fed to epsilon.

    Empty for n < 2 (A_1 = S_1; A_n has index 2 in S_n only from n = 2 on).
    """
    if n < 2:
        return []
    out = []
    for labels in set_partitions(k + l):
        t = len(set(labels))
        if t == n:
            out.append(Diagram(labels, (("eps", tuple(range(n))),)))
        elif t == n - 1:
            out.append(Diagram(labels, (("eps_open", tuple(range(n - 1))),)))
    return out
