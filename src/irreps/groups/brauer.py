"""Brauer diagrams: spanning sets for O(n), SO(n) and Sp(n) equivariant maps.

A Brauer diagram pairs the ``l + k`` points (outputs first) into ``(l+k)/2`` edges. For O(n)
every edge is a Kronecker delta. For Sp(n) (n even) an edge inside one row uses the symplectic
form: an input-input edge (a "cap") contracts with ``J = [[0, I], [-I, 0]]``, an output-output
edge (a "cup") writes ``J^{-1} = J^T``, both invariant because ``g^T J g = J``; edges between the
rows stay deltas. For SO(n) the determinant adds diagrams in which ``n`` chosen points are free
vertices joined to the Levi-Civita symbol and the other ``l + k - n`` points are paired by deltas.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations

from .diagrams import Diagram, canonical


def perfect_matchings(points: tuple[int, ...]) -> Iterator[list[tuple[int, int]]]:
    """All pairings of ``points`` (an even number of them): (len - 1)!! lists of pairs ``(a, b)``, a < b."""
    if not points:
        yield []
        return
    first, rest = points[0], points[1:]
    for i, partner in enumerate(rest):
        for tail in perfect_matchings(rest[:i] + rest[i + 1 :]):
            yield [(first, partner)] + tail


def _labels_from_pairs(m: int, pairs: list[tuple[int, int]], free: tuple[int, ...] = ()) -> list[int]:
    labels = [-1] * m
    for lab, point in enumerate(free):
        labels[point] = lab
    for lab, (a, b) in enumerate(pairs, start=len(free)):
        labels[a] = labels[b] = lab
    return labels


def brauer_diagrams(k: int, l: int) -> list[Diagram]:
    """Brauer diagrams (all edges deltas): the O(n) spanning set, empty when ``k + l`` is odd."""
    m = k + l
    if m % 2:
        return []
    return [canonical(tuple(_labels_from_pairs(m, pairs))) for pairs in perfect_matchings(tuple(range(m)))]


def determinant_diagrams(n: int, k: int, l: int) -> list[Diagram]:
    """SO(n) diagrams with ``n`` free vertices on the Levi-Civita symbol, the rest paired by deltas.

    The free vertices enter epsilon in increasing point order; there are C(l+k, n) (l+k-n-1)!!
    of them when ``l + k - n`` is even and non-negative, none otherwise.
    """
    m = k + l
    if n > m or (m - n) % 2:
        return []
    out = []
    for free in combinations(range(m), n):
        rest = tuple(p for p in range(m) if p not in free)
        for pairs in perfect_matchings(rest):
            labels = _labels_from_pairs(m, pairs, free)
            out.append(canonical(tuple(labels), (("eps", tuple(range(n))),)))
    return out


def symplectic_diagrams(k: int, l: int) -> list[Diagram]:
    """Brauer diagrams for Sp(n) in the basis where the form is J: caps use J, cups use J^T.

    Each point gets its own label unless its edge crosses between the rows, in which case
    both ends share one (a delta).
    """
    m = k + l
    if m % 2:
        return []
    out = []
    for pairs in perfect_matchings(tuple(range(m))):
        labels = list(range(m))
        tensors = []
        for a, b in pairs:
            if (a < l) != (b < l):
                labels[b] = labels[a]
            else:
                tensors.append(("omega_t" if a < l else "omega", (labels[a], labels[b])))
        out.append(canonical(tuple(labels), tuple(tensors)))
    return out
