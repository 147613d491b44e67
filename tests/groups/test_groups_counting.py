"""Counting functions: known values, stable-range identities, Burnside's lemma for S_n and A_n."""

from itertools import permutations

import pytest

from groups_helpers import is_even
from irreps.groups.counting import (
    double_factorial,
    hom_dimension,
    integer_partitions,
    num_standard_tableaux,
    restricted_bell,
    stirling2,
)


def test_known_values():
    assert [restricted_bell(m, m) for m in range(8)] == [1, 1, 2, 5, 15, 52, 203, 877]
    assert [stirling2(5, t) for t in range(6)] == [0, 1, 15, 25, 10, 1]
    assert [double_factorial(m) for m in (-1, 0, 1, 3, 5, 7)] == [1, 1, 1, 3, 15, 105]
    assert num_standard_tableaux((3, 2)) == 5 and num_standard_tableaux((2, 2, 1, 1)) == 9
    assert sum(1 for _ in integer_partitions(7)) == 15


@pytest.mark.parametrize("m", [0, 2, 4, 6, 8, 10])
def test_hook_sums_reach_double_factorial_in_stable_range(m):
    mus = list(integer_partitions(m))
    even_rows = sum(num_standard_tableaux(mu) for mu in mus if all(p % 2 == 0 for p in mu))
    assert even_rows == double_factorial(m - 1)
    assert sum(num_standard_tableaux(mu) ** 2 for mu in mus) == __import__("math").factorial(m)


def test_paper_cases():
    assert hom_dimension("SO", 2, 2, 2) == 6  # 9 spanning diagrams, rank 6
    assert hom_dimension("S", 6, 2, 2) == 15
    assert hom_dimension("O", 5, 3, 3) == 15 and hom_dimension("Sp", 6, 3, 3) == 15
    assert hom_dimension("O", 4, 2, 1) == 0 and hom_dimension("Sp", 4, 0, 3) == 0
    assert hom_dimension("SO", 3, 2, 1) == 1  # the cross product


@pytest.mark.parametrize("group", ["S", "A"])
@pytest.mark.parametrize("n", range(1, 7))
def test_finite_groups_match_burnside(group, n):
    """dim of invariants in (R^n)^{⊗m} = average over G of (number of fixed points)^m."""
    fixed = [sum(p[i] == i for i in range(n)) for p in permutations(range(n)) if group == "S" or is_even(p)]
    for m in range(7):
        burnside = sum(f**m for f in fixed) / len(fixed)
        assert hom_dimension(group, n, m // 2, m - m // 2) == burnside


def test_bad_input():
    with pytest.raises(ValueError, match="even n"):
        hom_dimension("Sp", 3, 1, 1)
    with pytest.raises(ValueError, match="unknown group"):
        hom_dimension("GL", 3, 1, 1)
    with pytest.raises(ValueError, match="non-negative"):
        hom_dimension("O", 3, -1, 1)
    with pytest.raises(ValueError, match="positive integer"):
        hom_dimension("S", 0, 1, 1)
