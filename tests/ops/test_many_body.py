"""The symmetric many-body product: Gaunt == CG on their common paths, a quadrature reference,
O(3) equivariance, atom permutations, what the odd CG paths add, gradients and input errors."""

import math

import pytest
import torch

from irreps.o3 import Irreps, s2_quadrature, spherical_harmonics
from irreps.ops.many_body import SymmetricProduct, gaunt_path_constant
from irreps.testing import assert_equivariant


def _basis(channels: int, lmax: int) -> Irreps:
    return Irreps([(channels, (l, (-1) ** l)) for l in range(lmax + 1)])


def _pair(lmax, lmax_out, correlation, generator, odd_paths=False, num_elements=3):
    """A Gaunt product and a CG product with the same random weights."""
    torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=generator)))
    g = SymmetricProduct(_basis(3, lmax), lmax_out, correlation, num_elements, "gaunt").double()
    c = SymmetricProduct(_basis(3, lmax), lmax_out, correlation, num_elements, "cg", odd_paths=odd_paths).double()
    with torch.no_grad():
        g.factor_weights.normal_(generator=generator)
    c.load_state_dict(g.state_dict())
    return g, c


def _inputs(irreps, n, generator, num_elements=3):
    return irreps.randn(n, generator=generator, dtype=torch.float64), torch.randint(0, num_elements, (n,), generator=generator)


@pytest.mark.parametrize("lmax,lmax_out,correlation", [(1, 1, 2), (2, 2, 3), (3, 2, 3), (2, 1, 4), (1, 3, 3)])
def test_gaunt_equals_cg_on_even_paths(lmax, lmax_out, correlation, generator):
    g, c = _pair(lmax, lmax_out, correlation, generator)
    x, species = _inputs(g.irreps_in, 6, generator)
    expected = c(x, species)
    assert expected.abs().max() > 1.0
    torch.testing.assert_close(g(x, species), expected, atol=1e-10, rtol=0)


def test_second_order_matches_quadrature(generator):
    """``B_2 = (1/4 pi) int g_1 g_2 Y_lm`` by exact S2 quadrature, independent of both engines."""
    L, Lo = 2, 3
    g = SymmetricProduct(_basis(2, L), Lo, 2, 1, "gaunt").double()
    with torch.no_grad():
        g.factor_weights.normal_(generator=generator)
        g.output_weights.zero_()
        g.output_weights[:, 1] = 1.0  # keep the second order only
    x, species = _inputs(g.irreps_in, 4, generator, num_elements=1)
    points, weights = s2_quadrature(2 * L + Lo)
    Y_in = spherical_harmonics(list(range(L + 1)), points)
    Y_out = spherical_harmonics(list(range(Lo + 1)), points)
    degree = torch.tensor([l for l in range(L + 1) for _ in range(2 * l + 1)])
    a = torch.cat([b.reshape(4, 2, 2 * l + 1) for l, b in enumerate(x.split([2 * (2 * l + 1) for l in range(L + 1)], -1))], -1)
    w = g.factor_weights[0][:, degree].transpose(1, 2)  # [2 orders, C, D]
    f1, f2 = (a * w[0]) @ Y_in.T, (a * w[1]) @ Y_in.T  # [4, C, P]
    coeffs = (f1 * f2 * weights) @ Y_out / (4 * math.pi)  # [4, C, (Lo+1)^2]
    expected = torch.cat([coeffs[..., l * l : (l + 1) ** 2].reshape(4, -1) for l in range(Lo + 1)], -1)
    torch.testing.assert_close(g(x, species), expected, atol=1e-10, rtol=0)


def test_path_constants_are_the_gaunt_coefficients():
    # 'component' harmonics: (1/4 pi) int Y^0 Y^l_m Y^l_m' = delta_mm', and wigner_3j(0, l, l) = delta / sqrt(2l + 1)
    for l in range(4):
        assert abs(abs(gaunt_path_constant(0, l, l)) - math.sqrt(2 * l + 1)) < 1e-12
    assert gaunt_path_constant(1, 1, 1) == 0.0  # odd path: no Gaunt coefficient


@pytest.mark.parametrize("engine,odd_paths", [("gaunt", False), ("cg", False), ("cg", True)])
def test_equivariant_under_rotations_and_reflections(engine, odd_paths, generator):
    torch.manual_seed(0)
    m = SymmetricProduct(_basis(2, 2), 2, 3, 3, engine, odd_paths=odd_paths).double()
    with torch.no_grad():
        m.factor_weights.normal_(generator=generator)
    x, species = _inputs(m.irreps_in, 5, generator)
    assert_equivariant(m, [m.irreps_in, None], m.irreps_out, inputs=[x, species], atol=1e-10)


def test_permuting_atoms_permutes_outputs(generator):
    g, _ = _pair(2, 2, 3, generator)
    x, species = _inputs(g.irreps_in, 7, generator)
    perm = torch.randperm(7, generator=generator)
    torch.testing.assert_close(g(x[perm], species[perm]), g(x, species)[perm], atol=1e-10, rtol=0)


def test_weights_depend_on_the_element(generator):
    g, _ = _pair(1, 1, 2, generator, num_elements=2)
    x = _basis(3, 1).randn(1, generator=generator, dtype=torch.float64).expand(2, -1)
    out = g(x, torch.tensor([0, 1]))
    assert (out[0] - out[1]).abs().max() > 1e-3


def test_odd_paths_add_only_from_third_order(generator):
    """Natural-parity outputs of two natural-parity factors come from even paths only; from three on,
    two odd couplings (through a pseudo-parity intermediate) reach them."""
    g, c_odd = _pair(2, 2, 2, generator, odd_paths=True)
    x, species = _inputs(g.irreps_in, 4, generator)
    torch.testing.assert_close(c_odd(x, species), g(x, species), atol=1e-10, rtol=0)
    g3, c3_odd = _pair(2, 2, 3, generator, odd_paths=True)
    assert (c3_odd(x, species) - g3(x, species)).abs().max() > 1e-3


def test_first_order_is_the_weighted_basis(generator):
    m = SymmetricProduct(_basis(2, 2), 1, 1, 2, "gaunt").double()
    with torch.no_grad():
        m.factor_weights.normal_(generator=generator)
    x, species = _inputs(m.irreps_in, 3, generator, num_elements=2)
    w, v = m.factor_weights[species, 0], m.output_weights[species, 0]  # [N, L+1, C]
    expected = torch.cat([x[:, :2] * w[:, 0] * v[:, 0], (x[:, 2:8].reshape(3, 2, 3) * (w[:, 1] * v[:, 1])[..., None]).reshape(3, 6)], 1)
    torch.testing.assert_close(m(x, species), expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("engine", ["gaunt", "cg"])
def test_gradients_match_finite_differences(engine, generator):
    m = SymmetricProduct(_basis(1, 2), 2, 3, 2, engine).double()
    x, species = _inputs(m.irreps_in, 2, generator, num_elements=2)
    assert torch.autograd.gradcheck(lambda x, w: torch.func.functional_call(m, {"factor_weights": w}, (x, species)),
                                    (x.requires_grad_(), m.factor_weights.detach().clone().requires_grad_()))


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="natural parity"):
        SymmetricProduct("2x0o + 2x1e", 1, 2, 1)
    with pytest.raises(ValueError, match="correlation"):
        SymmetricProduct(_basis(2, 1), 1, 5, 1)
    with pytest.raises(ValueError, match="odd_paths"):
        SymmetricProduct(_basis(2, 1), 1, 2, 1, "gaunt", odd_paths=True)
    with pytest.raises(ValueError, match="engine"):
        SymmetricProduct(_basis(2, 1), 1, 2, 1, "so2")
    m = SymmetricProduct(_basis(2, 1), 1, 2, 1)
    with pytest.raises(ValueError, match="shape"):
        m(torch.randn(3, 7), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="species"):
        m(torch.randn(3, 8), torch.zeros(2, dtype=torch.long))


@pytest.mark.parametrize("engine, odd_paths", [("gaunt", False), ("cg", False), ("cg", True)])
def test_zero_atoms_forward_and_backward(engine, odd_paths):
    """An empty batch: zero rows in, zero rows out, gradients of the right shapes."""
    p = SymmetricProduct(_basis(3, 2), 1, 3, 2, engine, odd_paths=odd_paths).double()
    x = torch.zeros(0, p.irreps_in.dim, dtype=torch.float64, requires_grad=True)
    out = p(x, torch.zeros(0, dtype=torch.long))
    assert out.shape == (0, p.irreps_out.dim)
    (g,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    assert g.shape == x.shape
    out.sum().backward()
    assert p.factor_weights.grad.abs().sum() == 0
