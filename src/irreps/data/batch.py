"""Concatenating :class:`~irreps.data.graph.AtomicGraph` objects into one batch, and back.

A batch is a single graph whose connected components are the structures: atoms and edges
are concatenated, ``edge_index`` is offset by the number of atoms before each structure and
``batch`` by the number of structures before it. Every target is concatenated along its first
axis, which for the Hessian means its flattened (3N_b x 3N_b) blocks follow one another.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from irreps.data.graph import AtomicGraph


def collate(graphs: Sequence[AtomicGraph]) -> AtomicGraph:
    """One batch from single structures or smaller batches.

    Parameters
    ----------
    graphs : sequence of AtomicGraph
        All must carry the same target fields and the same floating dtype.

    Returns
    -------
    AtomicGraph
        ``num_graphs`` is the total number of structures; ``info`` lists are concatenated, with
        ``None`` for a structure that lacks an entry.

    Raises
    ------
    ValueError
        For an empty sequence or target fields present in some graphs only.
    """
    if len(graphs) == 0:
        raise ValueError("collate needs at least one graph")
    names = set(graphs[0].targets)
    for n, graph in enumerate(graphs):
        if set(graph.targets) != names:
            raise ValueError(
                f"graph {n} has targets {sorted(graph.targets)} but graph 0 has {sorted(names)}; "
                "every structure of a batch must carry the same fields"
            )
    atom_offsets = _offsets([g.num_atoms for g in graphs])
    graph_offsets = _offsets([g.num_graphs for g in graphs])
    info_names = sorted({name for g in graphs for name in g.info})
    return AtomicGraph(
        positions=torch.cat([g.positions for g in graphs]),
        atomic_numbers=torch.cat([g.atomic_numbers for g in graphs]),
        edge_index=torch.cat([g.edge_index + off for g, off in zip(graphs, atom_offsets)], dim=1),
        shifts=torch.cat([g.shifts for g in graphs]),
        batch=torch.cat([g.batch + off for g, off in zip(graphs, graph_offsets)]),
        cell=torch.cat([g.cell for g in graphs]),
        pbc=torch.cat([g.pbc for g in graphs]),
        num_graphs=sum(g.num_graphs for g in graphs),
        targets={name: torch.cat([g.targets[name] for g in graphs]) for name in graphs[0].targets},
        info={name: [v for g in graphs for v in g.info.get(name, [None] * g.num_graphs)] for name in info_names},
    )


def split_hessian(hessian: Tensor, atoms_per_graph: Tensor | Sequence[int]) -> list[Tensor]:
    """The per-structure Hessian matrices of a batch.

    Parameters
    ----------
    hessian : Tensor [sum_b 9 N_b^2]
        Concatenated flattened row-major blocks, as in ``AtomicGraph.targets["hessian"]``.
    atoms_per_graph : Tensor [num_graphs] or sequence of int
        ``N_b`` for each structure (``graph.atoms_per_graph()``).

    Returns
    -------
    list of Tensor [3 N_b, 3 N_b]
        Views into ``hessian``; entry ``[3a + x, 3b + y]`` is d2E / dr_{a,x} dr_{b,y}.
    """
    counts = [int(n) for n in atoms_per_graph]
    sizes = [9 * n * n for n in counts]
    if hessian.ndim != 1 or hessian.numel() != sum(sizes):
        raise ValueError(
            f"hessian has shape {tuple(hessian.shape)}, expected a flat vector of {sum(sizes)} "
            f"numbers for structures of {counts} atoms"
        )
    return [block.view(3 * n, 3 * n) for block, n in zip(torch.split(hessian, sizes), counts)]


def _offsets(counts: list[int]) -> list[int]:
    offsets, total = [], 0
    for count in counts:
        offsets.append(total)
        total += count
    return offsets
