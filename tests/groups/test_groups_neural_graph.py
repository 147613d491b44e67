"""Neural graphs: the converter's nodes and edges against the module's parameters, node/edge
equivariance of message passing and attention under hidden-neuron permutations, invariance of the
graph-level models, and batches equal to single graphs."""

import pytest
import torch

from irreps.groups.neural_graph import chain_layers, module_neural_graph, neural_graph
from irreps.groups.neural_graph_net import NeuralGraphNet, NeuralGraphTransformer
from irreps.groups.weight_space_spec import cnn_space, mlp_space, sequential_space, sequential_tensors


def _cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.ReLU(), torch.nn.Conv2d(3, 4, 1), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2)).double()


def test_converter_puts_weights_on_edges_and_biases_on_nodes():
    net = _cnn()
    graph = module_neural_graph(net)
    dims = [2, 3, 4, 2]
    assert graph.node_features.shape == (11, 1) and graph.edge_index.shape == (2, 6 + 12 + 8)
    assert graph.edge_features.shape == (26, 9) and graph.num_node_types == 2 + 2 + 2
    assert graph.node_type.tolist() == [0, 1, 2, 2, 2, 3, 3, 3, 3, 4, 5]
    offsets = [0, 2, 5, 9]
    layers = [net[0], net[2], net[6]]
    found = {tuple(pair): f for pair, f in zip(graph.edge_index.T.tolist(), graph.edge_features)}
    for i, layer in enumerate(layers):
        torch.testing.assert_close(graph.node_features[offsets[i + 1]: offsets[i + 1] + dims[i + 1], 0], layer.bias.detach())
        for o in range(dims[i + 1]):
            for j in range(dims[i]):
                w = layer.weight.detach()[o, j].reshape(-1)
                f = found[(offsets[i] + j, offsets[i + 1] + o)]
                torch.testing.assert_close(f[: w.numel()], w)
                assert not f[w.numel():].any()
    torch.testing.assert_close(graph.node_features[:2, 0], torch.zeros(2, dtype=torch.float64))


def _graph_and_permuted(seed=1):
    net = _cnn()
    space, tensors = sequential_space(net), sequential_tensors(net)
    perms = space.random_permutations(torch.Generator().manual_seed(seed))
    moved = space.permute(tensors, perms)
    # node a of hidden layer j in the permuted net is node perms[j][a] of the original
    node_map = torch.cat([torch.arange(2), 2 + perms["h1"], 5 + perms["h2"], torch.arange(9, 11)])
    return space, tensors, moved, node_map


@pytest.mark.parametrize("model_cls", [NeuralGraphNet, NeuralGraphTransformer])
def test_node_and_edge_states_are_equivariant(model_cls):
    space, tensors, moved, node_map = _graph_and_permuted()
    g0, g1 = neural_graph(*chain_layers(space, tensors)), neural_graph(*chain_layers(space, moved))
    torch.manual_seed(0)
    model = model_cls(g0.num_node_types, g0.edge_features.shape[1], hidden_dim=8, num_layers=2).double()
    states = []
    for g in (g0, g1):
        h, e = model.embed(g)
        for i in range(2):
            if model_cls is NeuralGraphNet:
                h, e = model.layers[i](h, e, g.edge_index)
            else:
                h = model.attention[i](h, e, g)
                e = e + model.edge_updates[i](torch.cat([e, h[g.edge_index[0]], h[g.edge_index[1]]], 1))
        states.append((h, {tuple(p): x for p, x in zip(g.edge_index.T.tolist(), e)}))
    (h0, e0), (h1, e1) = states
    torch.testing.assert_close(h1, h0[node_map], atol=1e-10, rtol=0)
    for (src, dst), x in e1.items():
        torch.testing.assert_close(x, e0[(int(node_map[src]), int(node_map[dst]))], atol=1e-10, rtol=0)
    assert (h1 - h0).abs().max() > 1e-3  # the permutation really moved the nodes


@pytest.mark.parametrize("model_cls", [NeuralGraphNet, NeuralGraphTransformer])
def test_models_are_invariant_and_batches_equal_single_graphs(model_cls):
    space = cnn_space(1, (4, 3), 3, 5)
    gen = torch.Generator().manual_seed(0)
    tensors = [torch.randn(3, 1, *s, dtype=torch.float64, generator=gen) for s in space.shapes]
    graph = neural_graph(*chain_layers(space, tensors))
    torch.manual_seed(0)
    model = model_cls(graph.num_node_types, graph.edge_features.shape[1], hidden_dim=8, num_layers=2, out_features=2)
    model = model.double()
    out = model(graph)
    assert out.shape == (3, 2)
    perms = space.random_permutations(torch.Generator().manual_seed(3))
    torch.testing.assert_close(model(neural_graph(*chain_layers(space, space.permute(tensors, perms)))), out,
                               atol=1e-10, rtol=0)
    single = [model(neural_graph(*chain_layers(space, [t[i:i + 1] for t in tensors]))) for i in range(3)]
    torch.testing.assert_close(torch.cat(single), out, atol=1e-10, rtol=0)
    # input neurons have an order: swapping two input channels' filters changes the prediction
    wrong = [t.clone() for t in tensors]
    wrong[-2] = wrong[-2].flip(2)  # output neurons of the classifier reversed
    assert not torch.allclose(model(neural_graph(*chain_layers(space, wrong))), out)


def test_bad_input():
    space = mlp_space((2, 3, 1))
    tensors = [torch.zeros(1, 1, *s) for s in space.shapes]
    w, b = chain_layers(space, tensors)
    with pytest.raises(ValueError, match="does not read"):
        neural_graph([w[0], w[0]], b)
    with pytest.raises(ValueError, match="one bias"):
        neural_graph(w, b[:1])
    model = NeuralGraphNet(3, 1)
    with pytest.raises(ValueError, match="node types"):
        model(neural_graph(w, b))
    with pytest.raises(ValueError, match="divisible"):
        NeuralGraphTransformer(4, 1, hidden_dim=10, num_heads=4)
    from irreps.groups.weight_space_spec import residual_mlp_space
    res = residual_mlp_space(1, 2, (2,), 1)
    with pytest.raises(ValueError, match="chain"):
        chain_layers(res, [torch.zeros(1, 1, *s) for s in res.shapes])


def test_layers_without_bias_have_zero_node_features():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 4, bias=False), torch.nn.ReLU(),
                              torch.nn.Linear(4, 1))
    graph = module_neural_graph(net)
    assert graph.node_features.shape == (10, 1) and graph.edge_index.shape == (2, 6 + 12 + 4)
    torch.testing.assert_close(graph.node_features[2:5, 0], net[0].bias.detach())
    assert not graph.node_features[5:9].any()
    torch.testing.assert_close(graph.node_features[9:, 0], net[4].bias.detach())
