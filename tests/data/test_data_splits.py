"""Deterministic splits by counts or fractions."""

import numpy as np
import pytest

from irreps.data import split_indices


def test_counts_are_disjoint_sorted_and_deterministic():
    train, val = split_indices(500, (450, 50), seed=3)
    assert (len(train), len(val)) == (450, 50)
    assert not set(train) & set(val) and set(train) | set(val) == set(range(500))
    assert np.all(np.diff(train) > 0)
    again = split_indices(500, (450, 50), seed=3)
    assert np.array_equal(train, again[0]) and np.array_equal(val, again[1])
    assert not np.array_equal(val, split_indices(500, (450, 50), seed=4)[1])


def test_fractions_cover_everything_when_they_sum_to_one():
    parts = split_indices(101, (0.8, 0.1, 0.1), seed=0)
    assert [len(p) for p in parts] == [81, 10, 10]
    assert set(np.concatenate(parts)) == set(range(101))
    parts = split_indices(5, (0.3, 0.3, 0.3, 0.1), seed=0)  # rounding up would overshoot
    assert sum(len(p) for p in parts) == 5
    assert [len(p) for p in split_indices(100, (0.5, 0.2), seed=0)] == [50, 20]


@pytest.mark.parametrize(
    "sizes, message",
    [
        ((60, 50), "add up to 110 > 100"),
        ((0.7, 0.5), "add up to"),
        ((50, 0.5), "all counts"),
        ((-1, 5), "non-negative"),
        ((1.5,), r"lie in \[0, 1\]"),
        ((), "at least one part"),
        ((True, 3), "counts or fractions"),
    ],
)
def test_bad_sizes_raise(sizes, message):
    with pytest.raises(ValueError, match=message):
        split_indices(100, sizes)
