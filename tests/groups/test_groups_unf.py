"""Universal neural functionals: weight-space descriptions (MLP, CNN, residual, recurrent), exact
equivariance of UNF layers under random permutations of every label, completeness against the
numerical nullspace, agreement with the DWS count, and networks whose function is unchanged when
their neurons are permuted."""

import numpy as np
import pytest
import torch

from groups_helpers import unit_parameter_maps

from irreps.groups.unf import UNFLayer, UNFNet, _set_partitions, unf_dimension
from irreps.groups.weight_space import dws_dimension
from irreps.groups.weight_space_spec import (WeightSpace, cnn_space, mlp_space, residual_mlp_space, sequential_space,
                                             sequential_tensors)

RNN = WeightSpace(("W_hh", "W_xh", "b_h", "W_out"), ((3, 3), (3, 2), (3,), (1, 3)),
                  (("h", "h"), ("h", None), ("h",), (None, "h")))
SPACES = {
    "mlp": mlp_space((2, 3, 4, 1)),
    "cnn": cnn_space(1, (3, 2), 2, 3),
    "residual": residual_mlp_space(2, 3, (2, 3), 2),
    "rnn": RNN,
}


def _random(space, batch, channels, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, channels, *shape, dtype=dtype, generator=gen) for shape in space.shapes]


def _randomise(layer):
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_()


@pytest.mark.parametrize("name", SPACES)
def test_layer_is_equivariant_under_every_label(name):
    space = SPACES[name]
    torch.manual_seed(0)
    layer = UNFLayer(space, 2, 3).double()
    _randomise(layer)  # biases start at zero: make them count
    x = _random(space, 4, 2)
    for seed in range(3):
        perms = space.random_permutations(torch.Generator().manual_seed(seed))
        out = layer(space.permute(x, perms))
        expected = space.permute(layer(x), perms)
        for a, b in zip(out, expected):
            torch.testing.assert_close(a, b, atol=1e-10, rtol=0)
    with torch.no_grad():  # and it is not trivially invariant: a permutation moves the output
        assert max(float((a - b).abs().max()) for a, b in zip(out, layer(x))) > 1e-3


def _flat_maps(layer, space):
    """Dense matrices of the layer's bias-free terms, channels 1: ``[num_terms, size * size]``."""
    sizes = [int(np.prod(s)) for s in space.shapes]
    size = sum(sizes)
    eye = torch.eye(size, dtype=torch.float64)
    inputs = [eye[:, a:a + n].reshape(size, 1, *shape) for a, n, shape in
              zip(np.cumsum([0] + sizes[:-1]), sizes, space.shapes)]
    return unit_parameter_maps(list(layer.weight), lambda: torch.cat([y.reshape(size, -1) for y in layer(inputs)], 1))


def _nullspace(space) -> int:
    """Dimension of the linear maps commuting with two generators of every label's S_n (float64)."""
    sizes = [int(np.prod(s)) for s in space.shapes]
    size = sum(sizes)
    index = torch.arange(size, dtype=torch.float64)
    tensors = [index[a:a + n].reshape(1, 1, *shape) for a, n, shape in zip(np.cumsum([0] + sizes[:-1]), sizes, space.shapes)]
    gram = np.zeros((size * size, size * size))
    for label, n in space.sizes.items():
        for cycle in ([1, 0] + list(range(2, n)), list(range(1, n)) + [0]):
            moved = torch.cat([t.reshape(-1) for t in space.permute(tensors, {label: torch.tensor(cycle)})]).long()
            p = np.eye(size)[moved.numpy()]
            c = np.kron(p, p) - np.eye(size * size)
            gram += c.T @ c
    eig = np.linalg.eigvalsh(gram)
    return int(np.sum(eig < 1e-9 * eig.max()))


@pytest.mark.parametrize("space", [
    mlp_space((2, 2, 1)), cnn_space(1, (2,), 1, 2), residual_mlp_space(1, 2, (2,), 1),
    WeightSpace(("W", "b"), ((4, 4), (4,)), (("h", "h"), ("h",))),  # recurrent: both axes permuted together
], ids=["mlp", "cnn", "residual", "rnn"])
def test_diagrams_span_exactly_the_equivariant_maps(space):
    layer = UNFLayer(space, 1, 1, bias=False).double()
    maps = _flat_maps(layer, space)
    assert sum(p.numel() for p in layer.weight) == unf_dimension(space) == np.linalg.matrix_rank(maps) == _nullspace(space)


def test_diagrams_still_span_below_the_stable_range():
    # W -> W meets 4 axes of a 3-neuron label: 15 diagrams, one dependent (no 4 distinct indices)
    space = WeightSpace(("W", "b"), ((3, 3), (3,)), (("h", "h"), ("h",)))
    maps = _flat_maps(UNFLayer(space, 1, 1, bias=False).double(), space)
    assert unf_dimension(space) == 27 and np.linalg.matrix_rank(maps) == _nullspace(space) == 26


def test_mlp_count_matches_dws():
    for dims in [(2, 3, 3, 1), (1, 16, 16, 1), (3, 4, 2)]:
        assert unf_dimension(mlp_space(dims), 2, 3) == dws_dimension(dims, 2, 3)


def test_set_partitions_are_bell_numbers():
    assert [len(_set_partitions(list(range(m)))) for m in range(7)] == [1, 1, 2, 5, 15, 52, 203]


def test_unfnet_is_invariant_float32_and_float64():
    space = cnn_space(1, (4, 3), 3, 5)
    torch.manual_seed(0)
    model = UNFNet(space, hidden_channels=4, num_layers=2, out_features=2).double()
    x = _random(space, 5, 1)
    perms = space.random_permutations(torch.Generator().manual_seed(1))
    torch.testing.assert_close(model(space.permute(x, perms)), model(x), atol=1e-10, rtol=0)
    model32, x32 = model.float(), [t.float() for t in x]
    torch.testing.assert_close(model32(space.permute(x32, perms)), model32(x32), atol=1e-5, rtol=0)


def _call(module, space, tensors, x):
    return torch.func.functional_call(module, {n: t[0, 0] for n, t in zip(space.names, tensors)}, (x,))


def test_permuting_neurons_keeps_the_function_of_mlp_and_cnn():
    torch.manual_seed(0)
    nets = {
        "mlp": (torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.Tanh(), torch.nn.Linear(6, 5, bias=False),
                                    torch.nn.ReLU(), torch.nn.Linear(5, 2)), torch.randn(7, 3)),
        "cnn": (torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 5, 3, padding=1),
                                    torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                    torch.nn.Linear(5, 3)), torch.randn(7, 1, 8, 8)),
    }
    for name, (net, x) in nets.items():
        net = net.double()
        x = x.double()
        space, tensors = sequential_space(net), sequential_tensors(net)
        assert space.names == tuple(n for n, _ in net.named_parameters())
        perms = space.random_permutations(torch.Generator().manual_seed(2))
        moved = space.permute(tensors, perms)
        assert any(not torch.equal(a, b) for a, b in zip(moved, tensors)), name
        torch.testing.assert_close(_call(net, space, moved, x), net(x), atol=1e-12, rtol=0)
    assert sequential_space(nets["cnn"][0]).axes[-2] == (None, "h2")


def _residual_forward(tensors, x):
    t = [a[0, 0] for a in tensors]
    h = x @ t[0].T + t[1]
    for k in range((len(t) - 4) // 4):
        wa, ba, wb, bb = t[2 + 4 * k: 6 + 4 * k]
        h = h + torch.relu(h @ wa.T + ba) @ wb.T + bb
    return h @ t[-2].T + t[-1]


def test_permuting_neurons_keeps_the_function_of_a_residual_network():
    space = residual_mlp_space(3, 5, (4, 6), 2)
    tensors = _random(space, 1, 1, seed=3)
    x = torch.randn(9, 3, dtype=torch.float64)
    perms = space.random_permutations(torch.Generator().manual_seed(4))
    torch.testing.assert_close(_residual_forward(space.permute(tensors, perms), x), _residual_forward(tensors, x),
                               atol=1e-12, rtol=0)
    # permuting the residual stream in one block only (a wrong description) changes the function
    wrong = list(tensors)
    wrong[2] = space.permute(tensors, {"r": perms["r"]})[2]
    assert not torch.allclose(_residual_forward(wrong, x), _residual_forward(tensors, x))


def test_bad_input():
    with pytest.raises(ValueError, match="sizes 3 and 4"):
        WeightSpace(("a", "b"), ((3,), (4,)), (("h",), ("h",)))
    with pytest.raises(ValueError, match="one label per axis"):
        WeightSpace(("a",), ((3, 2),), (("h",),))
    with pytest.raises(ValueError, match="distinct"):
        WeightSpace(("a", "a"), ((3,), (3,)), (("h",), ("h",)))
    space = mlp_space((2, 3, 1))
    with pytest.raises(ValueError, match="tensor 'W1'"):
        UNFLayer(space, 1, 1)(_random(space, 2, 1)[:2] + [torch.zeros(2, 1, 3, 1), torch.zeros(2, 1, 1)])
    with pytest.raises(ValueError, match="unknown permutation labels"):
        space.permute(_random(space, 1, 1), {"h9": torch.arange(3)})
    with pytest.raises(ValueError, match="pool to 1x1"):
        sequential_space(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(18, 1)))
    with pytest.raises(ValueError, match="BatchNorm"):
        sequential_space(torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 1)))
