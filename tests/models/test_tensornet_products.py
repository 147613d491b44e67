"""The fused per-channel products TensorNet's interaction uses: values and derivatives to second order."""

import torch

from irreps.ops.cartesian import matrix_square, o3_product


def _batched(t):
    return t.movedim(-1, 1)  # [N, 3, 3, C] -> [N, C, 3, 3] for torch's matmul


def test_anticommutator_and_square_equal_dense_matmuls(generator):
    y, m = torch.randn(2, 4, 3, 3, 5, generator=generator, dtype=torch.float64)
    want = _batched(m) @ _batched(y) + _batched(y) @ _batched(m)
    torch.testing.assert_close(_batched(o3_product(y, m)), want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(_batched(matrix_square(y)), _batched(y) @ _batched(y), rtol=1e-12, atol=1e-12)


def test_fused_products_have_exact_first_and_second_derivatives(generator):
    y, m = torch.randn(2, 2, 3, 3, 3, generator=generator, dtype=torch.float64)
    y.requires_grad_(True)
    m.requires_grad_(True)
    assert torch.autograd.gradcheck(o3_product, (y, m))
    assert torch.autograd.gradgradcheck(o3_product, (y, m))
    assert torch.autograd.gradcheck(matrix_square, (y,))
    assert torch.autograd.gradgradcheck(matrix_square, (y,))


def test_gradient_of_one_argument_only(generator):
    y = torch.randn(3, 3, 3, 2, generator=generator, dtype=torch.float64, requires_grad=True)
    m = torch.randn(3, 3, 3, 2, generator=generator, dtype=torch.float64)
    cotangent = torch.randn(3, 3, 3, 2, generator=generator, dtype=torch.float64)
    (got,) = torch.autograd.grad(o3_product(y, m), y, cotangent)
    reference = y.detach().clone().requires_grad_(True)
    dense = _batched(m) @ _batched(reference) + _batched(reference) @ _batched(m)
    (want,) = torch.autograd.grad(dense, reference, _batched(cotangent))
    torch.testing.assert_close(got, want)
