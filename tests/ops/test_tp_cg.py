"""Clebsch-Gordan tensor product: e3nn equality, equivariance, gradients, validation."""

import pytest
import torch

from irreps.ops.tensor_product.cg import CGConvolution, TensorProduct, channelwise_instructions
from irreps.testing import assert_equivariant

IN1 = "3x0e+2x1o+2x2e+1x1e"
IN2 = "2x0e+1x1o+2x2e"
OUT = "3x0e+4x1o+2x1e+3x2e+2x0o"
UVW = [(0, 0, 0, "uvw", True), (1, 1, 0, "uvw", True), (1, 0, 1, "uvw", True), (2, 1, 1, "uvw", True),
       (1, 1, 2, "uvw", True), (3, 2, 3, "uvw", True, 0.5), (2, 2, 0, "uvw", True), (3, 1, 4, "uvw", True)]
UVU_IN1 = "4x0e+4x1o+4x2e"
UVU_OUT = "4x0e+4x0o+4x1o+4x1e+4x2e+4x3o"


def _uvu_instructions():
    ins = channelwise_instructions(UVU_IN1, IN2, UVU_OUT)
    # one unweighted path and one with an extra path weight, to cover both code paths
    ins[0] = ins[0][:4] + (False,)
    ins[1] = ins[1] + (2.0,)
    return ins


@pytest.mark.parametrize("irrep_norm", ["component", "norm", "none"])
@pytest.mark.parametrize("path_norm", ["element", "path", "none"])
@pytest.mark.parametrize("mode, shared", [("uvw", True), ("uvu", False)])
def test_equals_e3nn(irrep_norm, path_norm, shared, mode, generator):
    e3nn_o3 = pytest.importorskip("e3nn.o3", reason="e3nn is the reference implementation")
    in1, out, ins = (IN1, OUT, UVW) if mode == "uvw" else (UVU_IN1, UVU_OUT, _uvu_instructions())
    kwargs = dict(irrep_normalization=irrep_norm, path_normalization=path_norm, shared_weights=shared,
                  internal_weights=False)
    ours = TensorProduct(in1, IN2, out, ins, **kwargs)
    ref = e3nn_o3.TensorProduct(in1, IN2, out, ins, **kwargs)
    assert ours.weight_numel == ref.weight_numel
    x1 = torch.randn(6, ours.irreps_in1.dim, generator=generator)
    x2 = torch.randn(6, ours.irreps_in2.dim, generator=generator)
    w = torch.randn(*(() if shared else (6,)), ours.weight_numel, generator=generator)
    torch.testing.assert_close(ours(x1, x2, w), ref(x1, x2, w), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode, shared", [("uvw", False), ("uvu", True)])
def test_equals_e3nn_other_weight_sharing(mode, shared, generator):
    test_equals_e3nn("component", "element", shared, mode, generator)


@pytest.mark.parametrize("lmax", [0, 1, 2])
@pytest.mark.parametrize("shared", [False, True])
def test_dense_small_path_equals_e3nn_and_general_path(lmax, shared, generator):
    """The single-contraction path for small convolution-shaped products (mul 1 on the filter)."""
    e3nn_o3 = pytest.importorskip("e3nn.o3", reason="e3nn is the reference implementation")
    in1 = "+".join(f"5x{l}{'eo'[l % 2]}" for l in range(lmax + 1))
    in2 = "+".join(f"1x{l}{'eo'[l % 2]}" for l in range(lmax + 1))
    out = "+".join(f"5x{l}{p}" for l in range(lmax + 1) for p in "eo") + "+5x3o"  # 3o: an entry no path reaches
    ins = channelwise_instructions(in1, in2, out)
    ins[-1] = ins[-1] + (0.5,)
    kwargs = dict(shared_weights=shared, internal_weights=False)
    ours = TensorProduct(in1, in2, out, ins, **kwargs).double()
    assert ours._small
    general = TensorProduct(in1, in2, out, ins, **kwargs).double()
    general._small = None
    ref = e3nn_o3.TensorProduct(in1, in2, out, ins, **kwargs).double()
    x1 = torch.randn(7, ours.irreps_in1.dim, generator=generator, dtype=torch.float64)
    x2 = torch.randn(7, ours.irreps_in2.dim, generator=generator, dtype=torch.float64)
    w = torch.randn(*(() if shared else (7,)), ours.weight_numel, generator=generator, dtype=torch.float64)
    result = ours(x1, x2, w)
    # e3nn keeps its coefficients in float32 even after .double()
    torch.testing.assert_close(result, ref(x1, x2, w), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(result, general(x1, x2, w), atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(ours(x1[:, None], x2[:3], w if shared else w[:, None]), general(x1[:, None], x2[:3], w if shared else w[:, None]))


def test_dense_path_only_for_small_convolution_shapes():
    assert not TensorProduct(UVU_IN1, IN2, UVU_OUT, _uvu_instructions(), shared_weights=False)._small  # mul 2 on in2
    assert not TensorProduct(IN1, IN2, OUT, UVW)._small
    assert not CGConvolution("16x0e+16x1o+16x2e+16x3o", "16x0e+16x1o+16x2e+16x3o", 3).tp._small  # too large


def test_internal_weights_and_broadcasting(generator):
    tp = TensorProduct(IN1, IN2, OUT, UVW)
    assert tp.weight.shape == (tp.weight_numel,)
    x1 = torch.randn(2, 3, tp.irreps_in1.dim, generator=generator)
    x2 = torch.randn(3, tp.irreps_in2.dim, generator=generator)
    out = tp(x1, x2)
    assert out.shape == (2, 3, tp.irreps_out.dim)
    torch.testing.assert_close(out[1], tp(x1[1], x2))


@pytest.mark.parametrize("mode", ["uvw", "uvu"])
def test_equivariant(mode, generator):
    in1, out, ins = (IN1, OUT, UVW) if mode == "uvw" else (UVU_IN1, UVU_OUT, _uvu_instructions())
    tp = TensorProduct(in1, IN2, out, ins, shared_weights=False).double()
    w = torch.randn(4, tp.weight_numel, generator=generator, dtype=torch.float64)
    assert_equivariant(lambda a, b: tp(a, b, w), [tp.irreps_in1, tp.irreps_in2], tp.irreps_out, generator=generator)


def test_convolution_equivariant_and_edge_cases(generator):
    conv = CGConvolution("3x0e+3x1o+3x2e", "3x0e+3x1o+3x1e+3x2e", lmax_filter=2).double()
    w = torch.randn(4, conv.weight_numel, generator=generator, dtype=torch.float64)
    assert_equivariant(lambda x, r: conv(x, r, w), [conv.irreps_in, "1o"], conv.irreps_out, generator=generator)
    x = conv.irreps_in.randn(3, generator=generator, dtype=torch.float64)
    edges = torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.3, 0.0], [0.0, -0.7, 0.0]], dtype=torch.float64)
    # Y(+-y) is sqrt(2l+1) (+-1)^l at m = 0 only (polar axis y)
    filters = torch.zeros(2, conv.irreps_filter.dim, dtype=torch.float64)
    for l in range(3):
        filters[0, l * l + l] = (2 * l + 1) ** 0.5
        filters[1, l * l + l] = (2 * l + 1) ** 0.5 * (-1) ** l
    torch.testing.assert_close(conv(x[1:], edges[1:], w[1:3]), conv.tp(x[1:], filters, w[1:3]), atol=1e-12, rtol=0)
    # a zero-length edge gives finite values and gradients
    edges.requires_grad_(True)
    out = conv(x, edges, w[:3])
    (grad,) = torch.autograd.grad(out.square().sum(), edges)
    assert torch.isfinite(out).all() and torch.isfinite(grad).all()


def test_lmax_zero(generator):
    conv = CGConvolution("2x0e", "2x0e", lmax_filter=0).double()
    x = torch.randn(5, 2, generator=generator, dtype=torch.float64)
    w = torch.randn(5, conv.weight_numel, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(conv(x, torch.randn(5, 3, dtype=torch.float64), w), x * w)


def test_gradcheck(generator):
    tp = TensorProduct("2x0e+2x1o", "1x0e+1x1o", "2x0e+2x1o+2x1e", channelwise_instructions(
        "2x0e+2x1o", "1x0e+1x1o", "2x0e+2x1o+2x1e"), shared_weights=False).double()
    x1 = torch.randn(3, 8, dtype=torch.float64, generator=generator, requires_grad=True)
    x2 = torch.randn(3, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    w = torch.randn(3, tp.weight_numel, dtype=torch.float64, generator=generator, requires_grad=True)
    assert torch.autograd.gradcheck(tp, (x1, x2, w))
    full = TensorProduct("2x0e+1x1o", "1x0e+1x1o", "2x0e+1x1o+3x1e", [(0, 1, 1, "uvw", True), (1, 1, 2, "uvw", True)]).double()
    assert torch.autograd.gradcheck(lambda a, b: full(a, b), (x1[:, :5].detach().requires_grad_(), x2))


@pytest.mark.parametrize(
    "args, match",
    [
        (("1x0e", "1x0e", "1x1o", [(0, 0, 0, "uvw", True)]), "cannot produce"),
        (("1x0e", "1x0e", "1x0e", [(0, 0, 1, "uvw", True)]), "out of range"),
        (("2x0e", "1x0e", "3x0e", [(0, 0, 0, "uvu", True)]), "mul_out == mul1"),
        (("1x0e", "1x0e", "1x0e", [(0, 0, 0, "uuu", True)]), "not supported"),
        (("1x0e", "1x0e", "1x0e", [(0, 0, 0, "uvw", False)]), "need weights"),
    ],
)
def test_invalid_instructions(args, match):
    with pytest.raises(ValueError, match=match):
        TensorProduct(*args)


def test_invalid_inputs():
    tp = TensorProduct(IN1, IN2, OUT, UVW, shared_weights=False)
    x1, x2 = torch.zeros(2, tp.irreps_in1.dim), torch.zeros(2, tp.irreps_in2.dim)
    with pytest.raises(ValueError, match="pass weight"):
        tp(x1, x2)
    with pytest.raises(ValueError, match="expected"):
        tp(x1[:, 1:], x2, torch.zeros(2, tp.weight_numel))
    with pytest.raises(ValueError, match="last size"):
        tp(x1, x2, torch.zeros(2, 3))
