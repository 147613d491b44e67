"""The energy model around the TFN family's layers: element embedding, edges, energy readout."""

from __future__ import annotations

import torch
from torch import Tensor

from irreps.data.graph import AtomicGraph
from irreps.models.tfn.blocks import build_edges
from irreps.models.tfn.config import PointCloudConfig
from irreps.nn.elements import ElementIndex, ElementRowIndices
from irreps.nn.mlp import MLP
from irreps.nn.potential import EnergyModel
from irreps.nn.readout import AtomicEnergyReadout, neighbour_occupancy
from irreps.o3 import Irreps
from irreps.ops.radial import GaussianBasis


class PointCloudModel(ElementRowIndices, EnergyModel):
    """Atoms start as ``channels x 0e`` element embeddings; ``self.layers`` (built by the subclass
    with :meth:`layer_irreps`) map ``(x, edges) -> x``; the last layer's ``0e`` channels go through
    an MLP to each atom's energy, then E0, scale and shift.

    One extra atom of each element rides along without edges and its value is subtracted, so a
    lone atom gets exactly its E0 (plus the shift, or not with ``shift_with_neighbours``).
    """

    def __init__(self, config: PointCloudConfig) -> None:
        super().__init__()
        self.config = config
        self.cutoff, self.elements = float(config.cutoff), tuple(config.elements)
        self.interaction_hops = config.num_layers  # one convolution per layer; the embedding is of the element alone
        self.element_index = ElementIndex(config.elements)
        self.embedding = torch.nn.Embedding(len(config.elements), config.channels)
        self.basis = GaussianBasis(config.num_basis, config.cutoff)
        c = config.channels
        self.energy_mlp = MLP((c, max(c // 2, 1), 1), config.activation)
        self.readout = AtomicEnergyReadout(len(config.elements), config.e0s, config.scale, config.shift)
        self.layers = torch.nn.ModuleList()

    def layer_irreps(self) -> list[tuple[Irreps, Irreps]]:
        """``(irreps_in, irreps_out)`` of every layer: hidden irreps throughout, scalars at both ends."""
        cfg = self.config
        scalars = Irreps([(cfg.channels, "0e")])
        ins = [scalars] + [cfg.irreps_hidden] * (cfg.num_layers - 1)
        outs = [cfg.irreps_hidden] * (cfg.num_layers - 1) + [scalars]
        return list(zip(ins, outs))

    def atomic_outputs(
        self, graph: AtomicGraph, positions: Tensor, shifts: Tensor, return_features: bool,
        indices: dict[str, Tensor] | None = None,
    ) -> dict[str, Tensor]:
        """``node_energy`` [N] (and ``node_scalars`` [N, channels] with ``return_features``); ``indices``
        are :meth:`graph_indices` (computed here when None)."""
        n = positions.shape[0]
        species = self.element_rows(graph, indices)
        with_isolated = torch.cat((species, torch.arange(len(self.elements), device=species.device)))
        edges = build_edges(graph.edge_index, positions, shifts, self.basis, self.cutoff)
        x = self.embedding(with_isolated)
        for layer in self.layers:
            x = layer(x, edges)
        values = self.energy_mlp(x).squeeze(-1)
        raw = values[:n] - values[n:].index_select(0, species)
        occupancy = neighbour_occupancy(edges.envelope, edges.receivers, n) if self.config.shift_with_neighbours else None
        out = {"node_energy": self.readout(raw, species, occupancy)}
        if return_features:
            out["node_scalars"] = x[:n]
        return out
