"""The closed-form Gaunt convolution of scalars: equal to the grid path, equivariant, chosen by the factory."""

import pytest
import torch

from irreps.ops.tensor_product import GauntConvolution, ScalarGauntConvolution, make_convolution
from irreps.testing import assert_equivariant


@pytest.mark.parametrize("irreps,lmax_out,lmax_filter", [("3x0e", 3, 3), ("2x0o", 2, 3), ("4x0e", 3, 1), ("2x0e", 0, 2)])
def test_equals_grid_path(irreps, lmax_out, lmax_filter, generator):
    """Same weights, same outputs as the sphere-grid GauntConvolution, including degrees the filter misses."""
    fast = ScalarGauntConvolution(irreps, lmax_out, lmax_filter).double()
    grid = GauntConvolution(irreps, lmax_out, lmax_filter).double()
    assert fast.irreps_out == grid.irreps_out and fast.weight_numel == grid.weight_numel
    x = fast.irreps_in.randn(7, generator=generator, dtype=torch.float64)
    r = torch.randn(7, 3, generator=generator, dtype=torch.float64)
    w = torch.randn(7, fast.weight_numel, generator=generator, dtype=torch.float64)
    expected = grid(x, r, w)
    assert expected.abs().max() > 1e-3
    torch.testing.assert_close(fast(x, r, w), expected, atol=1e-10, rtol=0)
    grads = [torch.autograd.grad(conv(*(t.requires_grad_() for t in (x, r, w))).square().sum(), (x, r, w))
             for conv in (fast, grid)]
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


def test_rotation_reflection_permutation(generator):
    conv = ScalarGauntConvolution("3x0e", lmax_out=3, lmax_filter=3).double()
    w = torch.randn(5, conv.weight_numel, generator=generator, dtype=torch.float64)
    assert_equivariant(lambda x, r: conv(x, r, w), [conv.irreps_in, "1o"], conv.irreps_out, batch_size=5, generator=generator)
    x = conv.irreps_in.randn(5, generator=generator, dtype=torch.float64)
    r = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    perm = torch.randperm(5, generator=generator)
    torch.testing.assert_close(conv(x[perm], r[perm], w[perm]), conv(x, r, w)[perm], atol=1e-12, rtol=0)


def test_factory_picks_it_for_scalars_only():
    assert isinstance(make_convolution("gaunt", "4x0e", "4x0e+4x1o+4x2e", lmax_filter=2), ScalarGauntConvolution)
    assert isinstance(make_convolution("gaunt", "4x0e+4x1o", "4x0e+4x1o", lmax_filter=2), GauntConvolution)


def test_zero_edges_and_bad_input():
    conv = ScalarGauntConvolution("2x0e", 2, 2).double()
    x, r, w = (torch.zeros(0, n, dtype=torch.float64, requires_grad=True) for n in (2, 3, conv.weight_numel))
    out = conv(x, r, w)
    assert out.shape == (0, conv.irreps_out.dim)
    assert [g.shape for g in torch.autograd.grad(out.sum(), (x, r, w))] == [x.shape, r.shape, w.shape]
    with pytest.raises(ValueError, match="scalars only"):
        ScalarGauntConvolution("2x0e+2x1o", 1, 1)
    with pytest.raises(ValueError, match="ScalarGauntConvolution: got feature size 3"):
        conv(torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(4, conv.weight_numel))
