"""TFN and SE(3)-Transformer layers: every hidden irrep equivariant, and wired as the papers say
(convolutions checked against e3nn's tensor product and spherical harmonics)."""

import math

import pytest
import torch
from e3nn import o3 as e3nn_o3

from irreps.models.tfn.blocks import build_edges
from irreps.models.tfn.config import hidden_irreps
from irreps.models.tfn.se3_transformer import SE3TransformerConfig, SE3TransformerLayer
from irreps.models.tfn.tfn import TFNConfig, TFNLayer
from irreps.ops.radial import GaussianBasis
from irreps.ops.scatter import scatter_sum
from irreps.testing import assert_equivariant

N = 6
EDGES = torch.tensor([[i, j] for i in range(N) for j in range(N) if i != j and (i + j) % 3]).T
CUTOFF = 3.5


def _layer(kind: str, **options):
    torch.manual_seed(0)
    common = dict(elements=[1, 6], channels=4, lmax=2, num_basis=5, radial_dim=8, cutoff=CUTOFF, **options)
    if kind == "tfn":
        config = TFNConfig(avg_degree=2.5, **common)
        layer = TFNLayer(config.irreps_hidden, config.irreps_hidden, config)
    else:
        config = SE3TransformerConfig(num_heads=2, key_channels=2, **common)
        layer = SE3TransformerLayer(config.irreps_hidden, config.irreps_hidden, config)
    layer = layer.double()
    with torch.no_grad():  # away from the default init's zero biases and unit layer-norm weights
        for p in layer.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return layer, GaussianBasis(5, CUTOFF).double()


def _positions(generator):
    return torch.randn(N, 3, generator=generator, dtype=torch.float64) * 1.3


def _edges(positions, basis):
    return build_edges(EDGES, positions, torch.zeros(EDGES.shape[1], 3, dtype=torch.float64), basis, CUTOFF)


def test_hidden_irreps():
    assert hidden_irreps(3, 2, "natural") == "3x0e+3x1o+3x2e"
    assert hidden_irreps(3, 2, "full") == "3x0e+3x0o+3x1o+3x1e+3x2e+3x2o"
    assert hidden_irreps(2, 0, "full") == "2x0e+2x0o"


@pytest.mark.parametrize("kind", ["tfn", "se3_transformer"])
@pytest.mark.parametrize("nonlinearity", ["norm", "gate"])
def test_layers_are_equivariant_in_every_irrep(kind, nonlinearity, generator):
    layer, basis = _layer(kind, nonlinearity=nonlinearity)
    irreps = layer.irreps_in
    x = irreps.randn(N, generator=generator, dtype=torch.float64)
    positions = _positions(generator)
    out = layer(x, _edges(positions, basis))
    for (mul, ir), sl in zip(irreps, irreps.slices()):  # every irrep, pseudo-tensors included, is reached
        assert out[:, sl].abs().max() > 1e-3, ir
    assert_equivariant(lambda x, pos: layer(x, _edges(pos, basis)), [irreps, "1o"], irreps,
                       inputs=[x, positions], generator=generator)


def _e3nn_convolution(conv, x, edges):
    """``x_j (x) Y(r_ij)`` with e3nn's product and spherical harmonics and the layer's radial weights."""
    sh_irreps = e3nn_o3.Irreps.spherical_harmonics(conv.conv.irreps_filter.lmax)
    instructions = [tuple(i[:5]) for i in conv.conv.tp.instructions]
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # e3nn bakes its coefficients in the default dtype
    try:
        tp = e3nn_o3.TensorProduct(str(conv.irreps_in), sh_irreps, str(conv.irreps_out), instructions,
                                   shared_weights=False, internal_weights=False)
    finally:
        torch.set_default_dtype(previous)
    sh = e3nn_o3.spherical_harmonics(sh_irreps, edges.vectors, normalize=True, normalization="component")
    return tp(x[edges.senders], sh, conv.radial(edges.basis))


def test_tfn_layer_sums_e3nn_convolutions(generator):
    layer, basis = _layer("tfn")
    x = layer.irreps_in.randn(N, generator=generator, dtype=torch.float64)
    edges = _edges(_positions(generator), basis)
    messages = _e3nn_convolution(layer.convolution, x, edges) * edges.envelope[:, None] / math.sqrt(2.5)
    expected = layer.update(scatter_sum(messages, edges.receivers, N), x)
    torch.testing.assert_close(layer(x, edges), expected, atol=1e-12, rtol=0)


def test_se3_transformer_layer_attends_over_e3nn_convolutions(generator):
    layer, basis = _layer("se3_transformer")
    x = layer.irreps_in.randn(N, generator=generator, dtype=torch.float64)
    edges = _edges(_positions(generator), basis)
    keys = layer.key_mix(_e3nn_convolution(layer.key_convolution, x, edges))
    values = _e3nn_convolution(layer.value_convolution, x, edges)
    attended = layer.attention(layer.query(x), keys, values, edges.receivers, edges.envelope)
    torch.testing.assert_close(layer(x, edges), layer.update(attended, x), atol=1e-12, rtol=0)


def test_config_errors():
    with pytest.raises(ValueError, match="multiple of num_heads"):
        SE3TransformerConfig(elements=[1], channels=6, num_heads=4, key_channels=8)
    with pytest.raises(ValueError, match="parity"):
        TFNConfig(elements=[1], parity="odd")
    with pytest.raises(ValueError, match="nonlinearity"):
        TFNConfig(elements=[1], nonlinearity="relu")
    with pytest.raises(ValueError, match="avg_degree"):
        TFNConfig(elements=[1], avg_degree=0.0)
    with pytest.raises(ValueError, match="channels must be >= 1"):
        TFNConfig(elements=[1], channels=0)
