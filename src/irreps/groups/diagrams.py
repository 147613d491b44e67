"""The diagram data type shared by every group: points, blocks and vertex tensors.

A diagram for Hom((R^n)^{⊗k}, (R^n)^{⊗l}) has ``l + k`` points: the ``l`` output points
first (positions ``0 .. l-1``), then the ``k`` input points (``l .. l+k-1``). Each point
carries a label; points with the same label must carry the same index value (a block of
a set partition). A diagram may also carry small *vertex tensors* whose legs are labels:
the Levi-Civita symbol for SO(n) and A_n, the symplectic form for Sp(n). Its matrix is

    D[i_0..i_{l-1}, j_0..j_{k-1}] = [indices constant on every block] * prod_T T[values of its legs],

which is the definition `dense.diagram_matrix` evaluates and `fast.DiagramOperator` applies
without forming D.
"""

from __future__ import annotations

from dataclasses import dataclass

VERTEX_TENSORS = ("eps", "eps_open", "omega", "omega_t")


@dataclass(frozen=True)
class Diagram:
    """One spanning-set element.

    Attributes
    ----------
    labels : tuple[int, ...]
        Label of each of the ``l + k`` points (outputs first), canonical: labels appear in
        first-occurrence order ``0, 1, 2, ...``.
    tensors : tuple[tuple[str, tuple[int, ...]], ...]
        Vertex tensors as ``(name, leg labels)``; ``name`` is one of ``VERTEX_TENSORS``:
        ``eps`` is the Levi-Civita symbol with n legs, ``eps_open`` the same with its last
        leg summed against the all-ones vector (n-1 legs), ``omega`` the symplectic form
        J = [[0, I], [-I, 0]] and ``omega_t`` its transpose.
    """

    labels: tuple[int, ...]
    tensors: tuple[tuple[str, tuple[int, ...]], ...] = ()

    def __post_init__(self) -> None:
        for name, legs in self.tensors:
            if name not in VERTEX_TENSORS:
                raise ValueError(f"unknown vertex tensor {name!r}; expected one of {VERTEX_TENSORS}")
            if not set(legs) <= set(self.labels):
                raise ValueError(f"vertex tensor {name!r} has a leg {legs} that touches no point")

    @property
    def num_blocks(self) -> int:
        return len(set(self.labels))


def canonical(labels: tuple[int, ...], tensors: tuple = ()) -> Diagram:
    """Relabel blocks in first-occurrence order so equal diagrams compare equal."""
    relabel: dict[int, int] = {}
    for lab in labels:
        relabel.setdefault(lab, len(relabel))
    new_tensors = tuple((name, tuple(relabel[x] for x in legs)) for name, legs in tensors)
    return Diagram(tuple(relabel[x] for x in labels), new_tensors)


def blocks(labels: tuple[int, ...]) -> list[list[int]]:
    """The points of each block, blocks in label order: ``[[points with label 0], ...]``."""
    out: list[list[int]] = [[] for _ in range(max(labels, default=-1) + 1)]
    for point, lab in enumerate(labels):
        out[lab].append(point)
    return out
