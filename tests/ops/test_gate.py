"""Gated nonlinearity."""

import pytest
import torch

from irreps.ops.gate import Gate
from irreps.testing import assert_equivariant


def test_equivariant_and_values(generator):
    gate = Gate("3x0e+1x0o", "2x1o+1x2e", act=torch.tanh).double()
    assert gate.irreps_in == "3x0e+1x0o+3x0e+2x1o+1x2e"
    assert gate.irreps_out == "3x0e+1x0o+2x1o+1x2e"
    assert_equivariant(gate, gate.irreps_in, gate.irreps_out, generator=generator)
    x = gate.irreps_in.randn(2, generator=generator, dtype=torch.float64)
    out = gate(x)
    torch.testing.assert_close(out[:, :4], torch.tanh(x[:, :4]))
    g = torch.sigmoid(x[:, 4:7])
    torch.testing.assert_close(out[:, 4:7], g[:, :1] * x[:, 7:10])
    torch.testing.assert_close(out[:, 7:10], g[:, 1:2] * x[:, 10:13])
    torch.testing.assert_close(out[:, 10:], g[:, 2:3] * x[:, 13:])


def test_gradcheck(generator):
    gate = Gate("1x0e", "1x1o").double()
    x = gate.irreps_in.randn(3, generator=generator, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(gate, (x,))


def test_errors():
    with pytest.raises(ValueError, match="odd activation"):
        Gate("1x0o", "1x1o")
    with pytest.raises(ValueError, match="must be scalars"):
        Gate("1x1o", "1x1o")
    with pytest.raises(ValueError, match="expected last size"):
        Gate("1x0e", "1x1o")(torch.zeros(1, 3))
