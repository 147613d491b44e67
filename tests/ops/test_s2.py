"""S2 activation on a quadrature grid."""

import pytest
import torch

from irreps.o3 import random_rotation
from irreps.ops.s2_activation import S2Activation
from irreps.ops.tensor_product.gaunt import GauntTensorProduct
from irreps.testing import assert_equivariant

IRREPS = "2x0e+2x1o+2x2e"


@pytest.mark.parametrize("separable", [False, True])
def test_polynomial_activation_is_exactly_equivariant(separable, generator):
    s2 = S2Activation(IRREPS, act=torch.square, separable=separable).double()
    assert_equivariant(s2, s2.irreps_in, s2.irreps_out, generator=generator)


def test_square_equals_gaunt_self_product(generator):
    s2 = S2Activation(IRREPS, act=torch.square).double()
    gaunt = GauntTensorProduct([IRREPS, IRREPS], lmax_out=2).double()
    x = s2.irreps_in.randn(3, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(s2(x), gaunt(x, x), atol=1e-12, rtol=0)


def test_identity_and_separable_scalars(generator):
    x = S2Activation(IRREPS).irreps_in.randn(3, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(S2Activation(IRREPS, act=lambda t: t).double()(x), x, atol=1e-12, rtol=0)
    sep = S2Activation(IRREPS, separable=True).double()
    torch.testing.assert_close(sep(x)[:, :2], torch.nn.functional.silu(x[:, :2]))


def test_silu_equivariance_improves_with_resolution(generator):
    irreps = S2Activation(IRREPS).irreps_in
    D = irreps.D_from_matrix(random_rotation(generator=generator, dtype=torch.float64))
    x = irreps.randn(4, generator=generator, dtype=torch.float64)
    errors = []
    for degree in (6, 12, 24):
        s2 = S2Activation(IRREPS, degree=degree).double()
        errors.append((s2(x @ D.T) - s2(x) @ D.T).abs().max().item())
    assert errors[2] < errors[1] < errors[0] and errors[2] < 1e-2


def test_gradcheck_and_errors(generator):
    s2 = S2Activation("1x0e+1x1o").double()
    x = s2.irreps_in.randn(2, generator=generator, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(s2, (x,))
    with pytest.raises(ValueError, match="parities"):
        S2Activation("1x0o+1x1e")
    with pytest.raises(ValueError, match="sphere functions"):
        S2Activation("1x0e+1x2e")
    with pytest.raises(ValueError, match="cannot even reproduce"):
        S2Activation(IRREPS, degree=3)
    with pytest.raises(ValueError, match="expected last size"):
        s2(torch.zeros(1, 5))
