"""OpenMM: a TorchScript artefact as a ``TorchForce`` (openmm-torch), with its own neighbour list.

OpenMM hands a TorchForce module positions (nm) and, for periodic systems, box vectors (nm)
and wants the energy (kJ/mol). :class:`OpenMMPotential` wraps the TorchScript artefact of
:mod:`irreps.export.torchscript`: it wraps positions into the box, finds every pair (and
periodic image) closer than the cutoff, converts units, and returns energy and forces
(``setOutputsForces(True)``: the artefact already differentiated). All pairs are tested, which
is right for the molecules and small boxes OpenMM users run ML potentials on (O(N^2) memory).

:func:`openmm_system` builds an ``openmm.System`` from any file ASE reads (XYZ, PDB, ...) with
that force as its only force. Needs ``openmm`` and a TorchForce plugin built for the installed
torch (docs/export.md says which); loading the saved module needs neither irreps nor openmm.
"""

# No `from __future__ import annotations`: torch.jit.script reads these annotations.
import os
from pathlib import Path
from typing import Any, List, Optional, Tuple

import torch
from torch import Tensor

EV_IN_KJ_PER_MOL = 96.48533212331002  # CODATA 2018, the constants OpenMM uses
NM_IN_ANGSTROM = 10.0


def all_pairs(positions: Tensor, cell: Tensor, periodic: bool, cutoff: float) -> Tuple[Tensor, Tensor]:
    """Full neighbour list of ``positions`` [N, 3] (Å, inside ``cell`` when periodic):
    ``edge_index`` [2, E] and integer ``cell_shifts`` [E, 3] of every pair closer than ``cutoff``."""
    n = positions.shape[0]
    device = positions.device
    if periodic:
        volume = torch.linalg.det(cell).abs()
        faces = torch.stack((torch.linalg.cross(cell[1], cell[2]), torch.linalg.cross(cell[2], cell[0]),
                             torch.linalg.cross(cell[0], cell[1])))
        # images along each lattice vector: cutoff over the distance between opposite faces
        reps: List[int] = torch.ceil(cutoff * torch.linalg.norm(faces, dim=1) / volume).to(torch.long).tolist()
        axes = [torch.arange(-r, r + 1, device=device) for r in reps]
        shifts = torch.cartesian_prod(axes[0], axes[1], axes[2])
    else:
        shifts = torch.zeros(1, 3, dtype=torch.long, device=device)
    offsets = shifts.to(positions.dtype) @ cell
    # [S, N, N, 3]: r_ij + shift for every image
    vectors = positions[None, None, :, :] - positions[None, :, None, :] + offsets[:, None, None, :]
    keep = vectors.square().sum(-1) < cutoff * cutoff
    keep = keep & ~((shifts.abs().sum(1) == 0)[:, None, None] & torch.eye(n, dtype=torch.bool, device=device))
    s, i, j = torch.nonzero(keep).unbind(1)
    return torch.stack((i, j)), shifts[s]


class OpenMMPotential(torch.nn.Module):
    """TorchForce module: ``(positions [N, 3] nm, box [3, 3] nm) -> (energy kJ/mol, forces kJ/mol/nm)``."""

    def __init__(self, potential: torch.jit.ScriptModule, atomic_numbers: List[int], periodic: bool):
        super().__init__()
        self.potential = potential
        self.register_buffer("atomic_numbers", torch.tensor(atomic_numbers, dtype=torch.long))
        self.periodic = periodic
        self.cutoff = float(potential.cutoff)
        self.dtype = torch.float64 if potential.dtype == "float64" else torch.float32
        self.angstrom_per_nm = NM_IN_ANGSTROM  # attributes: TorchScript reads no module globals
        self.kj_per_mol_per_ev = EV_IN_KJ_PER_MOL

    def forward(self, positions: Tensor, boxvectors: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        # Units and wrapping in OpenMM's precision, then one rounding to the model's dtype.
        pos = positions * self.angstrom_per_nm
        cell = torch.zeros(3, 3, dtype=pos.dtype, device=pos.device)
        if self.periodic:
            if boxvectors is None:
                raise ValueError("a periodic OpenMMPotential needs box vectors")
            cell = boxvectors.to(pos.dtype) * self.angstrom_per_nm
            fractional = pos @ torch.linalg.inv(cell)
            pos = (fractional - torch.floor(fractional)) @ cell  # into the cell; forces do not change
        pos, cell = pos.to(self.dtype), cell.to(self.dtype)
        edge_index, cell_shifts = all_pairs(pos, cell, self.periodic, self.cutoff)
        pbc = torch.full((3,), self.periodic, dtype=torch.bool, device=pos.device)
        out = self.potential(pos, self.atomic_numbers, cell, pbc, edge_index, cell_shifts)
        energy = out["energy"] * self.kj_per_mol_per_ev
        forces = out["forces"].to(positions.dtype) * (self.kj_per_mol_per_ev * self.angstrom_per_nm)
        return energy.to(positions.dtype), forces


def openmm_module(artefact: str | os.PathLike, atomic_numbers: List[int], periodic: bool) -> torch.jit.ScriptModule:
    """The scripted :class:`OpenMMPotential` around the TorchScript artefact at ``artefact``."""
    potential = torch.jit.load(str(artefact))
    unknown = sorted(set(atomic_numbers) - set(potential.elements))
    if unknown:
        raise ValueError(f"the model at {artefact} does not know atomic numbers {unknown}; it knows {potential.elements}")
    return torch.jit.script(OpenMMPotential(potential, [int(z) for z in atomic_numbers], periodic))


def openmm_system(structure, artefact: str | os.PathLike, module_path: str | os.PathLike | None = None) -> tuple[Any, Any]:
    """``(openmm.System, positions in nm)`` of ``structure`` (an ``ase.Atoms`` or a file ASE reads)
    with the TorchScript ``artefact`` as its only force; periodic when all three directions are.

    The force's module is saved to ``module_path`` (default: beside the artefact, ``*.openmm.pt``).
    """
    import ase.io
    import openmm
    from openmmtorch import TorchForce

    atoms = structure if hasattr(structure, "positions") else ase.io.read(structure)
    if atoms.pbc.any() and not atoms.pbc.all():
        raise ValueError(f"OpenMM boxes are periodic in all three directions or none; got pbc={atoms.pbc.tolist()}")
    periodic = bool(atoms.pbc.all())
    module = openmm_module(artefact, atoms.numbers.tolist(), periodic)
    module_path = Path(module_path) if module_path else Path(artefact).with_suffix(".openmm.pt")
    module.save(str(module_path))
    system = openmm.System()
    for mass in atoms.get_masses():
        system.addParticle(float(mass))
    if periodic:
        a, b, c = (openmm.Vec3(*(row / NM_IN_ANGSTROM)) for row in atoms.cell.array)
        system.setDefaultPeriodicBoxVectors(a, b, c)
    force = TorchForce(str(module_path))
    force.setOutputsForces(True)
    force.setUsesPeriodicBoundaryConditions(periodic)
    system.addForce(force)
    return system, atoms.positions / NM_IN_ANGSTROM
