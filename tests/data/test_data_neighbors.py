"""vesin neighbour lists against a brute-force sum over periodic images."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irreps.data import neighbor_list


def brute_force(positions, cell, pbc, cutoff):
    """Set of (i, j, n1, n2, n3) with |pos[j] - pos[i] + n @ cell| < cutoff, minus self-pairs."""
    pbc = np.broadcast_to(pbc, (3,))
    # Only the loop bounds need a full-rank cell: fill zero (non-periodic) rows orthogonally.
    full = cell.copy()
    _, _, vt = np.linalg.svd(cell[pbc]) if pbc.any() else (None, None, np.eye(3))
    for axis, vector in zip(np.flatnonzero(~pbc), vt[pbc.sum():]):
        full[axis] = vector
    ranges = []
    for axis in range(3):
        if not pbc[axis]:
            ranges.append([0])
            continue
        normal = np.cross(full[(axis + 1) % 3], full[(axis + 2) % 3])
        spacing = abs(np.linalg.det(full)) / np.linalg.norm(normal)  # distance between lattice planes
        span = np.ptp(positions @ normal / np.linalg.norm(normal))
        k = int(np.ceil((cutoff + span) / spacing)) + 1
        ranges.append(range(-k, k + 1))
    pairs = set()
    for n in itertools.product(*ranges):
        shift = np.array(n) @ cell
        d = np.linalg.norm(positions[None, :, :] - positions[:, None, :] + shift, axis=-1)
        for i, j in zip(*np.nonzero(d < cutoff)):
            if i != j or any(n):
                pairs.add((int(i), int(j), *n))
    return pairs


def as_set(edge_index, unit_shifts):
    return {(int(i), int(j), *map(int, s)) for (i, j), s in zip(edge_index.T, unit_shifts)}


def check(positions, cell, pbc, cutoff):
    edge_index, shifts, unit_shifts = neighbor_list(positions, cell, pbc, cutoff)
    assert edge_index.dtype == np.int64 and edge_index.shape[0] == 2
    assert as_set(edge_index, unit_shifts) == brute_force(positions, cell, pbc, cutoff)
    assert len(as_set(edge_index, unit_shifts)) == edge_index.shape[1]  # no duplicates
    np.testing.assert_allclose(shifts, unit_shifts @ np.where(np.broadcast_to(pbc, (3,))[:, None], cell, 0))
    vectors = positions[edge_index[1]] - positions[edge_index[0]] + shifts
    assert np.all(np.linalg.norm(vectors, axis=1) < cutoff)
    assert np.all(np.diff(edge_index[0]) >= 0)  # sorted by receiver
    return edge_index, unit_shifts


def test_open_boundaries_zero_cell():
    rng = np.random.default_rng(0)
    positions = rng.uniform(-3, 3, size=(30, 3))
    edge_index, unit_shifts = check(positions, np.zeros((3, 3)), False, 2.5)
    assert not unit_shifts.any()
    assert edge_index.shape[1] > 0
    assert not np.any(edge_index[0] == edge_index[1])


def test_open_boundaries_ignore_a_small_cell():
    rng = np.random.default_rng(1)
    positions = rng.uniform(0, 6, size=(20, 3))
    edge_index, _ = check(positions, np.eye(3) * 2.0, [False] * 3, 3.0)
    reference, _ = check(positions, np.zeros((3, 3)), [False] * 3, 3.0)
    assert np.array_equal(edge_index, reference)


def test_periodic_cubic_cutoff_larger_than_cell_keeps_self_images():
    rng = np.random.default_rng(2)
    cell = np.eye(3) * 2.5
    positions = rng.uniform(0, 2.5, size=(4, 3))
    edge_index, unit_shifts = check(positions, cell, True, 3.2)
    self_images = edge_index[0] == edge_index[1]
    assert self_images.any() and np.all(np.abs(unit_shifts[self_images]).sum(axis=1) > 0)


def test_periodic_skewed_cell_with_atoms_outside_it():
    rng = np.random.default_rng(3)
    cell = np.array([[3.0, 0.0, 0.0], [2.2, 2.6, 0.0], [-1.1, 1.3, 2.9]])
    positions = rng.uniform(-0.5, 1.2, size=(6, 3)) @ cell  # some atoms outside the unit cell
    check(positions, cell, True, 4.0)


def test_mixed_boundaries_slab_and_wire():
    rng = np.random.default_rng(4)
    cell = np.array([[2.8, 0.0, 0.0], [0.9, 3.1, 0.0], [0.0, 0.0, 0.0]])
    positions = rng.uniform(0, 3, size=(8, 3)) * [1, 1, 2]
    check(positions, cell, [True, True, False], 3.5)
    wire = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 2.2]])
    check(positions, wire, [False, False, True], 3.0)
    short_c = cell + np.array([[0, 0, 0], [0, 0, 0], [0.3, 0, 1.0]])  # atoms far outside along c
    check(positions, short_c, [True, True, False], 3.5)


def test_full_list_is_symmetric():
    rng = np.random.default_rng(5)
    cell = np.array([[3.0, 0.2, 0.0], [0.0, 3.3, 0.4], [0.5, 0.0, 2.7]])
    positions = rng.uniform(0, 3, size=(7, 3))
    edge_index, unit_shifts = check(positions, cell, True, 3.0)
    forward = as_set(edge_index, unit_shifts)
    assert forward == {(j, i, -a, -b, -c) for i, j, a, b, c in forward}


def test_empty_structure_and_no_neighbours():
    edge_index, shifts, unit_shifts = neighbor_list(np.zeros((0, 3)), np.zeros((3, 3)), False, 5.0)
    assert edge_index.shape == (2, 0) and shifts.shape == (0, 3) and unit_shifts.shape == (0, 3)
    edge_index, _, _ = neighbor_list(np.array([[0.0, 0, 0], [10.0, 0, 0]]), np.zeros((3, 3)), False, 5.0)
    assert edge_index.shape == (2, 0)


@pytest.mark.parametrize(
    "positions, cell, pbc, cutoff, message",
    [
        (np.zeros((2, 3)), np.eye(3), True, 0.0, "cutoff must be positive"),
        (np.zeros((2, 2)), np.eye(3), True, 1.0, "positions must have shape"),
        (np.zeros((2, 3)), np.eye(2), True, 1.0, "cell must have shape"),
        (np.array([[0.0, 0, 0], [np.nan, 0, 0]]), np.eye(3), True, 1.0, "non-finite"),
        (np.zeros((2, 3)), np.zeros((3, 3)), True, 1.0, "degenerate"),
        (np.zeros((2, 3)), np.array([[1.0, 0, 0], [2.0, 0, 0], [0, 0, 1]]), [True, True, False], 1.0, "degenerate"),
    ],
)
def test_bad_input_raises(positions, cell, pbc, cutoff, message):
    with pytest.raises(ValueError, match=message):
        neighbor_list(positions, cell, pbc, cutoff)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    num_atoms=st.integers(1, 6),
    pbc=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    cutoff=st.floats(0.5, 4.0),
)
def test_random_cells_match_brute_force(seed, num_atoms, pbc, cutoff):
    rng = np.random.default_rng(seed)
    cell = np.diag(rng.uniform(1.5, 4.0, size=3)) + rng.uniform(-1.0, 1.0, size=(3, 3)) * (1 - np.eye(3))
    positions = rng.uniform(-0.3, 1.3, size=(num_atoms, 3)) @ cell
    check(positions, cell, np.array(pbc), cutoff)
