"""Rank-2 Cartesian algebra: decomposition, orthonormal components, products, equivariance."""

import torch

from irreps.ops.cartesian import (
    A_PART, I_PART, S_PART, channel_matmul, components_to_matrix, decompose, edge_components,
    frobenius_norm_sq, matrix_to_components, o3_product, rank2_basis, skew_to_vector, so3_product,
    vector_to_skew,
)
from irreps.ops.scatter import gather_dot, gather_scale_scatter, scatter_sum


def _rotation(generator, proper=True):
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    q = q if torch.det(q) > 0 else -q
    return q if proper else -q


def test_skew_is_the_cross_product_and_inverts(generator):
    v, w = torch.randn(2, 5, 3, generator=generator, dtype=torch.float64)
    torch.testing.assert_close((vector_to_skew(v) @ w[..., None])[..., 0], torch.cross(v, w, dim=-1))
    torch.testing.assert_close(skew_to_vector(vector_to_skew(v)), v)


def test_decomposition_parts_and_rotation_equivariance(generator):
    x = torch.randn(4, 3, 3, generator=generator, dtype=torch.float64)
    i, a, s = decompose(x)
    torch.testing.assert_close(i + a + s, x)
    torch.testing.assert_close(a, -a.transpose(-1, -2))
    torch.testing.assert_close(s, s.transpose(-1, -2))
    assert s.diagonal(dim1=-2, dim2=-1).sum(-1).abs().max() < 1e-12
    rot = _rotation(generator)
    for part, rotated in zip((i, a, s), decompose(rot @ x @ rot.T)):
        torch.testing.assert_close(rotated, rot @ part @ rot.T)
    torch.testing.assert_close(frobenius_norm_sq(x), frobenius_norm_sq(i) + frobenius_norm_sq(a) + frobenius_norm_sq(s))


def test_basis_is_orthonormal_and_adapted_to_the_parts(generator):
    b = rank2_basis(torch.float64)
    torch.testing.assert_close(torch.einsum("kab,lab->kl", b, b), torch.eye(9, dtype=torch.float64))
    for part, which in ((I_PART, 0), (A_PART, 1), (S_PART, 2)):
        for matrix in b[part]:
            assert torch.allclose(decompose(matrix)[which], matrix)
    x = torch.randn(2, 3, 3, 7, generator=generator, dtype=torch.float64)
    comps = matrix_to_components(x)
    torch.testing.assert_close(components_to_matrix(comps), x)
    torch.testing.assert_close(comps.square().sum(-2), frobenius_norm_sq(x.movedim(-1, 1)))


def test_edge_components_are_identity_skew_and_traceless_outer(generator):
    u = torch.randn(6, 3, generator=generator, dtype=torch.float64)
    u = u / u.norm(dim=-1, keepdim=True)
    comps = edge_components(u)[..., None]  # one channel
    eye = torch.eye(3, dtype=torch.float64)
    parts = [torch.zeros_like(comps) for _ in range(3)]
    for k, part in enumerate((I_PART, A_PART, S_PART)):
        parts[k][:, part] = comps[:, part]
    mats = [components_to_matrix(p)[..., 0] for p in parts]
    torch.testing.assert_close(mats[0], eye.expand(6, 3, 3))
    torch.testing.assert_close(mats[1], vector_to_skew(u))
    torch.testing.assert_close(mats[2], u[:, :, None] * u[:, None, :] - eye / 3)


def test_products_match_matmul_and_o3_commutes_with_transposition(generator):
    y, m = torch.randn(2, 4, 3, 3, 5, generator=generator, dtype=torch.float64)
    as_batched = lambda t: t.movedim(-1, 1)  # noqa: E731  [N, C, 3, 3]
    torch.testing.assert_close(as_batched(channel_matmul(y, m)), as_batched(y) @ as_batched(m))
    t = lambda z: z.transpose(1, 2)  # noqa: E731  transpose of each 3x3
    torch.testing.assert_close(o3_product(t(y), t(m)), t(o3_product(y, m)))
    assert not torch.allclose(so3_product(t(y), t(m)), t(so3_product(y, m)))


def test_chunked_message_passing_equals_dense_scatter(generator):
    values = torch.randn(6, 5, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(30, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    src, dst = torch.randint(0, 6, (2, 30), generator=generator)
    dense = scatter_sum(values[src] * weights[:, None, :], dst, 6)
    torch.testing.assert_close(gather_scale_scatter(values, weights, src, dst, 6), dense)
    torch.testing.assert_close(gather_dot(values, values, src, dst), (values[src] * values[dst]).sum(1))
    fn = lambda v, w: gather_scale_scatter(v, w, src, dst, 6)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (values, weights))
    assert torch.autograd.gradgradcheck(fn, (values, weights))


def test_chunked_message_passing_with_values_broadcast_over_channels(generator):
    values = torch.randn(30, 5, 1, generator=generator, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(30, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    dst = torch.randint(0, 6, (30,), generator=generator)
    edges = torch.arange(30)
    out = gather_scale_scatter(values, weights, edges, dst, 6)
    dense = scatter_sum(values * weights[:, None, :], dst, 6)
    torch.testing.assert_close(out, dense)
    cotangent = torch.randn(out.shape, generator=generator, dtype=torch.float64)
    for got, want in zip(torch.autograd.grad(out, (values, weights), cotangent),
                         torch.autograd.grad(dense, (values, weights), cotangent)):
        torch.testing.assert_close(got, want)
    assert torch.autograd.gradgradcheck(lambda v, w: gather_scale_scatter(v, w, edges, dst, 6), (values, weights))


def test_chunked_message_passing_with_shared_edge_weights(generator):
    values = torch.randn(6, 3, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(7, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    src, dst = torch.randint(0, 6, (2, 30), generator=generator)
    rows = torch.randint(0, 7, (30,), generator=generator)
    out = gather_scale_scatter(values, weights, src, dst, 6, rows)
    dense = scatter_sum(values[src] * weights[rows][:, None, :], dst, 6)
    torch.testing.assert_close(out, dense)
    cotangent = torch.randn(out.shape, generator=generator, dtype=torch.float64)
    for got, want in zip(torch.autograd.grad(out, (values, weights), cotangent),
                         torch.autograd.grad(dense, (values, weights), cotangent)):
        torch.testing.assert_close(got, want)
    assert torch.autograd.gradgradcheck(lambda v, w: gather_scale_scatter(v, w, src, dst, 6, rows), (values, weights))
