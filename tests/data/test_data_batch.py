"""atoms_to_graph, collate offsets and batch vector, Hessian blocks, the loader."""

import ase
import ase.io
import numpy as np
import pytest
import torch

from irreps.data import (
    GraphDataset,
    GraphLoader,
    atoms_to_graph,
    bundled_path,
    collate,
    read_graphs,
    split_hessian,
)


def molecule(n, seed, **info):
    rng = np.random.default_rng(seed)
    atoms = ase.Atoms(numbers=rng.integers(1, 9, size=n), positions=rng.uniform(0, 3, size=(n, 3)))
    atoms.info.update(energy=float(rng.normal()), hessian=rng.normal(size=9 * n * n), **info)
    atoms.arrays["forces"] = rng.normal(size=(n, 3))
    return atoms


def crystal():
    atoms = ase.Atoms("Si2", scaled_positions=[[0, 0, 0], [0.25, 0.25, 0.25]],
                      cell=[[0, 2.7, 2.7], [2.7, 0, 2.7], [2.7, 2.7, 0]], pbc=True)
    atoms.info.update(energy=-10.0, hessian=np.zeros(36), config_type="bulk")
    atoms.arrays["forces"] = np.zeros((2, 3))
    return atoms


def test_atoms_to_graph_single_structure():
    atoms = molecule(5, 0)
    graph = atoms_to_graph(atoms, cutoff=2.0, dtype=torch.float64)
    assert graph.num_graphs == 1 and graph.num_atoms == 5
    assert graph.positions.dtype == torch.float64 and graph.atomic_numbers.dtype == torch.int64
    assert graph.targets["energy"].shape == (1,) and graph.targets["forces"].shape == (5, 3)
    assert graph.targets["hessian"].shape == (225,)
    assert graph.cell.shape == (1, 3, 3) and graph.pbc.shape == (1, 3) and graph.info == {"config_type": [None]}
    vectors = graph.edge_vectors()
    assert torch.all(vectors.norm(dim=1) < 2.0)
    expected = {(i, j) for i in range(5) for j in range(5) if i != j and np.linalg.norm(atoms.positions[j] - atoms.positions[i]) < 2.0}
    assert set(map(tuple, graph.edge_index.T.tolist())) == expected
    bare = atoms_to_graph(atoms, cutoff=2.0, keys=None)
    assert bare.targets == {} and bare.info == {} and bare.positions.dtype == torch.get_default_dtype()


def test_periodic_graph_edge_vectors_match_ase():
    graph = atoms_to_graph(crystal(), cutoff=3.0, dtype=torch.float64)
    lengths = graph.edge_vectors().norm(dim=1)
    assert graph.num_edges == 8  # each Si has 4 nearest neighbours at a*sqrt(3)/4
    torch.testing.assert_close(lengths, torch.full((8,), 5.4 * 3**0.5 / 4, dtype=torch.float64))


def test_collate_offsets_batch_vector_and_targets():
    graphs = [atoms_to_graph(molecule(n, n), 2.5, dtype=torch.float64) for n in (3, 5, 4)]
    graphs.append(atoms_to_graph(crystal(), 3.0, dtype=torch.float64))
    batch = collate(graphs)
    assert batch.num_graphs == 4 and batch.num_atoms == 14
    assert batch.batch.tolist() == [0] * 3 + [1] * 5 + [2] * 4 + [3] * 2
    assert batch.atoms_per_graph().tolist() == [3, 5, 4, 2]
    assert batch.num_edges == sum(g.num_edges for g in graphs)
    torch.testing.assert_close(batch.edge_vectors(), torch.cat([g.edge_vectors() for g in graphs]))
    # Edges never cross structures.
    assert torch.equal(batch.batch[batch.edge_index[0]], batch.batch[batch.edge_index[1]])
    offsets = [0, 3, 8, 12]
    start = 0
    for graph, offset in zip(graphs, offsets):
        block = batch.edge_index[:, start : start + graph.num_edges]
        assert torch.equal(block, graph.edge_index + offset)
        start += graph.num_edges
    assert batch.targets["energy"].shape == (4,) and batch.targets["forces"].shape == (14, 3)
    assert batch.cell.shape == (4, 3, 3) and batch.pbc[:, 0].tolist() == [False, False, False, True]
    assert batch.info["config_type"] == [None, None, None, "bulk"]
    blocks = split_hessian(batch.targets["hessian"], batch.atoms_per_graph())
    for graph, block, n in zip(graphs, blocks, [3, 5, 4, 2]):
        assert block.shape == (3 * n, 3 * n)
        torch.testing.assert_close(block.reshape(-1), graph.targets["hessian"])
    # Collating batches equals collating their structures.
    nested = collate([collate(graphs[:2]), collate(graphs[2:])])
    assert torch.equal(nested.edge_index, batch.edge_index) and torch.equal(nested.batch, batch.batch)


def test_collate_rejects_mismatched_targets_and_empty():
    with_energy = atoms_to_graph(molecule(3, 0), 2.0)
    without = atoms_to_graph(molecule(3, 1), 2.0, keys=None)
    with pytest.raises(ValueError, match="every structure of a batch must carry the same fields"):
        collate([with_energy, without])
    with pytest.raises(ValueError, match="at least one graph"):
        collate([])
    with pytest.raises(ValueError, match="expected a flat vector of 81"):
        split_hessian(torch.zeros(80), [3])


def test_hessian_from_bundled_file_in_a_batch():
    graphs = read_graphs(bundled_path("acac_hessians"), 5.0, required=("energy", "forces", "hessian"),
                         index=":3", dtype=torch.float64)
    batch = collate(graphs)
    blocks = split_hessian(batch.targets["hessian"], batch.atoms_per_graph())
    assert [b.shape for b in blocks] == [(45, 45)] * 3
    torch.testing.assert_close(blocks[1], blocks[1].T)


def test_loader_batches_shuffle_determinism_and_drop_last():
    dataset = GraphDataset([atoms_to_graph(molecule(2 + k % 3, k), 2.0) for k in range(10)])
    loader = GraphLoader(dataset, batch_size=4)
    sizes = [b.num_graphs for b in loader]
    assert sizes == [4, 4, 2] and len(loader) == 3
    assert len(GraphLoader(dataset, batch_size=4, drop_last=True)) == 2
    assert [b.num_graphs for b in GraphLoader(dataset, batch_size=4, drop_last=True)] == [4, 4]

    def energies(loader):
        return [b.targets["energy"].tolist() for b in loader]

    first, second = GraphLoader(dataset, 3, shuffle=True, seed=7), GraphLoader(dataset, 3, shuffle=True, seed=7)
    epoch1 = energies(first)
    assert epoch1 == energies(second)
    assert epoch1 != energies(first)  # a new permutation each epoch
    assert sorted(sum(epoch1, [])) == sorted(g.targets["energy"].item() for g in dataset)
    # Restoring the generator state resumes the same order.
    state = first.generator.get_state()
    expected = energies(first)
    first.generator.set_state(state)
    assert energies(first) == expected
    assert energies(GraphLoader(dataset, 10)) == [[g.targets["energy"].item() for g in dataset]]


def test_dataset_subset_slice_and_dtype():
    dataset = GraphDataset([atoms_to_graph(molecule(3, k), 2.0, dtype=torch.float32) for k in range(4)])
    assert len(dataset.subset([0, 2])) == 2 and len(dataset[1:]) == 3
    assert dataset.to(dtype=torch.float64)[0].targets["forces"].dtype == torch.float64
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        GraphLoader(dataset, 0)
    with pytest.raises(ValueError, match="empty dataset"):
        GraphLoader(GraphDataset([]), 2)


def test_fields_selects_what_a_batch_carries(tmp_path):
    frames = [molecule(3, 0), molecule(3, 1)]
    frames[1].info["dipole"] = [0.0, 0.0, 1.0]  # only one frame has a dipole
    path = tmp_path / "mixed.xyz"
    ase.io.write(path, frames)
    with pytest.raises(ValueError, match="same fields"):
        collate(read_graphs(path, 2.0))
    batch = collate(read_graphs(path, 2.0, fields=("energy", "forces")))
    assert set(batch.targets) == {"energy", "forces"}
