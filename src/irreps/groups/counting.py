"""Dimensions of Hom_G((R^n)^{⊗k}, (R^n)^{⊗l}) for G = S_n, A_n, O(n), SO(n), Sp(n).

The Hom space is the space of G-invariants in (R^n)^{⊗m}, m = k + l.

- S_n: orbits of S_n on [n]^m are set partitions with at most n blocks, so the dimension is
  the restricted Bell number ``sum_{t <= n} S(m, t)`` (Stirling numbers of the second kind).
- A_n (n >= 2): an S_n orbit with t blocks has stabiliser Sym(n - t), which lies in A_n exactly
  when n - t <= 1; those orbits split in two, adding ``S(m, n) + S(m, n - 1)``.
- O(n), SO(n), Sp(n): by Schur-Weyl duality (R^n)^{⊗m} = ⊕_mu S_mu(R^n) ⊗ Specht_mu over
  partitions mu of m with at most n rows, and each Schur module has at most a one-dimensional
  space of invariants (spherical pairs): for O(n) when every part of mu is even; for SO(n) also
  when mu has exactly n rows and every part odd (the determinant twists those); for Sp(n)
  when every column is even. The dimension is the sum of f^mu (standard tableaux, hook length
  formula) over those mu. In the stable range (n >= m/2 for O(n), n >= m for Sp(n)) this is
  (m - 1)!!, and it is 0 when m is odd (except SO(n) with m - n even).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from math import factorial

GROUPS = ("S", "A", "O", "SO", "Sp")


def check_group(group: str, n: int) -> None:
    """Raise ValueError for an unknown group name or a size it does not have."""
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}; expected one of {GROUPS}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if group == "Sp" and n % 2:
        raise ValueError(f"Sp(n) needs an even n, got n={n}")


@lru_cache(maxsize=None)
def stirling2(m: int, t: int) -> int:
    """Stirling number of the second kind: partitions of m points into exactly t blocks."""
    if m == t:
        return 1
    if t == 0 or t > m:
        return 0
    return t * stirling2(m - 1, t) + stirling2(m - 1, t - 1)


def restricted_bell(m: int, n: int) -> int:
    """Set partitions of m points with at most n blocks."""
    return sum(stirling2(m, t) for t in range(n + 1))


def double_factorial(m: int) -> int:
    """m!! for m >= -1 (with (-1)!! = 1, so a 0-point Hom space has dimension 1)."""
    out = 1
    while m > 1:
        out *= m
        m -= 2
    return out


def integer_partitions(m: int, largest: int | None = None) -> Iterator[tuple[int, ...]]:
    """Partitions of m as non-increasing tuples."""
    largest = m if largest is None else largest
    if m == 0:
        yield ()
        return
    for first in range(min(m, largest), 0, -1):
        for rest in integer_partitions(m - first, first):
            yield (first,) + rest


def num_standard_tableaux(mu: tuple[int, ...]) -> int:
    """f^mu by the hook length formula."""
    conj = [sum(1 for part in mu if part > j) for j in range(mu[0])] if mu else []
    hooks = 1
    for i, part in enumerate(mu):
        for j in range(part):
            hooks *= (part - j - 1) + (conj[j] - i - 1) + 1
    return factorial(sum(mu)) // hooks


def _conjugate(mu: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(sum(1 for part in mu if part > j) for j in range(mu[0])) if mu else ()


def hom_dimension(group: str, n: int, k: int, l: int) -> int:
    """Dimension of Hom_G((R^n)^{⊗k}, (R^n)^{⊗l}).

    Parameters
    ----------
    group : {"S", "A", "O", "SO", "Sp"}
    n : int
        Size of the defining representation (Sp needs n even).
    k, l : int
        Input and output tensor orders.
    """
    check_group(group, n)
    if k < 0 or l < 0:
        raise ValueError(f"tensor orders must be non-negative, got k={k}, l={l}")
    m = k + l
    if group == "S":
        return restricted_bell(m, n)
    if group == "A":
        extra = stirling2(m, n) + stirling2(m, n - 1) if n >= 2 else 0
        return restricted_bell(m, n) + extra
    if group in ("O", "Sp") and m % 2:
        return 0
    if group == "O" and 2 * n >= m:
        return double_factorial(m - 1)
    if group == "Sp" and n >= m:
        return double_factorial(m - 1)
    total = 0
    for mu in integer_partitions(m):
        rows = len(mu)
        if rows > n:
            continue
        if group in ("O", "SO") and all(p % 2 == 0 for p in mu):
            total += num_standard_tableaux(mu)
        elif group == "SO" and rows == n and all(p % 2 == 1 for p in mu):
            total += num_standard_tableaux(mu)
        elif group == "Sp" and all(c % 2 == 0 for c in _conjugate(mu)):
            total += num_standard_tableaux(mu)
    return total
