"""Neural graphs (Kofinas et al., ICLR 2024): a feed-forward network as a graph of its parameters.

Every neuron is a node (input neurons included), every weight an edge from a neuron of layer i to
one of layer i + 1. Node features are the biases (zero for input neurons); edge features are
the weights, a convolution's whole ``k x k`` filter on one edge (flattened, zero-padded to the
largest filter; a Linear weight is entry 0). Permuting a hidden layer's neurons relabels nodes
and nothing else, so a graph network over this graph is invariant to it. Input and output
neurons have an order that matters: each gets its own ``node_type`` (a positional embedding
index), while all hidden neurons of one layer share one type.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .weight_space_spec import WeightSpace, sequential_space, sequential_tensors


@dataclass(frozen=True)
class NeuralGraph:
    """A batch of neural graphs (disjoint union).

    Attributes
    ----------
    node_features : ``[num_nodes, 1]`` biases.
    edge_index : ``[2, num_edges]``, row 0 the neuron in layer i (source), row 1 in layer i + 1.
    edge_features : ``[num_edges, edge_dim]`` weights (filters flattened and padded).
    node_type : ``[num_nodes]`` long, positional type (see module docstring); ``num_node_types`` of them.
    graph_index : ``[num_nodes]`` long, the network each node belongs to.
    """

    node_features: torch.Tensor
    edge_index: torch.Tensor
    edge_features: torch.Tensor
    node_type: torch.Tensor
    graph_index: torch.Tensor
    num_graphs: int
    num_node_types: int


def chain_layers(space: WeightSpace, tensors: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
    """Split a chain weight space (each weight followed by its optional bias, layer i + 1 reading the
    neurons layer i writes) into per-layer ``weights [batch, out, in, ...]`` and ``biases [batch, out]``
    (one channel, squeezed); raises for spaces that are not chains (e.g. residual streams)."""
    space.check(tensors, 1)
    weights, biases, prev, written = [], [], None, set()
    i = 0
    while i < len(tensors):
        axes, shape = space.axes[i], space.shapes[i]
        if len(shape) < 2 or (prev is not None and (axes[1] != prev[0] or shape[1] != prev[1])):
            raise ValueError(f"tensor {space.names[i]!r} does not continue a chain of layers (axes {axes} after {prev})")
        if axes[0] is not None and axes[0] in written:
            raise ValueError(f"label {axes[0]!r} is written by two layers (a residual stream): not a chain of layers")
        written.add(axes[0])
        weights.append(tensors[i][:, 0])
        has_bias = i + 1 < len(tensors) and len(space.shapes[i + 1]) == 1
        biases.append(tensors[i + 1][:, 0] if has_bias else None)
        prev = (axes[0], shape[0])
        i += 2 if has_bias else 1
    if space.axes[0][1] is not None or prev[0] is not None:
        raise ValueError("a chain's input and output neurons must be fixed (label None)")
    return weights, biases


def neural_graph(weights: list[torch.Tensor], biases: list[torch.Tensor | None]) -> NeuralGraph:
    """Batch of neural graphs of networks sharing one architecture.

    Parameters
    ----------
    weights : list of ``[batch, d_{i+1}, d_i, *filter]`` tensors (Linear or Conv weights).
    biases : list of ``[batch, d_{i+1}]`` tensors or None.
    """
    if not weights or len(weights) != len(biases):
        raise ValueError(f"need one bias (or None) per weight, got {len(weights)} weights and {len(biases)} biases")
    batch = weights[0].shape[0]
    dims = [weights[0].shape[2]]
    for i, w in enumerate(weights):
        if w.dim() < 3 or w.shape[0] != batch or w.shape[2] != dims[-1]:
            raise ValueError(f"layer {i}: weight {list(w.shape)} does not read the {dims[-1]} neurons of layer {i}")
        dims.append(w.shape[1])
    edge_dim = max(int(torch.tensor(w.shape[3:]).prod()) for w in weights)
    offsets = torch.tensor([0] + dims).cumsum(0)
    per_graph = int(offsets[-1])
    ref = weights[0]
    node_feats = torch.zeros(batch, per_graph, dtype=ref.dtype, device=ref.device)
    edges, feats = [], []
    for i, (w, b) in enumerate(zip(weights, biases)):
        if b is not None:
            node_feats[:, offsets[i + 1]: offsets[i + 2]] = b
        out_idx, in_idx = torch.meshgrid(torch.arange(dims[i + 1]), torch.arange(dims[i]), indexing="ij")
        edges.append(torch.stack([in_idx.reshape(-1) + offsets[i], out_idx.reshape(-1) + offsets[i + 1]]))
        f = w.reshape(batch, dims[i + 1] * dims[i], -1)
        feats.append(torch.nn.functional.pad(f, (0, edge_dim - f.shape[2])))
    edge_index = torch.cat(edges, 1).to(ref.device)
    num_edges = edge_index.shape[1]
    shift = (torch.arange(batch, device=ref.device) * per_graph).repeat_interleave(num_edges)
    n_in, n_out, hidden_layers = dims[0], dims[-1], len(dims) - 2
    node_type = torch.cat([torch.arange(n_in)] + [torch.full((d,), n_in + j) for j, d in enumerate(dims[1:-1])]
                          + [n_in + hidden_layers + torch.arange(n_out)]).to(ref.device)
    return NeuralGraph(
        node_features=node_feats.reshape(-1, 1),
        edge_index=edge_index.repeat(1, batch) + shift,
        edge_features=torch.cat(feats, 1).reshape(batch * num_edges, edge_dim),
        node_type=node_type.repeat(batch),
        graph_index=torch.arange(batch, device=ref.device).repeat_interleave(per_graph),
        num_graphs=batch,
        num_node_types=n_in + hidden_layers + n_out,
    )


def module_neural_graph(module: torch.nn.Module) -> NeuralGraph:
    """The neural graph of one ``torch.nn.Sequential`` of Linear / Conv2d layers (see `sequential_space`)."""
    return neural_graph(*chain_layers(sequential_space(module), sequential_tensors(module)))
