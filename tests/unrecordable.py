"""A potential whose code branches on a tensor's value, so it cannot be recorded with symbolic
sizes: the compiled paths must refuse it (and the calculator fall back to eager) with the reason."""

import torch

from irreps.nn.potential import EnergyModel


class BranchingPair(EnergyModel):
    """Pair energy ``sum_j exp(-r_ij)`` per atom, halved when any edge is shorter than 1 Å."""

    cutoff = 3.0
    elements = (1, 6, 8)
    interaction_hops = 1

    def atomic_outputs(self, graph, positions, shifts, return_features):
        i, j = graph.edge_index
        length = (positions[j] - positions[i] + shifts).norm(dim=-1)
        energy = torch.zeros_like(positions[:, 0]).index_add(0, i, torch.exp(-length))
        if bool((length < 1.0).any()):  # reads data: a symbolic recording cannot branch on it
            energy = 0.5 * energy
        return {"node_energy": energy}
