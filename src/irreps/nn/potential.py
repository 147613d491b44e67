"""``EnergyModel``: the shared forward of every interatomic potential.

A model subclasses ``EnergyModel`` and implements ``atomic_outputs``, which maps the
(possibly strained) positions and shifts of a graph to per-atom energies and any extra
predictions. The base class sums atomic energies per structure and differentiates:

    model(graph, compute_forces=True, compute_stress=False) -> {
        "energy" [G], "node_energy" [N], "forces" [N, 3], "stress" [G, 3, 3] (if asked),
        "hessian" [sum_b (3 N_b)^2] (if asked), plus the model's extra outputs }

Derivatives keep their graph in training mode (``create_graph=self.training``) so losses on
forces and stress can be trained.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor

from irreps.data.graph import AtomicGraph
from irreps.nn.derivatives import forces_and_stress, hessian_blocks, strained_inputs
from irreps.nn.readout import sum_per_structure


class EnergyModel(torch.nn.Module):
    """Base class of energy models; subclasses set ``self.cutoff`` (Å) and ``self.elements``.

    ``interaction_hops``: how many times information crosses one cutoff sphere on its way to an
    atom's energy (message-passing steps, counting an embedding that sums over neighbours), so
    an atom's energy depends on atoms up to ``interaction_hops * cutoff`` away: the ghost-atom
    depth of a domain-decomposed engine (:mod:`irreps.export`).
    """

    cutoff: float
    elements: tuple[int, ...]
    interaction_hops: int

    def atomic_outputs(
        self, graph: AtomicGraph, positions: Tensor, shifts: Tensor, return_features: bool
    ) -> dict[str, Tensor]:
        """Per-atom predictions; must contain ``node_energy`` [N] (eV).

        ``positions`` [N, 3] and ``shifts`` [E, 3] replace the graph's own (they carry the
        autograd leaves and the strain), so edge vectors must be built from them.
        """
        raise NotImplementedError

    def forward(
        self,
        graph: AtomicGraph,
        compute_forces: bool = True,
        compute_stress: bool = False,
        compute_hessian: bool = False,
        return_features: bool = False,
        direct_forces: bool = False,
    ) -> dict[str, Tensor]:
        """Predict energies (and derivatives) of every structure in ``graph``.

        Parameters
        ----------
        graph : AtomicGraph
            Batch of structures with a neighbour list at least as long as ``self.cutoff``.
        compute_forces : bool
            Add ``forces = -dE/dx`` [N, 3] (eV/Å).
        compute_stress : bool
            Add ``stress`` [G, 3, 3] (eV/Å^3, ASE sign); every structure needs a cell.
        compute_hessian : bool
            Add ``hessian``: per-structure ``d^2E/dx^2`` blocks, flattened and concatenated
            (eV/Å^2); costs 3N backward passes. A model that predicts ``hessian`` directly
            (a Hessian head) keeps its own prediction and skips autograd.
        return_features : bool
            Add the model's final per-atom features (see the subclass).
        direct_forces : bool
            Add ``direct_forces`` [N, 3] from the model's non-conservative force head
            (``self.direct_force_head``; see :mod:`irreps.models.force_head`).
        """
        if not torch.isfinite(graph.positions).all():
            raise ValueError("graph positions contain NaN or infinite values")
        if direct_forces and getattr(self, "direct_force_head", None) is None:
            raise ValueError(
                f"{type(self).__name__} has no direct force head: build it with direct_forces enabled "
                "(irreps train: model.options.direct_forces: true)"
            )
        need_positions = compute_forces or compute_hessian
        need_grad = need_positions or compute_stress
        context = torch.enable_grad() if need_grad else contextlib.nullcontext()
        with context:
            positions, shifts, leaf, strain = strained_inputs(
                graph.positions, graph.shifts, graph.batch, graph.edge_index[0], graph.num_graphs,
                need_positions, compute_stress,
            )
            extra = {"direct_forces": True} if direct_forces else {}
            out = self.atomic_outputs(graph, positions, shifts, return_features, **extra)
            out["energy"] = sum_per_structure(out["node_energy"], graph.batch, graph.num_graphs)
            if need_grad:
                compute_hessian = compute_hessian and "hessian" not in out
                create_graph = self.training or compute_hessian
                out.update(forces_and_stress(out["energy"], leaf, strain, graph.cell, create_graph))
                if compute_hessian:
                    out["hessian"] = hessian_blocks(
                        out["forces"], leaf, graph.batch, graph.num_graphs, create_graph=self.training
                    )
                if not compute_forces:
                    out.pop("forces", None)
        return out
