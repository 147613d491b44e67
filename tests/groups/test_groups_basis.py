"""Bases: size == counting function == numerical nullspace dimension; equivariance; independence.

Cases: every group, every (k, l) with k + l <= 6 and every n <= 6 (Sp: n = 2, 4, 6). Sizes
match the counting function everywhere. The dense checks (rank of the basis matrices,
commuting with a random group element) run where n^(k+l) <= 4096 by default and everywhere
with ``-m slow``. The numerical nullspace of the equivariance constraint is an
n^(k+l)-square eigenproblem: the default run solves it where n^(k+l) <= 729, the slow run
up to 1296.
"""

import numpy as np
import pytest

from groups_helpers import act, nullspace_dimension, random_element
from irreps.groups.basis import hom_basis, spanning_set
from irreps.groups.counting import hom_dimension
from irreps.groups.dense import basis_matrices

GROUP_SIZES = [("S", n) for n in range(1, 7)] + [("A", n) for n in range(1, 7)] + \
    [("O", n) for n in range(1, 7)] + [("SO", n) for n in range(1, 7)] + [("Sp", n) for n in (2, 4, 6)]
ORDERS = [(k, m - k) for m in range(7) for k in range(m + 1)]
CASES = [(g, n, k, l) for g, n in GROUP_SIZES for k, l in ORDERS]
DENSE_FAST = [c for c in CASES if c[1] ** (c[2] + c[3]) <= 4096]
DENSE_SLOW = [c for c in CASES if c[1] ** (c[2] + c[3]) > 4096]
NULLSPACE_FAST = [c for c in CASES if c[1] ** (c[2] + c[3]) <= 729]
NULLSPACE_SLOW = [c for c in CASES if 729 < c[1] ** (c[2] + c[3]) <= 1296]


def _kinds(group):
    return ["diagram", "orbit"] if group in ("S", "A") else ["diagram"]


@pytest.mark.parametrize("group,n", GROUP_SIZES)
def test_basis_size_matches_counting(group, n):
    for k, l in ORDERS:
        for kind in _kinds(group):
            assert len(hom_basis(group, n, k, l, kind)) == hom_dimension(group, n, k, l), (group, n, k, l, kind)


def _check_dense(group, n, k, l):
    """The basis matrices are linearly independent and commute with a random group element."""
    rng = np.random.default_rng(0)
    dim = hom_dimension(group, n, k, l)
    for kind in _kinds(group):
        basis = hom_basis(group, n, k, l, kind)
        mats = basis_matrices(basis).reshape(len(basis), n ** (k + l))
        assert np.linalg.matrix_rank(mats @ mats.T) == dim
        g = random_element(group, n, rng)
        # W g^{⊗k} = g^{⊗l} W  <=>  g^{⊗l} W (g^{-1})^{⊗k} = W, all basis elements at once
        tensors = mats.T.reshape((n,) * (k + l) + (len(basis),))
        moved = act(tensors, g, np.linalg.inv(g).T, l, k)
        np.testing.assert_allclose(moved, tensors, atol=1e-10)


@pytest.mark.parametrize("case", DENSE_FAST, ids=str)
def test_basis_independent_and_equivariant(case):
    _check_dense(*case)


@pytest.mark.slow
@pytest.mark.parametrize("case", DENSE_SLOW, ids=str)
def test_basis_independent_and_equivariant_large(case):
    _check_dense(*case)


@pytest.mark.parametrize("case", NULLSPACE_FAST, ids=str)
def test_nullspace_dimension(case):
    group, n, k, l = case
    assert nullspace_dimension(group, n, k, l, np.random.default_rng(1)) == hom_dimension(group, n, k, l)


@pytest.mark.slow
@pytest.mark.parametrize("case", NULLSPACE_SLOW, ids=str)
def test_nullspace_dimension_large(case):
    group, n, k, l = case
    assert nullspace_dimension(group, n, k, l, np.random.default_rng(1)) == hom_dimension(group, n, k, l)


def test_pruning_is_reported():
    so2 = hom_basis("SO", 2, 2, 2)
    assert so2.spanning_set_size == 9 and len(so2) == 6 and "rank" in so2.pruning
    s2 = hom_basis("S", 2, 2, 2)
    assert s2.spanning_set_size == 15 and len(s2) == 8 and "at most n=2 blocks" in s2.pruning
    assert hom_basis("O", 5, 2, 2).pruning == "none"
    assert len(hom_basis("SO", 2, 2, 2, "spanning_set")) == len(spanning_set("SO", 2, 2, 2)) == 9


def test_bad_kind():
    with pytest.raises(ValueError, match="orbit basis"):
        hom_basis("O", 3, 1, 1, "orbit")
    with pytest.raises(ValueError, match="unknown basis kind"):
        hom_basis("S", 3, 1, 1, "cheap")
