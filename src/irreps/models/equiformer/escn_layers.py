"""eSCN's layer (Passaro & Zitnick, ICML 2023): an SO(2) message block and a pointwise sphere convolution.

Message ``j -> i``: invariant edge features ``e = act(W2 act(emb_s(Z_j) + emb_t(Z_i) + W1 rbf(r)))``;
both ends' features rotated into the edge frame pass an :class:`~irreps.ops.sphere.SO2Bottleneck`
each and are added; an S2 activation on the edge-frame grid; rotated back and summed over the
receiver's edges (times the envelope, when there is one). The layer then samples the atom's
features and its summed message on the node grid, applies a 3-layer MLP pointwise
(``2C -> C -> C -> C``, no biases) and projects back.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from irreps.nn.mlp import activation_module
from irreps.ops.scatter import scatter_sum
from irreps.ops.sphere import EdgeRotation, S2Act, SO2Bottleneck, SphereGrid


class EdgeBlock(torch.nn.Module):
    """Invariant edge features from the distance basis and both elements, ``[E, edge_channels]``."""

    def __init__(self, num_basis: int, edge_channels: int, num_elements: int, activation: str) -> None:
        super().__init__()
        self.fc1_dist = torch.nn.Linear(num_basis, edge_channels)
        self.source_embedding = torch.nn.Embedding(num_elements, edge_channels)
        self.target_embedding = torch.nn.Embedding(num_elements, edge_channels)
        for emb in (self.source_embedding, self.target_embedding):
            torch.nn.init.uniform_(emb.weight, -0.001, 0.001)
        self.fc1_edge_attr = torch.nn.Linear(edge_channels, edge_channels)
        self.act = activation_module(activation)

    def forward(self, basis: Tensor, sender_species: Tensor, receiver_species: Tensor) -> Tensor:
        x = self.act(self.source_embedding(sender_species) + self.target_embedding(receiver_species) + self.fc1_dist(basis))
        return self.act(self.fc1_edge_attr(x))


class LayerBlock(torch.nn.Module):
    """One eSCN layer: ``forward(x, edges) -> [N, (L+1)^2, C]`` (the model adds the residual)."""

    def __init__(self, lmax: int, mmax: int, channels: int, hidden_channels: int, edge_channels: int, num_basis: int,
                 num_elements: int, activation: str, grid_resolution: int | None,
                 equivariance: Literal["SO(3)", "O(3)"]) -> None:
        super().__init__()
        self.edge_block = EdgeBlock(num_basis, edge_channels, num_elements, activation)
        act = activation_module(activation)
        self.so2_block_source = SO2Bottleneck(lmax, mmax, channels, hidden_channels, edge_channels, act, equivariance)
        self.so2_block_target = SO2Bottleneck(lmax, mmax, channels, hidden_channels, edge_channels, act, equivariance)
        self.edge_act = S2Act(SphereGrid(EdgeRotation(lmax, mmax).order, grid_resolution), act)
        self.grid = SphereGrid([(l, m) for l in range(lmax + 1) for m in range(-l, l + 1)], grid_resolution)
        self.fc1_sphere = torch.nn.Linear(2 * channels, channels, bias=False)
        self.fc2_sphere = torch.nn.Linear(channels, channels, bias=False)
        self.fc3_sphere = torch.nn.Linear(channels, channels, bias=False)
        self.act = act

    def forward(self, x: Tensor, edges) -> Tensor:
        senders, receivers, D = edges.senders, edges.receivers, edges.D
        edge = self.edge_block(edges.basis, edges.species[senders], edges.species[receivers])
        message = (self.so2_block_source(D.to_edge(x.index_select(0, senders)), edge)
                   + self.so2_block_target(D.to_edge(x.index_select(0, receivers)), edge))
        message = D.from_edge(self.edge_act(message))
        if edges.envelope is not None:
            message = message * edges.envelope[:, None, None]
        message = scatter_sum(message, receivers, x.shape[0])
        grid = torch.cat((self.grid.to_grid(x), self.grid.to_grid(message)), dim=2)
        grid = self.fc3_sphere(self.act(self.fc2_sphere(self.act(self.fc1_sphere(grid)))))
        return self.grid.from_grid(grid)
