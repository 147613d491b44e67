"""``AtomicGraph``: one structure or a batch of structures, as the models consume it.

A batch concatenates the atoms of all structures; ``batch[i]`` is the structure of atom ``i``.
Edges follow the library convention: ``edge_index[0]`` is the receiving atom i,
``edge_index[1]`` the neighbour j, and the edge vector is
``r_ij = pos[j] - pos[i] + shifts[e]`` where ``shifts`` are Cartesian periodic-image
offsets (Å) already multiplied by the cell.

Targets (energy, forces, ...) are optional and carried in ``targets`` under the names
declared in :mod:`irreps.data.keys`. Hessians are stored per structure as flattened
row-major (3N_b x 3N_b) blocks concatenated over the batch (atom-major ordering).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor


@dataclass
class AtomicGraph:
    """A batch of atomic structures with a neighbour graph.

    Attributes
    ----------
    positions : Tensor [num_atoms, 3]
        Cartesian positions in Å.
    atomic_numbers : Tensor [num_atoms] (int64)
    edge_index : Tensor [2, num_edges] (int64)
        ``edge_index[0]`` receiving atom i, ``edge_index[1]`` neighbour j.
    shifts : Tensor [num_edges, 3]
        Cartesian image offsets in Å, so ``r_ij = pos[j] - pos[i] + shifts``.
    batch : Tensor [num_atoms] (int64)
        Index of the structure each atom belongs to.
    cell : Tensor [num_graphs, 3, 3]
        Lattice vectors as rows (zeros for a non-periodic structure).
    pbc : Tensor [num_graphs, 3] (bool)
    num_graphs : int
    targets : dict[str, Tensor]
        Reference values (``energy`` [num_graphs], ``forces`` [num_atoms, 3], ...).
    info : dict[str, list]
        Per-structure non-tensor metadata (e.g. ``config_type``), one entry per structure.
    """

    positions: Tensor
    atomic_numbers: Tensor
    edge_index: Tensor
    shifts: Tensor
    batch: Tensor
    cell: Tensor
    pbc: Tensor
    num_graphs: int
    targets: dict[str, Tensor] = field(default_factory=dict)
    info: dict[str, list] = field(default_factory=dict)

    @property
    def num_atoms(self) -> int:
        return int(self.positions.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])

    def atoms_per_graph(self) -> Tensor:
        """Number of atoms of each structure, [num_graphs] (int64; shape fixed by ``num_graphs``)."""
        counts = torch.zeros(self.num_graphs, dtype=torch.long, device=self.batch.device)
        return counts.index_add_(0, self.batch, torch.ones_like(self.batch))

    def edge_vectors(self) -> Tensor:
        """``r_ij = pos[j] - pos[i] + shift`` for every edge, [num_edges, 3]."""
        i, j = self.edge_index
        return self.positions[j] - self.positions[i] + self.shifts

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "AtomicGraph":
        """Copy to a device and/or floating dtype (integer tensors keep their dtype)."""

        def move(t: Tensor) -> Tensor:
            if t.is_floating_point():
                return t.to(device=device, dtype=dtype)
            return t.to(device=device)

        return replace(
            self,
            positions=move(self.positions),
            atomic_numbers=move(self.atomic_numbers),
            edge_index=move(self.edge_index),
            shifts=move(self.shifts),
            batch=move(self.batch),
            cell=move(self.cell),
            pbc=move(self.pbc),
            targets={k: move(v) for k, v in self.targets.items()},
            info=dict(self.info),
        )
