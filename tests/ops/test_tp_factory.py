"""One interface for the three engines."""

import pytest
import torch

from irreps.ops.tensor_product import ENGINES, make_convolution
from irreps.testing import assert_equivariant


@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_has_the_interface(engine, generator):
    conv = make_convolution(engine, "2x0e+2x1o+2x2e", "2x0e+2x1o+2x2e", lmax_filter=2).double()
    w = torch.randn(4, conv.weight_numel, generator=generator, dtype=torch.float64)
    out = conv(conv.irreps_in.randn(4, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64), w)
    assert out.shape == (4, conv.irreps_out.dim)
    assert_equivariant(lambda x, r: conv(x, r, w), [conv.irreps_in, "1o"], conv.irreps_out, generator=generator)


@pytest.mark.parametrize("engine", ENGINES)
def test_zero_edges_forward_and_backward(engine):
    """A batch of lone atoms has no edges: every engine maps zero rows to zero rows, gradients too."""
    conv = make_convolution(engine, "2x0e+2x1o+2x2e", "2x0e+2x1o+2x2e", lmax_filter=2).double()
    x, r, w = (torch.zeros(0, n, dtype=torch.float64, requires_grad=True) for n in (conv.irreps_in.dim, 3, conv.weight_numel))
    out = conv(x, r, w)
    assert out.shape == (0, conv.irreps_out.dim)
    grads = torch.autograd.grad(out.sum(), (x, r, w), create_graph=True)
    assert [g.shape for g in grads] == [x.shape, r.shape, w.shape]
    (second,) = torch.autograd.grad(grads[1].sum(), w, allow_unused=True, materialize_grads=True)
    assert second.shape == w.shape


def test_bad_engine_and_gaunt_outputs():
    with pytest.raises(ValueError, match="unknown engine"):
        make_convolution("fft", "1x0e", "1x0e", 0)
    with pytest.raises(ValueError, match="Gaunt engine produces"):
        make_convolution("gaunt", "2x0e+2x1o", "2x0e+2x1e", 1)
