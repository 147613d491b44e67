"""Relaxation reaches fmax, keeps fixed atoms fixed and relaxes cells to zero stress."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from irreps.calculators import IrrepsCalculator
from irreps.models import build_model
from irreps.sim.relax import RelaxConfig, relax


def morse_calculator():
    return IrrepsCalculator(build_model("morse_pair", {"elements": [29]}), dtype="float64")


@pytest.mark.parametrize("optimizer", ["bfgs", "fire"])
def test_cluster_relaxes_below_fmax(optimizer):
    cluster = Atoms("Cu4", positions=[[0, 0, 0], [2.9, 0.2, 0], [1.3, 2.4, 0.1], [1.4, 0.8, 2.3]])
    result = relax(cluster, morse_calculator(), RelaxConfig(optimizer=optimizer, fmax=1e-4, steps=1000))
    assert result.converged and result.fmax < 1e-4
    assert result.energy < result.frames[0].get_potential_energy()
    # A Morse tetrahedron relaxes to equal edges.
    distances = result.atoms.get_all_distances()[np.triu_indices(4, 1)]
    assert np.ptp(distances) < 1e-3


def test_harmonic_dimer_relaxes_to_its_rest_length():
    dimer = Atoms("OH", positions=[[0, 0, 0], [1.3, 0.1, 0]])
    calculator = IrrepsCalculator(build_model("harmonic_pair", {"elements": [1, 8], "r0": 0.97}), dtype="float64")
    result = relax(dimer, calculator, RelaxConfig(fmax=1e-6))
    assert result.atoms.get_distance(0, 1) == pytest.approx(0.97, abs=1e-6)


def test_fixed_atoms_stay_put_and_bad_indices_raise():
    cluster = Atoms("Cu3", positions=[[0, 0, 0], [3.1, 0, 0], [1.0, 2.0, 0]])
    result = relax(cluster, morse_calculator(), RelaxConfig(fmax=1e-4, fixed=(0, 1)))
    np.testing.assert_array_equal(result.atoms.positions[:2], cluster.positions[:2])
    assert result.converged
    with pytest.raises(ValueError, match="out of range"):
        relax(cluster, morse_calculator(), RelaxConfig(fixed=(5,)))


def test_cell_relaxation_removes_the_stress(tmp_path):
    crystal = bulk("Cu", "fcc", a=3.4, cubic=True)
    crystal.rattle(0.02, seed=0)
    result = relax(crystal, morse_calculator(), RelaxConfig(fmax=1e-4, relax_cell=True, steps=300), trajectory=tmp_path / "r.traj")
    assert result.converged
    assert np.abs(result.atoms.get_stress()).max() < 1e-4
    # Tensile stress at a = 3.4 Å: the Morse crystal contracts (to a = 3.264 Å).
    assert result.atoms.get_volume() < crystal.get_volume() * 0.9
    assert (tmp_path / "r.traj").exists()
    with pytest.raises(FileExistsError):
        relax(crystal, morse_calculator(), RelaxConfig(steps=1), trajectory=tmp_path / "r.traj")
    with pytest.raises(ValueError, match="periodic"):
        relax(Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]]), morse_calculator(), RelaxConfig(relax_cell=True))


def test_the_relaxed_structure_is_at_rest_and_keeps_other_info():
    """Momenta and an MD frame's step/time are dropped from every frame; other info stays."""
    dimer = Atoms("OH", positions=[[0, 0, 0], [1.3, 0.1, 0]], info={"step": 1000, "time_fs": 500.0, "name": "x"})
    dimer.set_momenta([[0, 0, 1.0], [0, 0, -1.0]])
    calculator = IrrepsCalculator(build_model("harmonic_pair", {"elements": [1, 8], "r0": 0.97}), dtype="float64")
    result = relax(dimer, calculator, RelaxConfig(fmax=1e-3))
    for frame in [result.atoms, *result.frames]:
        assert "momenta" not in frame.arrays and frame.info == {"name": "x"}
    assert dimer.info["step"] == 1000 and "momenta" in dimer.arrays  # the input is left alone
