"""E0 from isolated atoms, the least-squares E0 fit, scale/shift statistics."""

import ase
import numpy as np
import pytest
import torch

from irreps.data import (
    atoms_to_graph,
    bundled_path,
    collate,
    compute_statistics,
    e0s_from_isolated_atoms,
    fit_e0s,
    is_isolated_atom,
    read_atoms,
    read_graphs,
    reference_energy,
    split_isolated_atoms,
)
from irreps.data.statistics import shortest_distances

ACAC_E0 = {1: -13.568422178253735, 6: -1026.8538996116154, 8: -2037.796869412825}


def test_e0s_from_bundled_isolated_atoms_file():
    assert e0s_from_isolated_atoms(bundled_path("acac_isolated_atoms")) == ACAC_E0


def test_isolated_atoms_detection_and_errors(tmp_path):
    labelled = ase.Atoms("O", info={"config_type": "IsolatedAtom", "energy": -5.0}, pbc=True, cell=np.eye(3) * 10)
    unlabelled = ase.Atoms("H", info={"energy": -1.0})  # as in 3BPA's iso_atoms.xyz
    molecule = ase.Atoms("H2", positions=[[0, 0, 0], [0.7, 0, 0]], info={"energy": -3.0, "config_type": "md"})
    assert is_isolated_atom(labelled) and is_isolated_atom(unlabelled) and not is_isolated_atom(molecule)
    isolated, others = split_isolated_atoms([molecule, labelled, unlabelled])
    assert isolated == [labelled, unlabelled] and others == [molecule]
    assert e0s_from_isolated_atoms([molecule, labelled, unlabelled]) == {1: -1.0, 8: -5.0}
    with pytest.raises(ValueError, match="no isolated-atom frames"):
        e0s_from_isolated_atoms([molecule])
    with pytest.raises(ValueError, match="two isolated-atom energies"):
        e0s_from_isolated_atoms([unlabelled, ase.Atoms("H", info={"energy": -2.0})])
    with pytest.raises(ValueError, match="frame 0: missing required field 'energy'"):
        e0s_from_isolated_atoms([ase.Atoms("H")])
    crowded = ase.Atoms("H2", positions=[[0, 0, 0], [3, 0, 0]], info={"config_type": "isolated_atom", "energy": -2.0})
    with pytest.raises(ValueError, match="holds 2 atoms"):
        e0s_from_isolated_atoms([crowded])


def test_least_squares_recovers_known_e0s():
    rng = np.random.default_rng(0)
    true = {1: -13.6, 6: -1027.0, 8: -2038.0}
    graphs = []
    for k in range(12):
        numbers = rng.choice([1, 6, 8], size=rng.integers(3, 9))
        numbers[:3] = [1, 6, 8]  # every element present; compositions vary so E0s are identifiable
        atoms = ase.Atoms(numbers=numbers, positions=rng.uniform(0, 4, size=(len(numbers), 3)))
        atoms.info["energy"] = sum(true[int(z)] for z in numbers) + 1e-3 * rng.normal()
        graphs.append(atoms_to_graph(atoms, 2.0, dtype=torch.float64))
    fitted = fit_e0s(graphs)
    assert fitted.keys() == true.keys()
    for z in true:
        assert abs(fitted[z] - true[z]) < 5e-3
    exact = fit_e0s([collate(graphs)])  # a batch gives the same fit as its structures
    assert all(np.isclose(exact[z], fitted[z], rtol=0, atol=1e-8) for z in true)


def test_fit_warns_when_compositions_are_degenerate():
    graphs = read_graphs(bundled_path("acac_train"), 3.0, index=":20", dtype=torch.float64)
    with pytest.warns(UserWarning, match="rank 1 < 3"):
        fitted = fit_e0s(graphs)
    # Minimum-norm solution still reproduces the mean energy of the identical compositions.
    mean = torch.cat([g.targets["energy"] for g in graphs]).mean()
    assert abs(float(reference_energy(graphs[0], fitted)[0]) - float(mean)) < 1e-6
    with pytest.raises(ValueError, match="at least one structure"):
        fit_e0s([])


def test_statistics_against_hand_computation():
    graphs = read_graphs(bundled_path("acac_train"), 5.0, required=("energy", "forces"), index=":30",
                         dtype=torch.float64)
    stats = compute_statistics(graphs, ACAC_E0)
    frames = read_atoms(bundled_path("acac_train"), index=":30")
    reference = sum(ACAC_E0[int(z)] for z in frames[0].numbers)
    per_atom = np.array([(a.get_potential_energy() - reference) / len(a) for a in frames])
    forces = np.concatenate([a.get_forces() for a in frames])
    assert np.isclose(stats.energy_shift, per_atom.mean(), rtol=0, atol=1e-10)
    assert np.isclose(stats.energy_per_atom_std, per_atom.std(), rtol=0, atol=1e-10)
    assert np.isclose(stats.forces_rms, np.sqrt(np.mean(forces**2)))
    assert stats.avg_num_neighbors == sum(g.num_edges for g in graphs) / (30 * 15)
    assert (stats.num_graphs, stats.num_atoms, stats.elements) == (30, 450, (1, 6, 8))
    with pytest.raises(ValueError, match=r"no reference energy \(E0\) for atomic numbers \[8\]"):
        compute_statistics(graphs, {1: 0.0, 6: 0.0})


def test_statistics_without_forces_and_reference_energy_of_a_batch():
    atoms = ase.Atoms("H2O", positions=[[0, 0, 0], [0.9, 0, 0], [0, 0.9, 0]], info={"energy": -2100.0})
    graph = atoms_to_graph(atoms, 2.0, dtype=torch.float32)
    assert compute_statistics([graph], ACAC_E0).forces_rms is None
    batch = collate([graph, graph])
    expected = 2 * ACAC_E0[1] + ACAC_E0[8]
    assert reference_energy(batch, ACAC_E0).dtype == torch.float64
    assert torch.equal(reference_energy(batch, ACAC_E0), torch.tensor([expected, expected], dtype=torch.float64))



def test_shortest_distance_of_each_element_pair_counts_periodic_images():
    """C-O is closest across the cell boundary (1.0 Å, not 4.0 or the molecule's 1.3); the far
    H has no neighbour within the cutoff, so H-H is absent; a batch gives the same table."""
    crystal = ase.Atoms("CO", positions=[[0.5, 0, 0], [4.5, 0, 0]], cell=np.diag([5.0, 8.0, 8.0]), pbc=True,
                        info={"energy": -1.0})
    molecule = ase.Atoms("CHHO", positions=[[0, 0, 0], [1.1, 0, 0], [-4.0, 0, 0], [0, 1.3, 0]], info={"energy": -2.0})
    graphs = [atoms_to_graph(atoms, 3.0, dtype=torch.float64) for atoms in (crystal, molecule)]
    expected = {(1, 6): pytest.approx(1.1), (1, 8): pytest.approx(np.hypot(1.1, 1.3)), (6, 8): pytest.approx(1.0)}
    assert shortest_distances(graphs) == expected
    assert shortest_distances([collate(graphs)]) == expected
    assert compute_statistics(graphs, {1: 0.0, 6: 0.0, 8: 0.0}).shortest_distances == expected


def test_joined_summaries_of_consecutive_parts_equal_one_pass():
    from ase.calculators.singlepoint import SinglePointCalculator

    from irreps.data.statistics import DatasetSummary, summarise

    frames = read_atoms(bundled_path("acac_train"), index=":12")
    for n, atoms in enumerate(frames[5:], start=5):  # other compositions, first seen in a later part
        if n % 2:
            energy, forces = atoms.get_potential_energy(), atoms.get_forces()
            del atoms[[len(atoms) - 1 - k for k in range(n % 3 + 1)]]
            atoms.calc = SinglePointCalculator(atoms, energy=energy + 13.0 * (n % 3 + 1), forces=forces[: len(atoms)])
    graphs = [atoms_to_graph(a, 5.0, dtype=torch.float64) for a in frames]
    whole = summarise(graphs)
    joined = DatasetSummary.join([summarise(graphs[:4]), summarise(graphs[4:9]), summarise(graphs[9:])])
    assert joined.elements == whole.elements and joined.num_edges == whole.num_edges
    e0s, e0s_joined = whole.fit_e0s(), joined.fit_e0s()
    assert all(abs(e0s[z] - e0s_joined[z]) < 1e-8 for z in e0s)
    one, parts = whole.statistics(ACAC_E0), joined.statistics(ACAC_E0)
    for field in ("num_graphs", "num_atoms", "energy_shift", "energy_per_atom_std", "avg_num_neighbors"):
        assert getattr(parts, field) == getattr(one, field), field
    assert parts.forces_rms == pytest.approx(one.forces_rms, rel=1e-14)
    assert parts.shortest_distances == one.shortest_distances
    with pytest.raises(ValueError, match="at least one part"):
        DatasetSummary.join([])
