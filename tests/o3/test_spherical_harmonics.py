import math

import pytest
import torch

from irreps import o3

LMAX = 12


@pytest.fixture
def vectors(generator):
    return torch.randn(40, 3, generator=generator, dtype=torch.float64)


def test_equivariance_up_to_l12(vectors, generator):
    ls = list(range(LMAX + 1))
    R = o3.random_rotation(2, generator=generator, dtype=torch.float64)
    irreps = o3.Irreps.spherical_harmonics(LMAX)
    for normalize in (True, False):
        Y = o3.spherical_harmonics(ls, vectors, normalize)
        for g in (R[0], R[1], -R[0]):  # rotations and a rotoinversion (parity (-1)^l)
            D = irreps.D_from_matrix(g)
            scale = 1.0 if normalize else Y.abs().max()
            err = (o3.spherical_harmonics(ls, vectors @ g.T, normalize) - Y @ D.T).abs().max() / scale
            assert err < 1e-10, (normalize, err)


def test_orthonormal_by_quadrature():
    points, weights = o3.s2_quadrature(2 * LMAX)
    Y = o3.spherical_harmonics(list(range(LMAX + 1)), points, normalization="integral")
    gram = torch.einsum("p,pi,pj->ij", weights, Y, Y)
    torch.testing.assert_close(gram, torch.eye(Y.shape[1], dtype=torch.float64), atol=1e-12, rtol=0)


@pytest.mark.parametrize("normalization, expected", [("component", lambda l: 2 * l + 1), ("norm", lambda l: 1.0), ("integral", lambda l: (2 * l + 1) / (4 * math.pi))])
def test_normalizations(vectors, normalization, expected):
    for l in (0, 1, 5, 9):
        Y = o3.spherical_harmonics(l, vectors, normalization=normalization)
        torch.testing.assert_close(Y.pow(2).sum(-1), torch.full((len(vectors),), float(expected(l)), dtype=torch.float64))


def test_l1_is_the_unit_vector_and_homogeneity(vectors):
    u = torch.nn.functional.normalize(vectors, dim=-1)
    torch.testing.assert_close(o3.spherical_harmonics(1, vectors), math.sqrt(3) * u)
    for l in (2, 7):
        torch.testing.assert_close(
            o3.spherical_harmonics(l, 2.5 * vectors, normalize=False), 2.5**l * o3.spherical_harmonics(l, vectors, normalize=False)
        )
    batched = torch.randn(2, 3, 5, 3, dtype=torch.float64)
    out = o3.spherical_harmonics("0e+2e+1o", batched)
    assert out.shape == (2, 3, 5, 9)
    torch.testing.assert_close(out[..., 1:6], o3.spherical_harmonics(2, batched))


def test_bad_arguments(vectors):
    with pytest.raises(ValueError):
        o3.spherical_harmonics(2, vectors, normalization="unit")
    with pytest.raises(ValueError):
        o3.spherical_harmonics("1e", vectors)
    with pytest.raises(ValueError):
        o3.spherical_harmonics(2, vectors[:, :2])
    with pytest.raises(ValueError):
        o3.spherical_harmonics([], vectors)


def test_finite_gradients_at_poles_and_zero():
    x = torch.tensor([[0, 1, 0], [0, -1, 0], [0, 0, 0], [0, 0, 1], [1e-30, 1, 0]], dtype=torch.float64, requires_grad=True)
    for normalize in (True, False):
        Y = o3.spherical_harmonics(list(range(7)), x, normalize)
        (g,) = torch.autograd.grad(Y.sum() + Y.pow(2).sum(), x, create_graph=True)
        assert torch.isfinite(g).all()
        (gg,) = torch.autograd.grad(g.pow(2).sum(), x)
        assert torch.isfinite(gg).all()
    Y = o3.spherical_harmonics(list(range(5)), x.detach())
    assert torch.equal(Y[2, 1:], torch.zeros(24, dtype=torch.float64))  # zero vector: only Y^0 survives
    assert Y[2, 0] == 1


def test_gradient_vanishes_at_the_zero_vector():
    # Y(0) is defined as Y^0 only, a constant: the gradient there is 0 (not 1/eps), first pass and create_graph.
    x = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    for create_graph in (False, True):
        (g,) = torch.autograd.grad(o3.spherical_harmonics(list(range(4)), x).sum(), x, create_graph=create_graph)
        assert torch.equal(g.detach(), torch.zeros_like(g))


def test_first_and_second_derivatives():
    x = torch.tensor([[0.3, -0.7, 0.5], [0.0, 1.0, 1e-3], [-0.2, 0.1, 0.9]], dtype=torch.float64, requires_grad=True)
    for normalize in (True, False):
        fn = lambda v: o3.spherical_harmonics([0, 1, 3, 6], v, normalize)  # noqa: E731
        assert torch.autograd.gradcheck(fn, (x,))
        assert torch.autograd.gradgradcheck(fn, (x,))


def test_float32_matches_float64(vectors):
    ls = list(range(9))
    torch.testing.assert_close(
        o3.spherical_harmonics(ls, vectors.float()).double(), o3.spherical_harmonics(ls, vectors), atol=2e-5, rtol=1e-5
    )


def test_agrees_with_e3nn(vectors):
    e3nn_o3 = pytest.importorskip("e3nn.o3", reason="e3nn is the independent reference")
    ls = list(range(7))
    for normalize in (True, False):
        for normalization in ("integral", "component", "norm"):
            ours = o3.spherical_harmonics(ls, vectors, normalize, normalization)
            ref = e3nn_o3.spherical_harmonics(ls, vectors, normalize, normalization=normalization)
            torch.testing.assert_close(ours, ref, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("normalize", [True, False])
def test_fast_kernels_match_differentiable_reference(normalize, generator):
    from irreps.o3.spherical_harmonics import _reference_rows

    x = torch.randn(30, 3, generator=generator, dtype=torch.float64)
    x[0] = 0.0
    x[1] = torch.tensor([0.0, -2.0, 0.0])
    x.requires_grad_(True)
    Y = o3.spherical_harmonics(list(range(9)), x, normalize)
    g = torch.randn(Y.shape, generator=generator, dtype=torch.float64)
    (fast,) = torch.autograd.grad(Y, x, g)  # hand-written adjoint
    (slow,) = torch.autograd.grad(o3.spherical_harmonics(list(range(9)), x, normalize), x, g, create_graph=True)
    torch.testing.assert_close(fast, slow, atol=1e-10, rtol=1e-12)
    xyz = x.detach().t().contiguous()
    c0 = None
    if normalize:
        c0 = (xyz.pow(2).sum(0) > 0).double()
        xyz = xyz / xyz.norm(dim=0).clamp_min(1e-12)
    torch.testing.assert_close(Y.detach().t(), _reference_rows(8, xyz, c0, "component"), atol=1e-12, rtol=1e-12)
