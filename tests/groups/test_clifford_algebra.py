"""Cl(p, q, r): the computed tables against known algebras and identities; group elements and their action."""

import pytest
import torch

from irreps.groups.clifford import CliffordAlgebra, metric_matrix, outermorphism, random_pseudo_orthogonal, versor_matrix

SIGNATURES = [(3, 0, 0), (2, 1, 0), (1, 3, 0), (0, 2, 0), (2, 2, 0), (5, 0, 0), (3, 0, 1), (2, 1, 2)]
TOL = dict(atol=1e-11, rtol=1e-11)


def _rand(algebra, *shape, seed=0):
    return torch.randn(*shape, algebra.num_blades, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def _blade(algebra, *indices):
    x = torch.zeros(algebra.num_blades, dtype=torch.float64)
    x[algebra.blades.index(tuple(indices))] = 1.0
    return x


def test_blade_layout_and_grade_slices():
    alg = CliffordAlgebra(3)
    assert alg.blades == [(), (0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2)]
    assert alg.grade_slice(2) == slice(4, 7)
    assert alg.grades.tolist() == [0, 1, 1, 1, 2, 2, 2, 3]


def test_quaternions_complex_and_dual_numbers():
    """Cl(0, 2) is the quaternions (i = e0, j = e1, k = e01), Cl(0, 1) the complex numbers, Cl(0, 0, 1) the dual numbers."""
    alg = CliffordAlgebra(0, 2)
    one, i, j, k = (_blade(alg, *b) for b in [(), (0,), (1,), (0, 1)])
    gp = alg.geometric_product
    for unit in (i, j, k):
        torch.testing.assert_close(gp(unit, unit), -one)
    torch.testing.assert_close(gp(i, j), k)
    torch.testing.assert_close(gp(j, i), -k)
    torch.testing.assert_close(gp(gp(i, j), k), -one)
    c = CliffordAlgebra(0, 1)
    a, b = torch.tensor([1.5, -2.0], dtype=torch.float64), torch.tensor([0.5, 3.0], dtype=torch.float64)
    torch.testing.assert_close(c.geometric_product(a, b), torch.tensor([1.5 * 0.5 + 6.0, 1.5 * 3.0 - 1.0], dtype=torch.float64))
    d = CliffordAlgebra(0, 0, 1)
    torch.testing.assert_close(d.geometric_product(a, b), torch.tensor([0.75, 1.5 * 3.0 - 1.0], dtype=torch.float64))


@pytest.mark.parametrize("sig", SIGNATURES)
def test_associativity_and_involutions(sig):
    alg = CliffordAlgebra(*sig)
    x, y, z = _rand(alg, 3, seed=1)
    gp = alg.geometric_product
    torch.testing.assert_close(gp(gp(x, y), z), gp(x, gp(y, z)), **TOL)
    torch.testing.assert_close(alg.reversion(gp(x, y)), gp(alg.reversion(y), alg.reversion(x)), **TOL)
    torch.testing.assert_close(alg.grade_involution(gp(x, y)), gp(alg.grade_involution(x), alg.grade_involution(y)), **TOL)
    torch.testing.assert_close(alg.clifford_conjugation(gp(x, y)),
                               gp(alg.clifford_conjugation(y), alg.clifford_conjugation(x)), **TOL)
    torch.testing.assert_close(alg.reversion(alg.reversion(x)), x)
    torch.testing.assert_close(sum(alg.grade_projection(x, k) for k in range(alg.dim + 1)), x)


@pytest.mark.parametrize("sig", SIGNATURES)
def test_vectors_square_to_the_quadratic_form_and_products_split(sig):
    alg = CliffordAlgebra(*sig)
    u, v = torch.randn(2, alg.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    a, b = alg.embed_vectors(u), alg.embed_vectors(v)
    gp = alg.geometric_product
    square = torch.zeros(alg.num_blades, dtype=torch.float64)
    square[0] = (alg.metric * u * u).sum()
    torch.testing.assert_close(gp(a, a), square, **TOL)
    torch.testing.assert_close(alg.outer_product(a, b), (gp(a, b) - gp(b, a)) / 2, **TOL)
    torch.testing.assert_close(alg.inner_product(a, b), (gp(a, b) + gp(b, a)) / 2, **TOL)
    torch.testing.assert_close(alg.vector_part(a), u)


@pytest.mark.parametrize("sig", SIGNATURES)
def test_outer_and_inner_are_grade_parts_of_the_geometric_product(sig):
    alg = CliffordAlgebra(*sig)
    x, y = _rand(alg, 2, seed=3)
    outer, inner = torch.zeros_like(x), torch.zeros_like(x)
    for k in range(alg.dim + 1):
        for m in range(alg.dim + 1):
            prod = alg.geometric_product(alg.grade_projection(x, k), alg.grade_projection(y, m))
            if k + m <= alg.dim:
                outer = outer + alg.grade_projection(prod, k + m)
            if m >= k:
                inner = inner + alg.grade_projection(prod, m - k)
    torch.testing.assert_close(alg.outer_product(x, y), outer, **TOL)
    torch.testing.assert_close(alg.inner_product(x, y), inner, **TOL)
    table = alg.cayley_table()
    torch.testing.assert_close(torch.einsum("i,ijk,j->k", x, table, y), alg.geometric_product(x, y), **TOL)


@pytest.mark.parametrize("sig", SIGNATURES)
def test_quadratic_form_is_scalar_part_of_reverse_times_x(sig):
    alg = CliffordAlgebra(*sig)
    x = _rand(alg, 4, seed=4)
    expected = alg.geometric_product(alg.reversion(x), x)[..., 0]
    torch.testing.assert_close(alg.quadratic_form(x), expected, **TOL)
    torch.testing.assert_close(alg.grade_quadratic_forms(x).sum(-1), expected, **TOL)


@pytest.mark.parametrize("sig", SIGNATURES)
def test_outermorphism_of_a_form_preserving_map_is_a_grade_preserving_automorphism(sig):
    alg = CliffordAlgebra(*sig)
    g = random_pseudo_orthogonal(alg, torch.Generator().manual_seed(5))
    eta = metric_matrix(alg)
    torch.testing.assert_close(g.T @ eta @ g, eta, atol=1e-12, rtol=0)
    m = outermorphism(alg, g)
    x, y = _rand(alg, 2, seed=6)
    torch.testing.assert_close(alg.geometric_product(x @ m.T, y @ m.T), alg.geometric_product(x, y) @ m.T, **TOL)
    torch.testing.assert_close(alg.grade_quadratic_forms(x @ m.T), alg.grade_quadratic_forms(x), **TOL)
    torch.testing.assert_close(alg.reversion(x @ m.T), alg.reversion(x) @ m.T, **TOL)


def test_outermorphism_of_a_generic_matrix_is_not_an_automorphism():
    """The identity above fails for maps that do not preserve the form, so the test can fail."""
    alg = CliffordAlgebra(2, 1)
    g = torch.eye(3, dtype=torch.float64) + 0.3 * torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    m = outermorphism(alg, g)
    x, y = _rand(alg, 2, seed=8)
    assert (alg.geometric_product(x @ m.T, y @ m.T) - alg.geometric_product(x, y) @ m.T).abs().max() > 1e-2


@pytest.mark.parametrize("sig", [(3, 0, 0), (2, 1, 0), (1, 3, 0), (2, 2, 0), (4, 1, 0)])
@pytest.mark.parametrize("num_vectors", [1, 2, 3])
def test_versor_action_is_the_outermorphism_of_its_vector_map(sig, num_vectors):
    """rho(w) from the Cayley table equals the minors of its grade-1 block (independent route)."""
    alg = CliffordAlgebra(*sig)
    vecs = torch.randn(num_vectors, alg.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(num_vectors))
    w = alg.versor(vecs)
    mat = versor_matrix(alg, w)
    g = mat[alg.grade_slice(1), alg.grade_slice(1)]
    eta = metric_matrix(alg)
    torch.testing.assert_close(g.T @ eta @ g, eta, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(mat, outermorphism(alg, g), atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(torch.det(g), torch.tensor((-1.0) ** num_vectors, dtype=torch.float64))


def test_single_vector_acts_as_the_reflection_in_its_hyperplane():
    alg = CliffordAlgebra(2, 2)
    n, v = torch.randn(2, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    dot = lambda a, b: (alg.metric * a * b).sum()  # noqa: E731
    reflected = v - 2 * dot(v, n) / dot(n, n) * n
    out = alg.versor_action(alg.embed_vectors(n), alg.embed_vectors(v))
    torch.testing.assert_close(out, alg.embed_vectors(reflected), atol=1e-11, rtol=1e-11)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="non-negative"):
        CliffordAlgebra(-1)
    with pytest.raises(ValueError, match="between 1 and"):
        CliffordAlgebra(0)
    alg = CliffordAlgebra(3)
    with pytest.raises(ValueError, match="8 blade components"):
        alg.geometric_product(torch.zeros(4), torch.zeros(8))
    with pytest.raises(ValueError, match="grade"):
        alg.grade_projection(torch.zeros(8), 4)
    with pytest.raises(ValueError, match="purely even or purely odd"):
        alg.versor_action(torch.ones(8), torch.zeros(8))
    with pytest.raises(ValueError, match="product kind"):
        alg.product_entries("wedge")
    null = CliffordAlgebra(1, 0, 1)
    with pytest.raises(ValueError, match="not invertible"):
        null.versor_inverse(null.embed_vectors(torch.tensor([0.0, 1.0])))
