"""metatomic export: one TorchScript file that metatomic engines load (ASE, LAMMPS, i-PI, TorchSim...).

The file is a ``metatomic.torch.AtomisticModel`` around :class:`MetatomicPotential`, which
asks the engine for a full neighbour list at the model's cutoff and returns the ``energy``
output (total, or per atom when the engine asks); engines take forces and stress from it by
autograd through the pair vectors metatomic hands the model. Declared capabilities: Å, eV,
the model's elements, ``interaction_range = interaction_hops x cutoff``, dtype, CPU and CUDA.

Needs the optional extra ``pip install 'irreps[metatomic]'`` (metatomic-torch); loading the
file needs metatomic-torch, never irreps.
"""

# No `from __future__ import annotations`: torch.jit.script reads these annotations.
import os
from pathlib import Path
from typing import Dict, List, Optional

import torch
from torch import Tensor

from irreps.export.checks import check_artefact
from irreps.export.core import trace_node_energy
from irreps.export.potential import element_rows, lookup_table
from irreps.export.torchscript import DTYPES, declared_metadata
from irreps.nn.potential import EnergyModel

try:
    from metatensor.torch import Labels, TensorBlock, TensorMap
    from metatomic.torch import (AtomisticModel, ModelCapabilities, ModelMetadata, ModelOutput,
                                 NeighborListOptions, System)
except ImportError:  # the optional extra is absent; export_metatomic says so
    AtomisticModel = None


class MetatomicPotential(torch.nn.Module):
    """metatomic's model interface around a recorded node-energy function (see the module docstring)."""

    def __init__(self, core: torch.nn.Module, elements: List[int], cutoff: float):
        super().__init__()
        self.core = core
        self.register_buffer("lookup", lookup_table(elements))
        self.neighbors = NeighborListOptions(cutoff=cutoff, full_list=True, strict=False, requestor="irreps")

    def requested_neighbor_lists(self) -> List[NeighborListOptions]:
        return [self.neighbors]

    def forward(self, systems: List[System], outputs: Dict[str, ModelOutput],
                selected_atoms: Optional[Labels] = None) -> Dict[str, TensorMap]:
        if "energy" not in outputs:
            return {}
        per_atom = outputs["energy"].sample_kind == "atom"
        values: List[Tensor] = []
        samples: List[Tensor] = []
        for s, system in enumerate(systems):
            pairs = system.get_neighbor_list(self.neighbors)
            edge_index = pairs.samples.values[:, :2].T.to(torch.long)
            vectors = pairs.values.reshape(-1, 3)
            node_energy = self.core(vectors, edge_index, element_rows(self.lookup, system.types.to(torch.long)))
            atoms = torch.arange(len(system), device=vectors.device)
            if selected_atoms is not None:
                chosen = selected_atoms.values
                atoms = chosen[chosen[:, 0] == s, 1].to(torch.long)
                node_energy = node_energy[atoms]
            # Outputs in the model's dtype, as metatomic asks; the total is summed in float64 first.
            if per_atom:
                values.append(node_energy.to(vectors.dtype).reshape(-1, 1))
                samples.append(torch.stack((torch.full_like(atoms, s), atoms), 1))
            else:
                values.append(node_energy.sum().to(vectors.dtype).reshape(1, 1))
                samples.append(torch.tensor([[s]], device=vectors.device))
        names = ["system", "atom"] if per_atom else ["system"]
        block = TensorBlock(
            values=torch.cat(values), samples=Labels(names, torch.cat(samples).to(torch.int32)),
            components=torch.jit.annotate(List[Labels], []),
            properties=Labels(["energy"], torch.tensor([[0]], device=values[0].device)),
        )
        keys = Labels(["_"], torch.tensor([[0]], device=values[0].device))
        return {"energy": TensorMap(keys, [block])}


def metatomic_model(model: EnergyModel, dtype: str = "float32") -> "AtomisticModel":
    """The checked ``AtomisticModel`` of ``model``; ``ValueError`` if metatomic-torch is absent."""
    if AtomisticModel is None:
        raise ValueError("the metatomic format needs metatomic-torch: pip install 'irreps[metatomic]'")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    meta = declared_metadata(model, dtype)
    model = model.to(dtype=DTYPES[dtype]).eval()
    module = MetatomicPotential(trace_node_energy(model, DTYPES[dtype]), meta["elements"], meta["cutoff"]).eval()
    capabilities = ModelCapabilities(
        outputs={"energy": ModelOutput(unit="eV", sample_kind="atom", explicit_gradients=[])},
        atomic_types=meta["elements"], interaction_range=meta["interaction_range"], length_unit="angstrom",
        supported_devices=["cpu", "cuda"], dtype=dtype,
    )
    description = (f"{meta['model_name']} interatomic potential exported by {meta['library']}; "
                   f"cutoff {meta['cutoff']} Å, elements {meta['elements']}")
    exported = AtomisticModel(module, ModelMetadata(name=f"irreps-{meta['model_name']}", description=description),
                              capabilities)
    check_artefact(model, _runner(exported, meta["cutoff"]), DTYPES[dtype], "metatomic")
    return exported


def export_metatomic(model: EnergyModel, path: str | os.PathLike, dtype: str = "float32") -> Path:
    """Write the metatomic artefact of ``model`` to ``path``; returns the path."""
    exported = metatomic_model(model, dtype)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    exported.save(str(path))
    return path


def _runner(exported: "AtomisticModel", cutoff: float):
    """The artefact as :data:`irreps.export.checks.Runner`: one system, its list from our arguments."""
    from metatomic.torch import ModelEvaluationOptions

    def run(positions, numbers, cell, pbc, edge_index, cell_shifts):
        positions = positions.clone().requires_grad_(True)
        system = System(types=numbers.to(torch.int32), positions=positions, cell=cell, pbc=pbc)
        i, j = edge_index
        vectors = positions[j] - positions[i] + cell_shifts.to(cell.dtype) @ cell
        samples = torch.cat((edge_index.T, cell_shifts), 1).to(torch.int32)
        pairs = TensorBlock(
            values=vectors.reshape(-1, 3, 1),
            samples=Labels(["first_atom", "second_atom", "cell_shift_a", "cell_shift_b", "cell_shift_c"], samples),
            components=[Labels.range("xyz", 3)], properties=Labels.range("distance", 1),
        )
        options = exported.requested_neighbor_lists()[0]
        system.add_neighbor_list(options, pairs)
        out = exported([system], ModelEvaluationOptions(length_unit="angstrom", outputs={
            "energy": ModelOutput(unit="eV", sample_kind="system")}), check_consistency=True)
        energy = out["energy"].block().values.sum()
        if not energy.requires_grad:  # a model without edge terms; the check then says why
            return energy.detach(), torch.zeros_like(positions)
        (grad,) = torch.autograd.grad(energy, positions)
        return energy.detach(), -grad

    return run
