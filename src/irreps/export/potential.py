"""``ExportedPotential``: the TorchScript artefact engines call, with energy, forces and virial.

It wraps a recorded :class:`~irreps.export.core.NodeEnergy` and is compiled with
``torch.jit.script``, so the saved file runs with ``torch.jit.load`` alone (no irreps)::

    model = torch.jit.load("model.pt")
    out = model(positions, atomic_numbers, cell, pbc, edge_index, cell_shifts,
                compute_virial=True, per_atom=True)
    out["energy"], out["forces"], out["virial"], out["energies"]

Neighbour-list contract: a *full* list (both ``i -> j`` and ``j -> i``) with integer cell
shifts, ``r_ij = pos[j] - pos[i] + cell_shifts @ cell``, holding at least every pair closer than
``cutoff``. Pairs beyond the cutoff contribute exactly zero (every model multiplies its edge
terms by a cutoff function that vanishes there), so engines may pass a list with a skin.
Units: Å and eV; ``virial = -dE/d(strain)`` in eV (ASE's stress is ``-virial / volume``).
"""

# No `from __future__ import annotations`: torch.jit.script reads these annotations.
from typing import Dict, List, Optional

import torch
from torch import Tensor


def element_rows(lookup: Tensor, atomic_numbers: Tensor) -> Tensor:
    """Row of each atom's element in the model's tables; a clear error for unknown elements."""
    in_range = (atomic_numbers >= 0) & (atomic_numbers < lookup.shape[0])
    rows = lookup[atomic_numbers.clamp(0, lookup.shape[0] - 1)]
    unknown = (~in_range) | (rows < 0)
    if bool(unknown.any()):
        found: List[int] = torch.unique(atomic_numbers[unknown]).tolist()
        raise ValueError("atomic numbers " + str(found) + " are not among the model's elements")
    return rows


def strained_edge_vectors(positions: Tensor, cell: Tensor, edge_index: Tensor, cell_shifts: Tensor,
                          strain: Tensor) -> Tensor:
    """``r_ij`` [E, 3] of the structure deformed by the symmetric part of ``strain`` [3, 3] (zeros:
    differentiating by it gives ``dE/d(strain)``, the virial's negative)."""
    deform = torch.eye(3, dtype=positions.dtype, device=positions.device) + 0.5 * (strain + strain.T)
    pos = positions @ deform
    return pos[edge_index[1]] - pos[edge_index[0]] + cell_shifts.to(positions.dtype) @ (cell @ deform)


def lookup_table(elements: List[int]) -> Tensor:
    """``lookup[Z]`` = row of element ``Z`` in ``elements``, -1 for elements the model does not know."""
    table = torch.full((max(elements) + 1,), -1, dtype=torch.long)
    table[torch.tensor(elements)] = torch.arange(len(elements))
    return table


class ExportedPotential(torch.nn.Module):
    """Energy, forces and virial of one structure from a recorded node-energy function.

    Attributes (read them from the loaded file): ``elements``, ``cutoff`` and
    ``interaction_range`` (Å; ``num_layers x cutoff``, the ghost-atom depth a domain-decomposed
    engine needs), ``length_unit`` ("angstrom"), ``energy_unit`` ("eV"), ``dtype``
    ("float32"/"float64", of positions and cell), ``model_name``.
    """

    def __init__(self, core: torch.nn.Module, elements: List[int], cutoff: float, interaction_range: float,
                 dtype: str, model_name: str):
        super().__init__()
        self.core = core
        self.elements = elements
        self.cutoff = cutoff
        self.interaction_range = interaction_range
        self.length_unit = "angstrom"
        self.energy_unit = "eV"
        self.dtype = dtype
        self.model_name = model_name
        self.register_buffer("lookup", lookup_table(elements))

    def forward(self, positions: Tensor, atomic_numbers: Tensor, cell: Tensor, pbc: Tensor, edge_index: Tensor,
                cell_shifts: Tensor, compute_virial: bool = False, per_atom: bool = False) -> Dict[str, Tensor]:
        """positions [N, 3] (Å), atomic_numbers [N], cell [3, 3] (rows), pbc [3] (bool), edge_index
        [2, E] (receiver i, neighbour j), cell_shifts [E, 3] (integers) -> ``energy`` [] (float64, eV),
        ``forces`` [N, 3] (eV/Å), ``virial`` [3, 3] (eV, when asked), ``energies`` [N] (when asked)."""
        if positions.dim() != 2 or positions.shape[1] != 3 or atomic_numbers.shape[0] != positions.shape[0]:
            raise ValueError("positions must be [N, 3] with one atomic number per atom")
        if edge_index.dim() != 2 or edge_index.shape[0] != 2 or cell_shifts.shape[0] != edge_index.shape[1]:
            raise ValueError("edge_index must be [2, E] with one row of cell_shifts [E, 3] per edge")
        if bool(((cell_shifts != 0) & ~pbc.view(1, 3)).any()):
            raise ValueError("the neighbour list has cell shifts along a non-periodic direction")
        species = element_rows(self.lookup, atomic_numbers)
        leaf = positions.detach().requires_grad_(True)
        strain = torch.zeros(3, 3, dtype=positions.dtype, device=positions.device).requires_grad_(compute_virial)
        vectors = strained_edge_vectors(leaf, cell, edge_index, cell_shifts, strain)
        node_energy = self.core(vectors, edge_index, species)
        energy = node_energy.sum()
        inputs = [leaf, strain] if compute_virial else [leaf]
        grads: List[Optional[Tensor]] = [None, None]
        if energy.requires_grad:  # false only for a model without any edge term
            grads = torch.autograd.grad([energy], inputs, allow_unused=True)
        out: Dict[str, Tensor] = {"energy": energy.detach(), "forces": zeros_if_none(grads[0], leaf).neg()}
        if compute_virial:
            out["virial"] = zeros_if_none(grads[1], strain).neg()
        if per_atom:
            out["energies"] = node_energy.detach()
        return out


def zeros_if_none(grad: Optional[Tensor], like: Tensor) -> Tensor:
    """``grad``, or zeros shaped like ``like`` where autograd found no dependence."""
    return torch.zeros_like(like) if grad is None else grad
