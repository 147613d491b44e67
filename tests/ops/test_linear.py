"""Equivariant linear layer."""

import pytest
import torch

from irreps.ops.linear import Linear
from irreps.testing import assert_equivariant

IN, OUT = "3x0e+2x1o+1x2e+2x1o", "4x0e+3x1o+2x2e+1x3o"


def test_equals_e3nn(generator):
    e3nn_o3 = pytest.importorskip("e3nn.o3", reason="e3nn is the reference implementation")
    ours = Linear(IN, OUT)
    ref = e3nn_o3.Linear(IN, OUT)
    # e3nn: one [mul_in, mul_out] block per (i_in, i_out) pair of equal irreps, in ref.instructions order
    blocks = {}
    for ins, w in zip(ref.instructions, ref.weight_views(yield_instruction=False)):
        blocks[ins.i_in, ins.i_out] = w
    parts = []
    for ir, ins, outs, _ in ours._groups:
        parts.append(torch.cat([torch.cat([blocks[i, o] for o in outs], dim=1) for i in ins], dim=0).reshape(-1))
    with torch.no_grad():
        ours.weight.copy_(torch.cat(parts))
    x = ours.irreps_in.randn(5, generator=generator)
    torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-5)


def test_equivariant_bias_and_missing_irreps(generator):
    lin = Linear(IN, OUT + "+2x0e", biases=True).double()
    with torch.no_grad():
        lin.bias.normal_(generator=generator)
    assert_equivariant(lin, lin.irreps_in, lin.irreps_out, generator=generator)
    out = lin(torch.zeros(2, lin.irreps_in.dim, dtype=torch.float64))
    torch.testing.assert_close(out[:, :4], lin.bias[:4].expand(2, 4))
    assert out[:, 4:-2].abs().max() == 0  # 3o has no input: zero; non-scalars get no bias


def test_unit_variance(generator):
    lin = Linear("64x0e+64x1o", "64x0e+64x1o")
    x = lin.irreps_in.randn(4000, generator=generator)
    var = lin(x).var().item()
    assert 0.7 < var < 1.3


def test_gradcheck_and_errors(generator):
    lin = Linear("2x0e+1x1o", "1x0e+2x1o", biases=True).double()
    x = lin.irreps_in.randn(3, generator=generator, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lin, (x,))
    with pytest.raises(ValueError, match="expected last size"):
        lin(torch.zeros(2, 4, dtype=torch.float64))


def test_empty_batch():
    """Zero rows (a batch of lone atoms has no edges) give zero rows, with or without biases."""
    for biases in (False, True):
        lin = Linear("2x0e+3x1o", "4x0e+2x1o+1x2e", biases=biases)
        x = torch.zeros(0, lin.irreps_in.dim, requires_grad=True)
        out = lin(x)
        assert out.shape == (0, lin.irreps_out.dim)
        out.sum().backward()
        assert x.grad.shape == x.shape
