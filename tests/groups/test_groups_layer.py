"""EquivariantLinear: fast == dense (float64, 1e-12), equivariance, gradients, float32, bad input."""

import numpy as np
import pytest
import torch

from groups_helpers import random_element
from irreps.groups import EquivariantLinear

ORDERS = [(k, m - k) for m in range(7) for k in range(m + 1)]
SIZES = {"S": 3, "A": 3, "O": 3, "SO": 3, "Sp": 2}


def _layer(group, n, k, l, basis="diagram", c_in=2, c_out=3):
    torch.manual_seed(0)
    layer = EquivariantLinear(group, n, k, l, c_in, c_out, basis=basis, dtype=torch.float64)
    with torch.no_grad():
        layer.bias.normal_()
    return layer


@pytest.mark.parametrize("group", ["S", "A", "O", "SO", "Sp"])
@pytest.mark.parametrize("k,l", ORDERS)
def test_fast_equals_dense(group, k, l):
    n = SIZES[group]
    for basis in (["diagram", "orbit", "spanning_set"] if group in ("S", "A") else ["diagram", "spanning_set"]):
        layer = _layer(group, n, k, l, basis)
        x = torch.randn((4, 2) + (n,) * k, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        torch.testing.assert_close(layer(x), layer.forward_dense(x), atol=1e-12, rtol=0)


@pytest.mark.parametrize("group,n,k,l", [("S", 2, 3, 3), ("S", 5, 2, 3), ("A", 2, 2, 3), ("A", 4, 3, 2),
                                         ("O", 1, 2, 2), ("O", 5, 3, 1), ("SO", 2, 2, 2), ("SO", 4, 2, 2),
                                         ("SO", 1, 1, 2), ("Sp", 4, 2, 2), ("Sp", 6, 1, 1)])
def test_fast_equals_dense_other_sizes(group, n, k, l):
    layer = _layer(group, n, k, l, c_in=3)  # three input channels: the matmul mixing path
    x = torch.randn((3, 3) + (n,) * k, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(layer(x), layer.forward_dense(x), atol=1e-12, rtol=0)


def _apply(x: torch.Tensor, g: torch.Tensor, axes: int) -> torch.Tensor:
    for axis in range(2, 2 + axes):
        x = torch.movedim(torch.tensordot(x, g, dims=([axis], [1])), -1, axis)
    return x


@pytest.mark.parametrize("group,n", [("S", 6), ("A", 4), ("O", 5), ("SO", 3), ("SO", 4), ("Sp", 4)])
@pytest.mark.parametrize("k,l", [(2, 2), (1, 3), (3, 1), (0, 2), (2, 0)])
def test_layer_is_equivariant(group, n, k, l):
    layer = _layer(group, n, k, l)
    g = torch.from_numpy(random_element(group, n, np.random.default_rng(3)))
    x = torch.randn((2, 2) + (n,) * k, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(layer(_apply(x, g, k)), _apply(layer(x), g, l), atol=1e-10, rtol=0)


def test_non_equivariant_map_is_caught():
    """The equivariance check above can fail: an O(3) layer is not Sp-equivariant in general."""
    layer = _layer("O", 4, 2, 2)
    g = torch.from_numpy(random_element("Sp", 4, np.random.default_rng(3)))
    x = torch.randn(2, 2, 4, 4, dtype=torch.float64)
    assert (layer(_apply(x, g, 2)) - _apply(layer(x), g, 2)).abs().max() > 1e-3


def test_gradients():
    layer = _layer("SO", 3, 2, 1, c_in=1, c_out=2)
    x = torch.randn(2, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: _functional(layer, x, w, b), (x, layer.weight, layer.bias))
    layer = _layer("S", 3, 2, 2, basis="orbit", c_in=1, c_out=1)
    x = torch.randn(2, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: _functional(layer, x, w, b), (x, layer.weight, layer.bias))
    layer = _layer("S", 2, 2, 1, c_in=3, c_out=2)  # more channels: the matmul mixing path
    x = torch.randn(2, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: _functional(layer, x, w, b), (x, layer.weight, layer.bias))


def _functional(layer, x, weight, bias):
    return torch.func.functional_call(layer, {"weight": weight, "bias": bias}, (x,))


def test_float32_matches_float64():
    layer = EquivariantLinear("S", 8, 2, 2, 3, 4)
    x = torch.randn(5, 3, 8, 8)
    ref = layer.double()(x.double())
    torch.testing.assert_close(layer.float()(x), ref.float(), atol=1e-5, rtol=1e-5)
    assert layer(x).dtype == torch.float32


def test_large_n_without_dense_weight():
    """n = 64, k = l = 3 runs; checked against a permutation of the input instead of a dense matrix."""
    layer = EquivariantLinear("S", 64, 3, 3, 1, 1, bias=False)
    x = torch.randn(1, 1, 64, 64, 64)
    perm = torch.randperm(64)
    y = layer(x)
    y_perm = layer(x[:, :, perm][:, :, :, perm][:, :, :, :, perm])
    torch.testing.assert_close(y_perm, y[:, :, perm][:, :, :, perm][:, :, :, :, perm], atol=1e-4, rtol=1e-4)


def test_bad_input():
    layer = EquivariantLinear("O", 3, 2, 1, 2, 2)
    with pytest.raises(ValueError, match=r"expected input \[batch, 2, 3, 3\]"):
        layer(torch.randn(4, 2, 3))
    with pytest.raises(ValueError, match="channel counts"):
        EquivariantLinear("O", 3, 2, 1, 0, 2)
    with pytest.raises(ValueError, match="even n"):
        EquivariantLinear("Sp", 3, 1, 1, 1, 1)
