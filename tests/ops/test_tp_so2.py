"""SO(2) (eSCN) convolution: equals the CG convolution, equivariance, truncation, edge cases, gradients."""

import pytest
import torch

from irreps.o3 import random_rotation, wigner_D_from_matrix
from irreps.ops.tensor_product.cg import CGConvolution
from irreps.ops.tensor_product.so2 import SO2Convolution, wigner_D_stack
from irreps.testing import assert_equivariant

IN = "3x0e+3x1o+3x2e+3x1e"
OUT = "3x0e+3x0o+3x1o+3x1e+3x2e+3x2o+3x3o"


def _edges(n, generator):
    r = torch.randn(n, 3, generator=generator, dtype=torch.float64)
    r[0] = torch.tensor([0.0, 1.0, 0.0])
    r[1] = torch.tensor([0.0, -2.5, 0.0])
    r[2] = torch.tensor([1e-3, 0.7, 0.0])
    return r


def test_wigner_D_stack_matches_core(generator):
    R = random_rotation(6, generator=generator, dtype=torch.float64)
    for l, D in enumerate(wigner_D_stack(R, 5)):
        torch.testing.assert_close(D, wigner_D_from_matrix(l, R), atol=1e-12, rtol=0)


@pytest.mark.parametrize("lmax_filter", [2, 5])
def test_equals_cg_convolution(lmax_filter, generator):
    cg = CGConvolution(IN, OUT, lmax_filter).double()
    so2 = SO2Convolution(IN, OUT).double()
    if lmax_filter == 5:  # filters up to l_in + l_out: both engines span the same kernels
        assert so2.weight_numel == cg.weight_numel
    x = cg.irreps_in.randn(9, generator=generator, dtype=torch.float64)
    r = _edges(9, generator)
    w = torch.randn(9, cg.weight_numel, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(so2(x, r, so2.weights_from_cg(cg, w)), cg(x, r, w), atol=1e-10, rtol=0)


def test_equals_cg_float32(generator):
    cg, so2 = CGConvolution(IN, OUT, 3), SO2Convolution(IN, OUT)
    x, r = cg.irreps_in.randn(50, generator=generator), torch.randn(50, 3, generator=generator)
    w = torch.randn(50, cg.weight_numel, generator=generator)
    torch.testing.assert_close(so2(x, r, so2.weights_from_cg(cg, w)), cg(x, r, w), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("m_max", [None, 1, 0])
def test_equivariant(m_max, generator):
    so2 = SO2Convolution(IN, OUT, m_max=m_max).double()
    w = torch.randn(4, so2.weight_numel, generator=generator, dtype=torch.float64)
    assert_equivariant(lambda x, r: so2(x, r, w), [so2.irreps_in, "1o"], so2.irreps_out, generator=generator)


def test_truncation_drops_high_m(generator):
    full, cut = SO2Convolution(IN, OUT).double(), SO2Convolution(IN, OUT, m_max=1).double()
    keep = [k for k, p in enumerate(full.params) if p[0] <= 1]
    assert [full.params[k] for k in keep] == cut.params
    x = full.irreps_in.randn(3, generator=generator, dtype=torch.float64)
    w = torch.randn(3, full.num_params, 3, generator=generator, dtype=torch.float64)
    w_cut = w.clone()
    w_cut[:, [k for k in range(full.num_params) if k not in keep]] = 0
    # any frame: the truncated engine rotates only the rows |m| <= m_max in and out of it
    for r in (torch.tensor([[0.0, 1.0, 0.0]] * 3, dtype=torch.float64), _edges(3, generator)):
        torch.testing.assert_close(cut(x, r, w[:, keep].reshape(3, -1)), full(x, r, w_cut.reshape(3, -1)), atol=1e-12, rtol=0)


def test_blocks_and_gradients(generator, monkeypatch):
    import irreps.ops.tensor_product.so2 as so2_module

    monkeypatch.setattr(so2_module, "_BLOCK_ELEMENTS", 64)  # several edge blocks
    so2 = SO2Convolution("2x0e+2x1o", "2x0e+2x1o+2x1e").double()
    x = so2.irreps_in.randn(5, generator=generator, dtype=torch.float64).requires_grad_()
    r = _edges(5, generator).requires_grad_()
    w = torch.randn(5, so2.weight_numel, generator=generator, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(so2, (x, r, w))


def test_zero_edge_and_lmax_zero(generator):
    so2 = SO2Convolution("2x0e", "2x0e").double()
    x = torch.randn(3, 2, generator=generator, dtype=torch.float64)
    w = torch.randn(3, 2, generator=generator, dtype=torch.float64)
    r = torch.zeros(3, 3, dtype=torch.float64, requires_grad=True)
    out = so2(x, r, w)
    torch.testing.assert_close(out, x * w)
    full = SO2Convolution(IN, OUT).double()
    out = full(full.irreps_in.randn(2, dtype=torch.float64), r[:2], torch.randn(2, full.weight_numel, dtype=torch.float64))
    (g,) = torch.autograd.grad(out.sum(), r)
    assert torch.isfinite(out).all() and torch.isfinite(g).all()


@pytest.mark.parametrize(
    "irreps_in, irreps_out, match",
    [("2x0e+3x1o", "2x0e", "one common multiplicity"), ("2x0e", "3x0e", "differ in channels"),
     ("2x0e", "2x0o", "no equivariant map"), ("2x0e+2x0e", "2x0e", "distinct")],
)
def test_invalid(irreps_in, irreps_out, match):
    with pytest.raises(ValueError, match=match):
        SO2Convolution(irreps_in, irreps_out)
    so2 = SO2Convolution("2x0e+2x1o", "2x1o")
    with pytest.raises(ValueError, match="expected"):
        so2(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, so2.weight_numel))
    with pytest.raises(ValueError, match="m_max = lmax"):
        SO2Convolution("2x0e+2x1o", "2x1o", m_max=0).weights_from_cg(CGConvolution("2x0e+2x1o", "2x1o", 1), torch.zeros(1))
