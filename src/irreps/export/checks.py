"""The check every export runs before writing: the artefact reproduces the model it came from.

The artefact is evaluated on a random periodic structure with a neighbour list one Å longer
than the cutoff (what an engine with a skin passes) and compared with the eager model on its
own list. This catches what recording cannot see: a model that reads absolute positions
rather than edge vectors, a value fixed to a constant, pairs beyond the cutoff that count.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import Tensor

from irreps.data.graph import AtomicGraph
from irreps.data.neighbors import neighbor_list
from irreps.nn.potential import EnergyModel

# (positions, atomic_numbers, cell, pbc, edge_index, cell_shifts) -> (energy [], forces [N, 3])
Runner = Callable[[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]

SKIN = 1.0  # Å added to the probe's neighbour list


def probe_structure(model: EnergyModel, dtype: torch.dtype, seed: int = 2, num_atoms: int = 12,
                    periodic: bool = True) -> dict[str, Tensor]:
    """Random structure of ``model``'s elements (every element, repeated): atoms on a jittered
    cubic grid 1.6 Å apart, in a slightly sheared cell when ``periodic`` (zero cell otherwise)."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(num_atoms ** (1 / 3)))
    grid = np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), -1).reshape(-1, 3)[:num_atoms]
    positions = 1.6 * grid + rng.uniform(-0.2, 0.2, (num_atoms, 3))
    cell = 1.6 * side * (np.eye(3) + rng.uniform(-0.05, 0.05, (3, 3))) if periodic else np.zeros((3, 3))
    numbers = np.array(model.elements)[np.arange(num_atoms) % len(model.elements)]
    return {"positions": torch.tensor(positions, dtype=dtype), "atomic_numbers": torch.tensor(numbers),
            "cell": torch.tensor(cell, dtype=dtype), "pbc": torch.full((3,), periodic)}


def with_neighbours(structure: dict[str, Tensor], radius: float) -> tuple[Tensor, Tensor]:
    """``(edge_index [2, E], cell_shifts [E, 3])`` of a full list of radius ``radius`` (Å)."""
    edge_index, _, unit_shifts = neighbor_list(structure["positions"].double().numpy(),
                                               structure["cell"].double().numpy(),
                                               structure["pbc"].numpy(), radius)
    return torch.tensor(edge_index), torch.tensor(unit_shifts)


def reference(model: EnergyModel, structure: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    """Energy [] and forces [N, 3] of the eager ``model`` on ``structure`` (list at its cutoff)."""
    edge_index, cell_shifts = with_neighbours(structure, float(model.cutoff))
    cell = structure["cell"]
    n = structure["positions"].shape[0]
    graph = AtomicGraph(
        positions=structure["positions"], atomic_numbers=structure["atomic_numbers"], edge_index=edge_index,
        shifts=cell_shifts.to(cell.dtype) @ cell, batch=torch.zeros(n, dtype=torch.long), cell=cell[None],
        pbc=structure["pbc"][None], num_graphs=1,
    )
    out = model(graph, compute_forces=True)
    return out["energy"].detach().sum(), out["forces"].detach()


def check_artefact(model: EnergyModel, run: Runner, dtype: torch.dtype, what: str) -> None:
    """``ValueError`` unless ``run`` (the artefact) matches ``model`` on :func:`probe_structure`."""
    structure = probe_structure(model, dtype)
    energy, forces = reference(model, structure)
    edge_index, cell_shifts = with_neighbours(structure, float(model.cutoff) + SKIN)
    try:
        # TorchScript's plain interpreter: the same recorded ops, without the profiling executor's
        # first runs (seconds each for a graph of this size; engines pay them once per process)
        with torch.jit.optimized_execution(False):
            got_energy, got_forces = run(structure["positions"], structure["atomic_numbers"], structure["cell"],
                                         structure["pbc"], edge_index, cell_shifts)
    except Exception as err:  # whatever the artefact raises, say which format failed
        raise ValueError(f"the {what} artefact of {type(model).__name__} fails on a test structure: "
                         f"{str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__}") from err
    tol = 1e-4 if dtype == torch.float32 else 1e-9
    scale = max(1.0, float(forces.abs().max()))
    if not abs(float(got_energy) - float(energy)) <= tol * max(1.0, abs(float(energy))):
        raise ValueError(f"the {what} artefact of {type(model).__name__} gives energy {float(got_energy):.8g} eV where "
                         f"the model gives {float(energy):.8g} eV: the model depends on more than the edge vectors "
                         "of a neighbour list (absolute positions, say), so it cannot be exported")
    if not torch.allclose(got_forces.double(), forces.double(), rtol=tol, atol=tol * scale):
        raise ValueError(f"the {what} artefact of {type(model).__name__} gives other forces than the model: the "
                         "model depends on more than the edge vectors of a neighbour list, so it cannot be exported")
