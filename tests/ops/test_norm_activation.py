"""Norm nonlinearities (TFN and SE(3)-Transformer forms)."""

import pytest
import torch

from irreps.ops.norm_activation import NormActivation
from irreps.testing import assert_equivariant

IRREPS = "2x0e+2x0o+2x1o+2x1e+2x2e"


def _randomised(layer: NormActivation, generator: torch.Generator) -> NormActivation:
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype))
    return layer


@pytest.mark.parametrize("normalize, layer_norm", [(False, False), (True, True), (True, False)], ids=["tfn", "se3", "unit"])
def test_equivariant(normalize, layer_norm, generator):
    layer = _randomised(NormActivation(IRREPS, normalize=normalize, layer_norm=layer_norm).double(), generator)
    assert_equivariant(layer, layer.irreps_in, layer.irreps_out, generator=generator)


def test_tfn_form_values(generator):
    """``eta(x + b)`` on 0e scalars, ``eta(|x| + b) x`` on every other copy (Thomas et al. 2018)."""
    layer = _randomised(NormActivation("2x0e+1x1o", act=torch.tanh, eps=1e-9).double(), generator)
    x = torch.randn(3, 5, generator=generator, dtype=torch.float64)
    out = layer(x)
    b = layer.bias.detach()
    torch.testing.assert_close(out[:, :2], torch.tanh(x[:, :2] + b[:2]))
    torch.testing.assert_close(out[:, 2:], x[:, 2:] * torch.tanh(x[:, 2:].norm(dim=1, keepdim=True) + b[2]))


def test_se3_form_values(generator):
    """``relu(LayerNorm(|x|)) x / |x|`` with the layer norm over the channels of one entry (Fuchs et al. 2020)."""
    layer = NormActivation("1x0e+3x1o", act=torch.relu, normalize=True, layer_norm=True, eps=1e-9).double()
    x = torch.randn(4, 10, generator=generator, dtype=torch.float64)
    out = layer(x)
    torch.testing.assert_close(out[:, :1], torch.zeros(4, 1, dtype=torch.float64))  # one channel: LN(|x|) = 0
    vectors = x[:, 1:].reshape(4, 3, 3)
    norms = vectors.norm(dim=-1)
    scale = torch.relu((norms - norms.mean(1, keepdim=True)) / torch.sqrt(norms.var(1, unbiased=False, keepdim=True) + 1e-5))
    torch.testing.assert_close(out[:, 1:], (vectors / norms[..., None] * scale[..., None]).reshape(4, 9))


@pytest.mark.parametrize("normalize", [False, True])
def test_zero_features_have_finite_second_derivatives(normalize, generator):
    """An atom without neighbours has exactly zero l > 0 features: forces and Hessians must stay finite."""
    layer = _randomised(NormActivation("1x0e+1x1o", normalize=normalize).double(), generator)
    x = torch.zeros(1, 4, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(layer(x).square().sum() + layer(x).sum(), x, create_graph=True)
    (second,) = torch.autograd.grad(grad.sum(), x)
    assert torch.isfinite(grad).all() and torch.isfinite(second).all()


def test_gradcheck_and_errors(generator):
    layer = _randomised(NormActivation("1x0e+1x1o+1x2e").double(), generator)
    x = layer.irreps_in.randn(2, generator=generator, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(layer, (x,))
    with pytest.raises(ValueError, match="expected last size 9"):
        layer(torch.zeros(2, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="eps"):
        NormActivation("1x0e", eps=0.0)
