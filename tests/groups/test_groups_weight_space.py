"""DWS layers: hidden-neuron permutation equivariance, the dimension formula against the numerical
nullspace, invariance of DWSNet, and the sine-INR task data."""

import math

import numpy as np
import pytest
import torch

from groups_helpers import permutation_matrix, unit_parameter_maps
from irreps.groups.sine_inr import _mlp, fit_omega_regressor, make_sine_inrs
from irreps.groups.weight_space import DWSLayer, DWSNet, dws_dimension, flatten_params, permute_hidden, unflatten_params
from irreps.groups.weight_space_baselines import DeepSetsRegressor

DIMS = [(2, 3, 3, 1), (1, 4, 1), (2, 1, 3, 2), (3, 2), (1, 2, 2, 2, 1)]


def _random_space(dims, batch, channels, seed=0):
    gen = torch.Generator().manual_seed(seed)
    w = [torch.randn(batch, channels, dims[i + 1], dims[i], dtype=torch.float64, generator=gen) for i in range(len(dims) - 1)]
    b = [torch.randn(batch, channels, dims[i + 1], dtype=torch.float64, generator=gen) for i in range(len(dims) - 1)]
    return w, b


@pytest.mark.parametrize("dims", DIMS, ids=str)
def test_layer_is_equivariant(dims):
    torch.manual_seed(0)
    layer = DWSLayer(dims, 2, 3).double()
    with torch.no_grad():
        for p in layer.bias:
            p.normal_()
    w, b = _random_space(dims, 4, 2)
    perms = [torch.randperm(d) for d in dims[1:-1]]
    out = layer(*permute_hidden(w, b, perms))
    expected = permute_hidden(*layer(w, b), perms)
    for x, y in zip(out[0] + out[1], expected[0] + expected[1]):
        torch.testing.assert_close(x, y, atol=1e-12, rtol=0)


def _dense_layer_maps(layer, dims):
    """[num_params, size, size]: the linear map of each weight entry (bias off), channels 1."""
    size = flatten_params(*_random_space(dims, 1, 1)).shape[-1]
    eye = torch.eye(size, dtype=torch.float64)[:, None]
    return unit_parameter_maps(list(layer.weight),
                               lambda: flatten_params(*layer(*unflatten_params(eye, dims)))[:, 0].T)


def _nullspace(dims) -> int:
    """Equivariant maps on the flat weight space from the generator constraints, float64."""
    size = flatten_params(*_random_space(dims, 1, 1)).shape[-1]
    index = torch.arange(size, dtype=torch.float64).reshape(1, 1, size)
    gram = np.zeros((size * size, size * size))
    for j, d in enumerate(dims[1:-1]):
        for cycle in ([1, 0] + list(range(2, d)), list(range(1, d)) + [0]) if d > 1 else ():
            perms = [torch.arange(e) for e in dims[1:-1]]
            perms[j] = torch.tensor(cycle)
            moved = flatten_params(*permute_hidden(*unflatten_params(index, dims), perms))[0, 0].long()
            p = permutation_matrix(moved.numpy()).T  # (P v)[a] = v[moved[a]]
            c = np.kron(p, p) - np.eye(size * size)  # vec(P W P^T) = (P ⊗ P) vec(W)
            gram += c.T @ c
    eig = np.linalg.eigvalsh(gram)
    return int(np.sum(eig < 1e-9 * max(eig.max(), 1.0)))


@pytest.mark.parametrize("dims", [(2, 3, 3, 1), (1, 4, 1), (2, 1, 2, 2), (3, 2)], ids=str)
def test_dimension_formula(dims):
    torch.manual_seed(0)
    layer = DWSLayer(dims, 1, 1, bias=False).double()
    maps = _dense_layer_maps(layer, dims)
    assert sum(p.numel() for p in layer.weight) == dws_dimension(dims) == np.linalg.matrix_rank(maps) == _nullspace(dims)


def test_dimension_formula_with_channels():
    assert dws_dimension((2, 3, 3, 1), 4, 5) == 20 * dws_dimension((2, 3, 3, 1))


def test_dwsnet_is_invariant():
    dims = (1, 5, 4, 1)
    torch.manual_seed(0)
    model = DWSNet(dims, hidden_channels=4, num_layers=3).double()
    w, b = _random_space(dims, 6, 1)
    perms = [torch.randperm(5), torch.randperm(4)]
    torch.testing.assert_close(model(*permute_hidden(w, b, perms)), model(w, b), atol=1e-12, rtol=0)
    baseline = DeepSetsRegressor(dims).double()
    torch.testing.assert_close(baseline(*permute_hidden(w, b, perms)), baseline(w, b), atol=1e-12, rtol=0)


def test_sine_inrs_fit_and_hidden_permutations_keep_the_function():
    data = make_sine_inrs(6, hidden=(8, 8), steps=300, seed=1)
    assert data.dims == (1, 8, 8, 1) and data.weights[1].shape == (6, 1, 8, 8)
    assert float(data.fit_mse.median()) < 0.05  # the target has variance 0.5
    x = torch.linspace(-math.pi, math.pi, 33).reshape(1, -1, 1).expand(6, -1, -1)
    squeeze = lambda ts: [t[:, 0] for t in ts]  # noqa: E731
    perms = [torch.randperm(8), torch.randperm(8)]
    pw, pb = permute_hidden(data.weights, data.biases, perms)
    torch.testing.assert_close(_mlp(x, squeeze(pw), squeeze(pb)), _mlp(x, squeeze(data.weights), squeeze(data.biases)))


def test_omega_regressor_learns_and_reports_the_mse_in_omega_units():
    data = make_sine_inrs(12, hidden=(4,), steps=20)
    train, test = data.subset(torch.arange(8)), data.subset(torch.arange(8, 12))
    torch.manual_seed(0)
    model = DWSNet(data.dims, 2, 2)
    result = fit_omega_regressor(model, train, test, epochs=40, lr=1e-2)
    assert set(result) == {"test_mse", "train_mse"}
    mean, std = train.omega.mean(), train.omega.std()
    model.eval()
    for name, subset in (("train_mse", train), ("test_mse", test)):
        with torch.no_grad():  # the fitted model's predictions, de-standardised, against omega
            omega = model(subset.weights, subset.biases)[:, 0] * std + mean
        assert result[name] == pytest.approx(float(((omega - subset.omega) ** 2).mean()), rel=1e-6)
    assert result["train_mse"] < 0.1 * float(train.omega.var())  # predicting the mean gives the variance


def test_bad_input():
    with pytest.raises(ValueError, match="dims"):
        DWSLayer((3,), 1, 1)
    layer = DWSLayer((2, 3, 1), 1, 1)
    w, b = _random_space((2, 3, 1), 2, 1)
    with pytest.raises(ValueError, match="expected"):
        layer([w[0].float(), torch.zeros(2, 1, 1, 4)], [b[0].float(), b[1].float()])
    with pytest.raises(ValueError, match="parameters for dims"):
        unflatten_params(torch.zeros(1, 1, 5), (2, 3, 1))
