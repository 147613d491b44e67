"""Polyatomic complexes and Coulomb matrices: invariance to rotations (reflections included),
translations and permutations of like atoms, the published construction's sizes, and errors."""

import numpy as np
import pytest
import torch
from ase.build import molecule

from irreps.descriptors import (atomic_complex, coulomb_descriptor, coulomb_features, coulomb_matrix,
                                polyatomic_complex, polyatomic_complex_features)


def _random_orthogonal(gen):
    q, r = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=gen))
    q = q * torch.sign(torch.diagonal(r))
    return -q if torch.linalg.det(q) > 0 else q  # a reflection: det -1


def _like_atom_permutation(numbers, gen):
    perm = torch.arange(len(numbers))
    for z in set(numbers.tolist()):
        idx = torch.nonzero(numbers == z)[:, 0]
        perm[idx] = idx[torch.randperm(len(idx), generator=gen)]
    assert not torch.equal(perm, torch.arange(len(numbers)))
    return perm


def _transformed(atoms, gen):
    numbers = torch.as_tensor(atoms.numbers)
    pos = torch.as_tensor(atoms.positions, dtype=torch.float64)
    perm = _like_atom_permutation(numbers, gen)
    moved = pos[perm] @ _random_orthogonal(gen).T + torch.randn(3, dtype=torch.float64, generator=gen) * 5
    return numbers, pos, numbers[perm], moved


@pytest.mark.parametrize("name", ["CH3CH2OH", "C6H6", "CH3COCH3"])
def test_coulomb_descriptors_are_invariant(name, generator):
    atoms = molecule(name)
    atoms.rattle(0.05, seed=1)  # break the symmetric geometry's ties between row norms
    numbers, pos, numbers2, pos2 = _transformed(atoms, generator)
    for kind in ("sorted", "eigenvalues"):
        torch.testing.assert_close(coulomb_descriptor(numbers2, pos2, kind), coulomb_descriptor(numbers, pos, kind),
                                   atol=1e-10, rtol=0)
    m = coulomb_matrix(numbers, pos)
    assert m[0, 0] == pytest.approx(0.5 * float(numbers[0]) ** 2.4)
    d01 = float((pos[0] - pos[1]).norm())
    assert m[0, 1] == pytest.approx(float(numbers[0] * numbers[1]) / d01)
    # geometry matters: a stretched molecule gives another descriptor
    assert not torch.allclose(coulomb_descriptor(numbers, pos * 1.05), coulomb_descriptor(numbers, pos))


@pytest.mark.parametrize("name", ["CH3CH2OH", "C6H6"])
def test_polyatomic_complex_is_invariant_and_composition_only(name, generator):
    atoms = molecule(name)
    numbers, pos, numbers2, pos2 = _transformed(atoms, generator)
    v = polyatomic_complex(numbers)
    torch.testing.assert_close(polyatomic_complex(numbers2), v, atol=0, rtol=0)
    torch.testing.assert_close(polyatomic_complex(numbers[torch.randperm(len(numbers), generator=generator)]), v,
                               atol=0, rtol=0)  # any permutation: atoms are ordered by Z
    # 3 Z + 3 N + Z cells per atom (H: 1 proton, 0 neutrons, 1 electron -> 4; C: 6, 6, 6 -> 42; O: 8, 8, 8 -> 56)
    sizes = {1: 4, 6: 42, 7: 56, 8: 56}
    assert v.shape == (sum(sizes[int(z)] for z in numbers),)
    assert np.all(np.diff(atomic_complex(6)) >= 0) and np.abs(atomic_complex(6)).max() <= 2.8
    # it does not see positions: every conformer of a molecule has one vector
    conformers = [atoms.copy() for _ in range(2)]
    conformers[1].rattle(0.3, seed=2)
    feats = polyatomic_complex_features(conformers)
    torch.testing.assert_close(feats[0], feats[1], atol=0, rtol=0)


def test_padding_and_differing_compositions():
    feats = polyatomic_complex_features([[1, 1, 8], [6, 1, 1, 1, 1]])
    assert feats.shape == (2, 64) and not feats[1, 42 + 16:].any() and feats[0].ne(0).all()  # H2O 64, CH4 58
    cm = coulomb_features([molecule("H2O"), molecule("CH4")], kind="eigenvalues")
    assert cm.shape == (2, 5) and cm[0, 3:].eq(0).all()


def test_bad_input():
    with pytest.raises(ValueError, match="atomic number"):
        atomic_complex(0)
    with pytest.raises(ValueError, match="non-empty"):
        polyatomic_complex([])
    with pytest.raises(ValueError, match="share a position"):
        coulomb_matrix(torch.tensor([1, 1]), torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="positions"):
        coulomb_matrix(torch.tensor([1, 1]), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="non-finite"):
        coulomb_matrix(torch.tensor([1]), torch.full((1, 3), float("nan")))
    with pytest.raises(ValueError, match="kind"):
        coulomb_descriptor(torch.tensor([1, 8]), torch.eye(2, 3, dtype=torch.float64), "norms")
