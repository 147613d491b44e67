"""Equivariant layer norms."""

import pytest
import torch

from irreps.ops.norm import EquivariantLayerNorm, SeparableLayerNorm
from irreps.testing import assert_equivariant

IRREPS = "3x0e+2x1o+2x2e+2x0o"


@pytest.mark.parametrize("cls", [EquivariantLayerNorm, SeparableLayerNorm])
def test_equivariant(cls, generator):
    norm = cls(IRREPS).double()
    with torch.no_grad():
        norm.weight.normal_(generator=generator)
        norm.bias.normal_(generator=generator)
    assert_equivariant(norm, norm.irreps_in, norm.irreps_out, generator=generator)


def test_statistics(generator):
    x = torch.randn(4, 21, generator=generator, dtype=torch.float64) * 5 + 2
    out = EquivariantLayerNorm(IRREPS).double()(x)
    torch.testing.assert_close(out[:, :3].mean(1), torch.zeros(4, dtype=torch.float64))
    torch.testing.assert_close(out[:, :3].var(1, unbiased=False), torch.ones(4, dtype=torch.float64), atol=1e-5, rtol=0)
    for sl in (slice(3, 9), slice(9, 19), slice(19, 21)):
        torch.testing.assert_close(out[:, sl].square().mean(1), torch.ones(4, dtype=torch.float64), atol=1e-5, rtol=0)
    sep = SeparableLayerNorm(IRREPS).double()(x)
    torch.testing.assert_close(sep[:, :3].mean(1), torch.zeros(4, dtype=torch.float64))
    # one shared RMS: the mean over the three non-0e entries of their mean squares is 1
    ms = torch.stack([sep[:, sl].square().mean(1) for sl in (slice(3, 9), slice(9, 19), slice(19, 21))]).mean(0)
    torch.testing.assert_close(ms, torch.ones(4, dtype=torch.float64), atol=1e-5, rtol=0)
    torch.testing.assert_close(sep[:, 3:9] / x[:, 3:9], (sep[:, 9:19] / x[:, 9:19])[:, :6])


@pytest.mark.parametrize("cls", [EquivariantLayerNorm, SeparableLayerNorm])
def test_gradcheck_and_errors(cls, generator):
    norm = cls("2x0e+1x1o").double()
    x = norm.irreps_in.randn(2, generator=generator, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(norm, (x,))
    with pytest.raises(ValueError, match="expected last size"):
        norm(torch.zeros(1, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="eps"):
        cls("1x0e", eps=0.0)
