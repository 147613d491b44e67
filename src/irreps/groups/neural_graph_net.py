"""Networks over neural graphs: message passing with edge features, and a relational transformer.

Both see a network only through its `NeuralGraph`, so they are invariant to hidden-neuron
permutations (graph isomorphisms that keep every node's type) and accept any feed-forward
architecture whose node types fit ``num_node_types``. Messages flow both ways along the
layer-to-layer edges (forward and backward pass directions), as in Kofinas et al.
"""

from __future__ import annotations

import math

import torch

from .neural_graph import NeuralGraph


def _mlp(dims: list[int]) -> torch.nn.Sequential:
    layers = []
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.SiLU()]
    return torch.nn.Sequential(*layers[:-1])


def _mean_at(values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """Mean of ``values [n, c]`` grouped by ``index [n]`` into ``[size, c]`` (zero for empty groups)."""
    total = values.new_zeros(size, values.shape[1]).index_add_(0, index, values)
    count = values.new_zeros(size).index_add_(0, index, values.new_ones(index.shape[0]))
    return total / count.clamp(min=1)[:, None]


class _Embed(torch.nn.Module):
    """Node and edge features plus the node's positional type, projected to ``hidden_dim``."""

    def __init__(self, num_node_types: int, edge_dim: int, hidden_dim: int):
        super().__init__()
        self.num_node_types, self.edge_dim = num_node_types, edge_dim
        self.node = torch.nn.Linear(1, hidden_dim)
        self.node_type = torch.nn.Embedding(num_node_types, hidden_dim)
        self.edge = torch.nn.Linear(edge_dim, hidden_dim)

    def forward(self, graph: NeuralGraph) -> tuple[torch.Tensor, torch.Tensor]:
        if graph.num_node_types > self.num_node_types or graph.edge_features.shape[1] != self.edge_dim:
            raise ValueError(f"graph has {graph.num_node_types} node types and edge_dim {graph.edge_features.shape[1]}; "
                             f"the model was built for at most {self.num_node_types} and {self.edge_dim}")
        h = self.node(graph.node_features) + self.node_type(graph.node_type)
        return h, self.edge(graph.edge_features)


class _MessagePassingLayer(torch.nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.forward_msg = _mlp([3 * dim, dim, dim])
        self.backward_msg = _mlp([3 * dim, dim, dim])
        self.node_update = _mlp([3 * dim, dim, dim])
        self.edge_update = _mlp([3 * dim, dim, dim])
        self.norm_h, self.norm_e = torch.nn.LayerNorm(dim), torch.nn.LayerNorm(dim)

    def forward(self, h, e, edge_index):
        src, dst = edge_index
        pair = torch.cat([h[src], h[dst], e], 1)
        fwd = _mean_at(self.forward_msg(pair), dst, h.shape[0])
        bwd = _mean_at(self.backward_msg(pair), src, h.shape[0])
        h = self.norm_h(h + self.node_update(torch.cat([h, fwd, bwd], 1)))
        e = self.norm_e(e + self.edge_update(torch.cat([e, h[src], h[dst]], 1)))
        return h, e


def _readout(head: torch.nn.Module, h: torch.Tensor, e: torch.Tensor, graph: NeuralGraph) -> torch.Tensor:
    nodes = _mean_at(h, graph.graph_index, graph.num_graphs)
    edges = _mean_at(e, graph.graph_index[graph.edge_index[0]], graph.num_graphs)
    return head(torch.cat([nodes, edges], 1))


class NeuralGraphNet(torch.nn.Module):
    """Message-passing network with edge features over neural graphs.

    Parameters
    ----------
    num_node_types, edge_dim : int
        From the graphs it will see (`NeuralGraph.num_node_types`, ``edge_features.shape[1]``).
    hidden_dim, num_layers, out_features : int

    ``forward(graph)`` -> ``[num_graphs, out_features]``.
    """

    def __init__(self, num_node_types: int, edge_dim: int, hidden_dim: int = 32, num_layers: int = 3,
                 out_features: int = 1):
        super().__init__()
        self.embed = _Embed(num_node_types, edge_dim, hidden_dim)
        self.layers = torch.nn.ModuleList(_MessagePassingLayer(hidden_dim) for _ in range(num_layers))
        self.head = _mlp([2 * hidden_dim, hidden_dim, out_features])

    def forward(self, graph: NeuralGraph) -> torch.Tensor:
        h, e = self.embed(graph)
        for layer in self.layers:
            h, e = layer(h, e, graph.edge_index)
        return _readout(self.head, h, e, graph)


class _RelationalAttention(torch.nn.Module):
    """Attention among the nodes of each graph; an edge's features add to its logit and its value,
    with separate projections for the two ends (a weight is seen from its input and output neuron)."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"hidden_dim {dim} must be divisible by num_heads {num_heads}")
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.qkv = torch.nn.Linear(dim, 3 * dim)
        self.edge_bias = torch.nn.Linear(dim, 2 * num_heads)
        self.edge_value = torch.nn.Linear(dim, 2 * dim)
        self.out = torch.nn.Linear(dim, dim)
        self.ff = _mlp([dim, 2 * dim, dim])
        self.norm1, self.norm2 = torch.nn.LayerNorm(dim), torch.nn.LayerNorm(dim)

    def forward(self, h: torch.Tensor, e: torch.Tensor, graph: NeuralGraph) -> torch.Tensor:
        num, dim = h.shape
        batch, heads, hd = graph.num_graphs, self.num_heads, self.head_dim
        counts = torch.bincount(graph.graph_index, minlength=batch)
        local = torch.arange(num, device=h.device) - (counts.cumsum(0) - counts)[graph.graph_index]
        size = int(counts.max())
        dense = h.new_zeros(batch, size, dim).index_put((graph.graph_index, local), h)
        mask = torch.zeros(batch, size, dtype=torch.bool, device=h.device).index_put(
            (graph.graph_index, local), torch.ones_like(local, dtype=torch.bool))
        q, k, v = self.qkv(dense).reshape(batch, size, 3, heads, hd).unbind(2)
        src, dst = graph.edge_index
        g, ls, ld = graph.graph_index[src], local[src], local[dst]
        eb = self.edge_bias(e).reshape(-1, 2, heads)
        ev = self.edge_value(e).reshape(-1, 2, dim)
        bias = h.new_zeros(batch, size, size, heads)
        bias = bias.index_put((g, ld, ls), eb[:, 0], accumulate=True).index_put((g, ls, ld), eb[:, 1], accumulate=True)
        rel = h.new_zeros(batch, size, size, dim)
        rel = rel.index_put((g, ld, ls), ev[:, 0], accumulate=True).index_put((g, ls, ld), ev[:, 1], accumulate=True)
        logits = torch.einsum("bihd,bjhd->bhij", q, k) / math.sqrt(hd) + bias.permute(0, 3, 1, 2)
        attn = torch.softmax(logits.masked_fill(~mask[:, None, None, :], float("-inf")), dim=-1)
        out = torch.einsum("bhij,bjhd->bihd", attn, v) + \
            torch.einsum("bhij,bijhd->bihd", attn, rel.reshape(batch, size, size, heads, hd))
        h = self.norm1(h + self.out(out.reshape(batch, size, dim)[graph.graph_index, local]))
        return self.norm2(h + self.ff(h))


class NeuralGraphTransformer(torch.nn.Module):
    """Relational transformer over neural graphs: message passing layers' edge updates interleaved with
    full attention among each graph's nodes (edge features bias the logits and add to the values).

    Same constructor and ``forward(graph)`` as `NeuralGraphNet`, plus ``num_heads``. Attention is
    dense within each graph (padded to the largest), memory ``num_graphs x nodes^2 x hidden_dim``:
    meant for the small networks of zoos and INRs.
    """

    def __init__(self, num_node_types: int, edge_dim: int, hidden_dim: int = 32, num_layers: int = 3,
                 out_features: int = 1, num_heads: int = 4):
        super().__init__()
        self.embed = _Embed(num_node_types, edge_dim, hidden_dim)
        self.attention = torch.nn.ModuleList(_RelationalAttention(hidden_dim, num_heads) for _ in range(num_layers))
        self.edge_updates = torch.nn.ModuleList(_mlp([3 * hidden_dim, hidden_dim, hidden_dim]) for _ in range(num_layers))
        self.head = _mlp([2 * hidden_dim, hidden_dim, out_features])

    def forward(self, graph: NeuralGraph) -> torch.Tensor:
        h, e = self.embed(graph)
        src, dst = graph.edge_index
        for attention, edge_update in zip(self.attention, self.edge_updates):
            h = attention(h, e, graph)
            e = e + edge_update(torch.cat([e, h[src], h[dst]], 1))
        return _readout(self.head, h, e, graph)
