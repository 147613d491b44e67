import itertools
import math

import pytest
import torch

from irreps import o3

TRIPLES = [t for t in itertools.product(range(5), repeat=3) if abs(t[0] - t[1]) <= t[2] <= t[0] + t[1]]


def test_invariance_and_norm(generator):
    R = o3.random_rotation(generator=generator, dtype=torch.float64)
    for l1, l2, l3 in TRIPLES + [(6, 7, 12), (12, 12, 0)]:
        C = o3.wigner_3j(l1, l2, l3, dtype=torch.float64)
        D1, D2, D3 = (o3.wigner_D_from_matrix(l, R) for l in (l1, l2, l3))
        rotated = torch.einsum("ia,jb,kc,abc->ijk", D1, D2, D3, C)
        torch.testing.assert_close(rotated, C, atol=1e-12, rtol=0)
        assert abs(C.norm().item() - 1) < 1e-14


def test_orthogonality():
    # Different l3 are orthogonal; fixed l3: sum_ij C_ijk C_ijk' = delta_kk' / (2l3 + 1).
    l1, l2 = 3, 4
    Cs = {l3: o3.wigner_3j(l1, l2, l3, dtype=torch.float64).reshape(-1, 2 * l3 + 1) for l3 in range(1, 8)}
    for l3, C in Cs.items():
        torch.testing.assert_close(C.T @ C, torch.eye(2 * l3 + 1, dtype=torch.float64) / (2 * l3 + 1), atol=1e-14, rtol=0)
        for l3b, Cb in Cs.items():
            if l3b != l3:
                assert (C.T @ Cb).abs().max() < 1e-14
    full = torch.cat(list(Cs.values()), 1)  # l3 = 1..7 exhausts the 7 x 9 product space: completeness
    scaled = full * torch.cat([torch.full((2 * l + 1,), math.sqrt(2 * l + 1), dtype=torch.float64) for l in Cs])
    torch.testing.assert_close(scaled @ scaled.T, torch.eye(full.shape[0], dtype=torch.float64), atol=1e-13, rtol=0)


def test_su2_coefficients_known_values():
    assert abs(o3.su2_clebsch_gordan(1, 1, 1, -1, 0, 0) - 1 / math.sqrt(3)) < 1e-15
    assert abs(o3.su2_clebsch_gordan(1, 0, 1, 0, 2, 0) - math.sqrt(2 / 3)) < 1e-15
    assert o3.su2_clebsch_gordan(1, 0, 1, 0, 1, 0) == 0.0
    assert o3.su2_clebsch_gordan(2, 1, 1, 1, 3, 1) == 0.0  # m1 + m2 != m3


def test_bad_triples():
    with pytest.raises(ValueError):
        o3.wigner_3j(1, 1, 3)
    with pytest.raises(ValueError):
        o3.wigner_3j(-1, 1, 1)
    with pytest.raises(ValueError):
        o3.gaunt(1, 1, 1, normalization="unit")


def test_cached_result_is_a_copy():
    C = o3.wigner_3j(1, 1, 2)
    C.zero_()
    assert o3.wigner_3j(1, 1, 2).abs().sum() > 0


def test_agrees_with_e3nn():
    e3nn_o3 = pytest.importorskip("e3nn.o3", reason="e3nn is the independent reference")
    for l1, l2, l3 in itertools.product(range(7), repeat=3):
        if abs(l1 - l2) <= l3 <= l1 + l2:
            ours = o3.wigner_3j(l1, l2, l3, dtype=torch.float64)
            torch.testing.assert_close(ours, e3nn_o3.wigner_3j(l1, l2, l3, dtype=torch.float64), atol=1e-12, rtol=0)


@pytest.mark.parametrize("normalization", ["integral", "component", "norm"])
def test_gaunt_equals_quadrature(normalization):
    points, weights = o3.s2_quadrature(3 * 6)
    Y = {l: o3.spherical_harmonics(l, points, normalization=normalization) for l in range(7)}
    for l1, l2, l3 in itertools.product(range(7), repeat=3):
        G = o3.gaunt(l1, l2, l3, normalization=normalization, dtype=torch.float64)
        ref = torch.einsum("p,pi,pj,pk->ijk", weights, Y[l1], Y[l2], Y[l3])
        torch.testing.assert_close(G, ref, atol=1e-10, rtol=0)
        if (l1 + l2 + l3) % 2:
            assert torch.count_nonzero(G) == 0
