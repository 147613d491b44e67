"""Gaunt tensor products: exact against dense Gaunt coefficients, many-body, equivariance, gradients."""

import math

import numpy as np
import pytest
import torch

from irreps.o3 import gaunt, s2_quadrature, spherical_harmonics
from irreps.ops.tensor_product.gaunt import (
    GauntConvolution,
    GauntProduct,
    GauntTensorProduct,
    sh_fourier_coefficients,
)
from irreps.testing import assert_equivariant


def _dense(x1, x2, l1max, l2max, lomax):
    """``out_c = sum x1_a x2_b G_abc / 4pi`` with the core's Gaunt coefficients."""
    out = x1.new_zeros(*x1.shape[:-1], (lomax + 1) ** 2)
    for l1 in range(l1max + 1):
        for l2 in range(l2max + 1):
            for l3 in range(lomax + 1):
                G = gaunt(l1, l2, l3, normalization="component", dtype=x1.dtype) / (4 * math.pi)
                out[..., l3 * l3 : (l3 + 1) ** 2] += torch.einsum(
                    "...i,...j,ijk->...k", x1[..., l1 * l1 : (l1 + 1) ** 2], x2[..., l2 * l2 : (l2 + 1) ** 2], G
                )
    return out


def test_fourier_coefficients_are_sparse_and_exact():
    L = 4
    T = sh_fourier_coefficients(L)
    for l in range(L + 1):
        for m in range(-l, l + 1):
            nz = np.nonzero(np.abs(T[l * l + l + m]) > 0)
            assert set(np.abs(nz[1] - L)) <= {abs(m)}  # e^{iv phi} with v = +-m only
    # the series reproduces the harmonics at random points
    pts = torch.randn(7, 3, dtype=torch.float64)
    pts = pts / pts.norm(dim=1, keepdim=True)
    theta, phi = torch.arccos(pts[:, 1]), torch.atan2(pts[:, 0], pts[:, 2])
    u = torch.arange(-L, L + 1, dtype=torch.float64)
    phase = torch.exp(1j * (theta[:, None, None] * u[:, None] + phi[:, None, None] * u[None, :]))
    values = torch.einsum("kuv,nuv->nk", torch.from_numpy(T), phase).real
    torch.testing.assert_close(values, spherical_harmonics(list(range(L + 1)), pts), atol=1e-12, rtol=0)


@pytest.mark.parametrize("phi_transform, basis", [("matmul", "sparse"), ("fft", "sparse"), ("matmul", "dense")])
@pytest.mark.parametrize("l1, l2, lo", [(1, 1, 2), (2, 3, 4), (3, 2, 1), (4, 4, 8), (0, 3, 3), (5, 2, 6)])
def test_product_equals_dense_gaunt(l1, l2, lo, phi_transform, basis, generator):
    g = GauntProduct([l1, l2], lo, phi_transform=phi_transform, change_of_basis=basis)
    x1 = torch.randn(4, (l1 + 1) ** 2, generator=generator, dtype=torch.float64)
    x2 = torch.randn(4, (l2 + 1) ** 2, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(g(x1, x2), _dense(x1, x2, l1, l2, lo), atol=1e-10, rtol=0)
    torch.testing.assert_close(g(x1.float(), x2.float()), _dense(x1, x2, l1, l2, lo).float(), atol=1e-5, rtol=1e-5)


def test_many_body_product(generator):
    xs = [torch.randn(3, 2, (l + 1) ** 2, generator=generator, dtype=torch.float64) for l in (2, 1, 3)]
    # exact reference: (x1 x2) kept up to degree 3, times x3, projected to degree 4
    ref = _dense(_dense(xs[0], xs[1], 2, 1, 3), xs[2], 3, 3, 4)
    torch.testing.assert_close(GauntProduct([2, 1, 3], 4)(*xs), ref, atol=1e-10, rtol=0)
    # by quadrature: the product function integrated against Y_lm
    pts, w = s2_quadrature(2 + 1 + 3 + 4)
    f = [torch.einsum("...k,pk->...p", x, spherical_harmonics(list(range(l + 1)), pts)) for x, l in zip(xs, (2, 1, 3))]
    quad = torch.einsum("...p,p,pk->...k", f[0] * f[1] * f[2], w, spherical_harmonics(list(range(5)), pts)) / (4 * math.pi)
    torch.testing.assert_close(GauntProduct([2, 1, 3], 4)(*xs), quad, atol=1e-10, rtol=0)


def test_tensor_product_equivariant_and_parity(generator):
    tp = GauntTensorProduct(["2x0e+2x1o+2x2e", "2x0o+2x1e"], lmax_out=3).double()
    assert tp.irreps_out == "2x0o+2x1e+2x2o+2x3e"
    assert_equivariant(tp, tp.irreps_in, tp.irreps_out, generator=generator)
    power = GauntTensorProduct(["2x0e+2x1o"] * 3, lmax_out=3).double()
    assert_equivariant(lambda x: power(x, x, x), "2x0e+2x1o", power.irreps_out, generator=generator)


def test_no_odd_paths(generator):
    """1o x 1o -> 1e (the cross product) is an odd path: a Gaunt product gives exactly zero there."""
    tp = GauntTensorProduct(["1x0e+1x1o", "1x0e+1x1o"], lmax_out=2).double()
    a, b = torch.zeros(1, 4, dtype=torch.float64), torch.zeros(1, 4, dtype=torch.float64)
    a[0, 1:], b[0, 1:] = torch.randn(3, generator=generator, dtype=torch.float64), torch.randn(3, generator=generator, dtype=torch.float64)
    out = tp(a, b)
    assert out[0, 1:4].abs().max() < 1e-14  # no l=1 output from 1 x 1
    assert out[0, 0].abs() > 1e-3  # the dot product is there


def test_convolution_matches_path_weights(generator):
    conv = GauntConvolution("2x0e+2x1o+2x2e", lmax_out=3, lmax_filter=2).double()
    x = conv.irreps_in.randn(5, generator=generator, dtype=torch.float64)
    r = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    w = torch.randn(5, conv.weight_numel, generator=generator, dtype=torch.float64)
    wv = w.reshape(5, conv.num_params, 2)
    sh = spherical_harmonics([0, 1, 2], r)
    deg3, deg4 = torch.tensor([l for l in range(3) for _ in range(2 * l + 1)]), torch.tensor([l for l in range(4) for _ in range(2 * l + 1)])
    xs = torch.cat([x[:, :2, None], x[:, 2:8].reshape(5, 2, 3), x[:, 8:].reshape(5, 2, 5)], dim=2)
    feature = xs * wv[:, deg3].transpose(1, 2)
    filt = sh[:, None, :] * wv[:, 3 + deg3].transpose(1, 2)
    ref = _dense(feature, filt, 2, 2, 3) * wv[:, 6 + deg4].transpose(1, 2)
    ref = torch.cat([ref[:, :, l * l : (l + 1) ** 2].reshape(5, -1) for l in range(4)], dim=1)
    torch.testing.assert_close(conv(x, r, w), ref, atol=1e-10, rtol=0)
    assert_equivariant(lambda a, b: conv(a, b, w[:4]), [conv.irreps_in, "1o"], conv.irreps_out, generator=generator)


def test_gradcheck_and_edge_cases(generator):
    conv = GauntConvolution("1x0e+1x1o", lmax_out=2, lmax_filter=1).double()
    x = conv.irreps_in.randn(3, generator=generator, dtype=torch.float64).requires_grad_()
    r = torch.tensor([[0.0, 1.0, 0.0], [0.0, -1.0, 0.0], [0.3, 0.2, -0.1]], dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, conv.weight_numel, generator=generator, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(conv, (x, r, w))
    scalar = GauntConvolution("3x0e", lmax_out=0, lmax_filter=0).double()
    xs, ws = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 9, dtype=torch.float64)
    out = scalar(xs, torch.zeros(2, 3, dtype=torch.float64), ws)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("irreps", ["2x0e+2x1e", "2x0e+3x1o", "2x1o", "2x0e+2x2e"])
def test_invalid_irreps(irreps):
    with pytest.raises(ValueError, match="sphere functions"):
        GauntConvolution(irreps, 1, 1)


def test_invalid_inputs():
    with pytest.raises(ValueError, match="equal channels"):
        GauntTensorProduct(["2x0e", "3x0e"], 0)
    with pytest.raises(ValueError, match="phi_transform"):
        GauntProduct([1, 1], 2, phi_transform="dct")
    with pytest.raises(ValueError, match="change_of_basis"):
        GauntProduct([1, 1], 2, change_of_basis="full")
    g = GauntProduct([1, 1], 2)
    with pytest.raises(ValueError, match="expected 2 factors"):
        g(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="last size"):
        g(torch.zeros(1, 4), torch.zeros(1, 3))


def test_auto_change_of_basis_by_degree(generator):
    """'auto' picks dense maps up to degree 8 and the sparse route above; both give the same product."""
    g = GauntProduct([9, 2], 8)
    assert g._dense_in == [False, True] and g._dense_out
    x1 = torch.randn(2, 100, generator=generator, dtype=torch.float64)
    x2 = torch.randn(2, 9, generator=generator, dtype=torch.float64)
    ref = GauntProduct([9, 2], 8, change_of_basis="sparse")(x1, x2)
    torch.testing.assert_close(g(x1, x2), ref, atol=1e-10, rtol=0)


@pytest.mark.parametrize("basis", ["dense", "sparse"])
@pytest.mark.parametrize("phi_transform", ["matmul", "fft"])
def test_product_of_zero_rows(basis, phi_transform):
    g = GauntProduct([2, 1, 3], 2, phi_transform=phi_transform, change_of_basis=basis)
    xs = [torch.zeros(0, 5, (l + 1) ** 2, requires_grad=True) for l in (2, 1, 3)]
    out = g(*xs)
    assert out.shape == (0, 5, 9)
    assert [t.shape for t in torch.autograd.grad(out.sum(), xs)] == [x.shape for x in xs]
    tp = GauntTensorProduct(["2x0e+2x1o", "2x0e+2x1o"], 2)
    assert tp(torch.zeros(0, 8), torch.zeros(0, 8)).shape == (0, tp.irreps_out.dim)
