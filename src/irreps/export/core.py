"""The part of a model every export format records: atomic energies from edge vectors.

Engines hand a model positions and a neighbour list; forces and virials then follow from the
energy by autograd. So what an artefact needs from an irreps model is one function,

    node_energy(edge_vectors [E, 3], edge_index [2, E], species [N]) -> [N] (float64, eV)

with ``edge_vectors = pos[j] - pos[i] + shift`` for ``edge_index = (i, j)`` and ``species``
the row of each atom's element in ``model.elements``. :class:`NodeEnergy` is that function
as a module, :func:`trace_node_energy` records it as TorchScript (no Python, no irreps at run
time) and checks the recording on a second structure of other sizes, so a model whose code
turned a size or a value into a Python constant is refused instead of exported wrong.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

from irreps.capture import capturing
from irreps.data.graph import AtomicGraph
from irreps.export.checks import probe_structure, with_neighbours
from irreps.nn.potential import EnergyModel


class NodeEnergy(torch.nn.Module):
    """``(edge_vectors [E, 3], edge_index [2, E], species [N]) -> node_energy [N]`` of ``model``.

    The model sees one structure with zero positions and the edge vectors as its shifts, which
    gives it the same ``r_ij`` while leaving the differentiation to the caller. A model with
    ``species_indices`` (TensorNet) takes its integer indices from ``species`` without the
    data-dependent reverse-edge pairing; any other model looks its elements up itself.
    """

    def __init__(self, model: EnergyModel):
        super().__init__()
        if not isinstance(model, EnergyModel):
            raise ValueError(f"{type(model).__name__} is not an energy model (irreps.nn.EnergyModel); "
                             "only interatomic potentials can be exported")
        self.model = model
        self.register_buffer("atomic_numbers", torch.tensor(model.elements, dtype=torch.long), persistent=False)

    def forward(self, edge_vectors: Tensor, edge_index: Tensor, species: Tensor) -> Tensor:
        n = species.shape[0]
        positions = edge_vectors.new_zeros(n, 3)
        graph = AtomicGraph(
            positions=positions, atomic_numbers=self.atomic_numbers[species], edge_index=edge_index,
            shifts=edge_vectors, batch=species.new_zeros(n), cell=edge_vectors.new_zeros(1, 3, 3),
            pbc=torch.zeros(1, 3, dtype=torch.bool, device=species.device), num_graphs=1,
        )
        if hasattr(self.model, "species_indices"):
            indices = self.model.species_indices(species)
            out = self.model.atomic_outputs(graph, positions, edge_vectors, False, indices=indices)
        else:
            out = self.model.atomic_outputs(graph, positions, edge_vectors, False)
        return out["node_energy"]


def probe_inputs(model: EnergyModel, num_atoms: int, periodic: bool, dtype: torch.dtype,
                 seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`~irreps.export.checks.probe_structure` as ``(edge_vectors, edge_index, species)``."""
    structure = probe_structure(model, dtype, seed, num_atoms, periodic)
    edge_index, cell_shifts = with_neighbours(structure, float(model.cutoff))
    positions = structure["positions"]
    vectors = positions[edge_index[1]] - positions[edge_index[0]] + cell_shifts.to(dtype) @ structure["cell"]
    return vectors, edge_index, torch.arange(num_atoms) % len(model.elements)


def trace_node_energy(model: EnergyModel, dtype: torch.dtype) -> torch.jit.ScriptModule:
    """:class:`NodeEnergy` of ``model`` (moved to ``dtype``, eval mode) recorded with ``torch.jit.trace``.

    Raises ``ValueError`` naming the cause when the model cannot be recorded, or when the
    recording disagrees with the model on a structure of other sizes than the one recorded.
    """
    core = NodeEnergy(model).to(dtype=dtype).eval()
    example = probe_inputs(model, 8, periodic=False, dtype=dtype, seed=0)
    check = probe_inputs(model, 27, periodic=True, dtype=dtype, seed=1)
    try:
        with capturing(), warnings.catch_warnings():
            # The recording is checked against the model below, which is what these warn about.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            traced = torch.jit.trace(core, example, check_trace=False)
    except Exception as err:  # tracing raises many types; the message is what matters
        raise ValueError(f"{type(model).__name__} cannot be recorded as TorchScript: {_first_line(err)}") from err
    check_recording(core, traced, check, what="TorchScript")
    return traced


def check_recording(core: torch.nn.Module, recorded, inputs: tuple[Tensor, ...], what: str) -> None:
    """``ValueError`` unless ``recorded(*inputs)`` equals ``core(*inputs)`` in value and in force."""
    vectors = inputs[0]
    ref_vectors = vectors.clone().requires_grad_(True)
    reference = core(ref_vectors, *inputs[1:])
    ref_grad = _gradient(reference, ref_vectors)
    try:
        got_vectors = vectors.clone().requires_grad_(True)
        with torch.jit.optimized_execution(False):  # see checks.check_artefact
            got = recorded(got_vectors, *inputs[1:])
        got_grad = _gradient(got, got_vectors)
    except Exception as err:
        raise ValueError(f"the {what} recording of {type(core.model).__name__} fails on a structure of "
                         f"other sizes than the recorded one: {_first_line(err)}") from err
    tol = 1e-4 if vectors.dtype == torch.float32 else 1e-9
    for name, a, b in (("energies", got, reference), ("edge gradients", got_grad, ref_grad)):
        if a.shape != b.shape or not torch.allclose(a.double(), b.double(), rtol=tol, atol=tol):
            raise ValueError(f"the {what} recording of {type(core.model).__name__} gives other {name} than the "
                             "model on a structure of other sizes than the recorded one: its code fixes a size "
                             "or a value to a constant, so it cannot be exported in this format")


def _gradient(energies: Tensor, vectors: Tensor) -> Tensor:
    """d(sum energies)/d vectors; zeros where the energies do not depend on them."""
    if not energies.requires_grad:
        return torch.zeros_like(vectors)
    (grad,) = torch.autograd.grad(energies.sum(), vectors, allow_unused=True)
    return torch.zeros_like(vectors) if grad is None else grad


def _first_line(err: Exception) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__
