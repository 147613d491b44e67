"""The all-pairs open-boundary neighbour search against vesin, and the batched graph builder."""

import ase
import numpy as np
import pytest
import torch
import vesin

from irreps.data import atoms_list_to_graphs, atoms_to_graph
from irreps.data.neighbors import ALL_PAIRS_MAX_ATOMS, neighbor_list, open_boundary_pairs


def vesin_pairs(positions, cutoff):
    """vesin's open-boundary list, sorted by (i, j): the reference for the all-pairs search."""
    calculator = vesin.NeighborList(cutoff=cutoff, full_list=True, sorted=False)
    i, j = calculator.compute(positions, np.zeros((3, 3)), False, quantities="ij")
    i, j = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
    order = np.lexsort((j, i))
    return np.stack([i[order], j[order]])


def test_batch_equals_vesin_structure_by_structure():
    rng = np.random.default_rng(0)
    structures = [rng.uniform(-4, 4, size=(n, 3)) for n in (0, 1, 2, 7, 27, 60, ALL_PAIRS_MAX_ATOMS, 200)]
    lists = open_boundary_pairs(structures, 3.0)
    assert len(lists) == len(structures)
    for positions, edge_index in zip(structures, lists):
        assert edge_index.dtype == np.int64
        np.testing.assert_array_equal(edge_index, vesin_pairs(positions, 3.0))


def test_pairs_at_the_cutoff_follow_vesin():
    # Distances exactly at, just below and just above the cutoff, plus two coincident atoms.
    cutoff = 2.5
    positions = np.array([[0, 0, 0], [cutoff, 0, 0], [0, cutoff * (1 - 1e-12), 0],
                          [0, 0, cutoff * (1 + 1e-12)], [0, 0, 0], [-1.0, 0.5, 0.25]])
    (edge_index,) = open_boundary_pairs([positions], cutoff)
    np.testing.assert_array_equal(edge_index, vesin_pairs(positions, cutoff))
    pairs = set(map(tuple, edge_index.T.tolist()))
    assert (0, 1) not in pairs and (0, 3) not in pairs and (0, 2) in pairs and (0, 4) in pairs
    assert all(i != j for i, j in pairs)


def test_neighbor_list_gives_the_same_list_on_both_sides_of_the_size_switch():
    rng = np.random.default_rng(1)
    positions = rng.uniform(-5, 5, size=(ALL_PAIRS_MAX_ATOMS + 40, 3))
    vesin_path, shifts, unit_shifts = neighbor_list(positions, np.zeros((3, 3)), False, 3.0)
    np.testing.assert_array_equal(vesin_path, open_boundary_pairs([positions], 3.0)[0])
    small, shifts, unit_shifts = neighbor_list(positions[:50], np.zeros((3, 3)), False, 3.0)
    np.testing.assert_array_equal(small, vesin_pairs(positions[:50], 3.0))
    assert not shifts.any() and unit_shifts.dtype == np.int64


def test_many_structures_are_split_into_bounded_passes(monkeypatch):
    import irreps.data.neighbors as neighbors

    monkeypatch.setattr(neighbors, "_PAIRS_PER_CHUNK", 100)  # forces one structure per pass, and more
    rng = np.random.default_rng(2)
    structures = [rng.uniform(-2, 2, size=(n, 3)) for n in (3, 12, 5, 0, 9)]
    for positions, edge_index in zip(structures, open_boundary_pairs(structures, 2.0)):
        np.testing.assert_array_equal(edge_index, vesin_pairs(positions, 2.0))


@pytest.mark.parametrize(
    "structures, cutoff, message",
    [([np.zeros((2, 3))], 0.0, "cutoff"), ([np.zeros((2, 2))], 1.0, "shape"),
     ([np.array([[0, 0, np.nan], [1, 0, 0]])], 1.0, "non-finite")],
)
def test_bad_input_raises(structures, cutoff, message):
    with pytest.raises(ValueError, match=message):
        open_boundary_pairs(structures, cutoff)


def test_atoms_list_to_graphs_equals_one_structure_at_a_time():
    rng = np.random.default_rng(3)
    frames = []
    for n in (4, 11, 1, ALL_PAIRS_MAX_ATOMS + 5):
        atoms = ase.Atoms(numbers=rng.integers(1, 9, size=n), positions=rng.uniform(0, 5, size=(n, 3)))
        atoms.info["energy"] = float(rng.normal())
        frames.append(atoms)
    frames.append(ase.Atoms("Si2", scaled_positions=[[0, 0, 0], [0.25, 0.25, 0.25]],
                            cell=[[0, 2.7, 2.7], [2.7, 0, 2.7], [2.7, 2.7, 0]], pbc=True, info={"energy": -1.0}))
    batched = atoms_list_to_graphs(frames, 3.0, dtype=torch.float64)
    for atoms, graph in zip(frames, batched):
        single = atoms_to_graph(atoms, 3.0, dtype=torch.float64)
        for name in ("positions", "atomic_numbers", "edge_index", "shifts", "batch", "cell", "pbc"):
            assert torch.equal(getattr(graph, name), getattr(single, name)), name
        assert graph.targets.keys() == single.targets.keys() and graph.info == single.info
        torch.testing.assert_close(graph.targets["energy"], single.targets["energy"])


def test_atoms_list_to_graphs_names_the_bad_frame():
    good = ase.Atoms("H2", positions=[[0, 0, 0], [0.7, 0, 0]])
    bad = ase.Atoms("H2", positions=[[0, 0, 0], [np.inf, 0, 0]])
    with pytest.raises(ValueError, match="frames.xyz, frame 1"):
        atoms_list_to_graphs([good, bad], 2.0, keys=None, source="frames.xyz")
