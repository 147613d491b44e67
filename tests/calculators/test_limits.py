"""The calculator's own limits: a broken structure or prediction raises UnphysicalStructure
naming the problem (instead of returning numbers), the floor follows the model's training
distances, ``limits=None`` evaluates anything, and a workflow's guards take over from them."""

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import CalculationFailed

from irreps.calculators import IrrepsCalculator, StructureLimits, UnphysicalStructure
from irreps.models import build_model
from irreps.models.domain import SHORTEST_DISTANCES, encode_shortest_distances
from irreps.sim.guards import Guards
from irreps.sim.md import MDConfig, run_md


def _springs(k: float = 30.0):
    return build_model("harmonic_pair", {"elements": [6, 8], "k": k, "r0": 1.2})


def _co(distance: float) -> Atoms:
    return Atoms("CO", positions=[[0, 0, 0], [distance, 0, 0]])


def test_overlapping_atoms_are_refused_by_default_and_evaluated_without_limits():
    atoms = _co(0.3)
    atoms.calc = IrrepsCalculator(_springs(), dtype="float64")
    with pytest.raises(UnphysicalStructure, match=r"atoms 0 \(C\) and 1 \(O\) are 0.3 Å apart, below the floor of 0.710 Å"):
        atoms.get_potential_energy()
    assert issubclass(UnphysicalStructure, CalculationFailed)  # ASE code catching calculator failures catches it
    assert not atoms.calc.results  # nothing half-checked is left for a later read
    atoms.calc = IrrepsCalculator(_springs(), dtype="float64", limits=None)
    assert atoms.get_potential_energy() == pytest.approx(0.5 * 30.0 * 0.9**2)


def test_force_limit_and_non_finite_positions_of_the_prediction():
    atoms = _co(1.4)  # spring force 30 * 0.2 = 6 eV/Å (inside the switching region's start)
    atoms.calc = IrrepsCalculator(_springs(), dtype="float64", limits=StructureLimits(max_force_eV_A=5.0))
    with pytest.raises(UnphysicalStructure, match=r"force -?6.0 eV/Å on atom [01] \([CO]\) exceeds the limit of 5 eV/Å"):
        atoms.get_forces()
    atoms.calc = IrrepsCalculator(_springs(), dtype="float64", limits=StructureLimits(max_force_eV_A=7.0))
    assert np.abs(atoms.get_forces()).max() == pytest.approx(6.0)
    limits = StructureLimits()
    assert limits.problem(atoms, float("nan"), np.zeros((2, 3))).startswith("non-finite energy or forces")
    assert limits.problem(atoms, 0.0, np.array([[0, 0, np.inf], [0, 0, 0]])).startswith("non-finite")


def test_floor_refers_to_the_training_distances_the_model_file_records():
    model = _springs()
    model.metadata = {"training": {SHORTEST_DISTANCES: encode_shortest_distances({(6, 8): 1.1})}}
    calc = IrrepsCalculator(model, dtype="float64")
    assert calc.limits.training_distances == {(6, 8): 1.1}
    atoms = _co(0.53)  # below 0.5 x 1.1 = 0.55 (the training floor)
    atoms.calc = calc
    with pytest.raises(UnphysicalStructure, match=r"0.5 x the shortest C-O distance in the training data, 1.100 Å"):
        atoms.get_potential_energy()
    atoms = _co(0.56)  # below the covalent floor (0.71 Å) but above the training one: accepted
    atoms.calc = calc
    assert np.isfinite(atoms.get_potential_energy())


def test_bad_limits_are_refused():
    with pytest.raises(ValueError, match="limits must be a StructureLimits, 'auto' or None"):
        IrrepsCalculator(_springs(), limits="strict")
    with pytest.raises(ValueError, match="min_distance must be > 0"):
        StructureLimits(min_distance=-1.0)


def test_a_workflow_guard_the_user_loosened_is_not_enforced_by_the_calculator(tmp_path):
    calc = IrrepsCalculator(_springs(k=1.0), dtype="float64")
    start = _co(0.5)  # below the default floor: the calculator alone would refuse it
    result = run_md(start, calc, MDConfig(steps=5, temperature_K=0.0), tmp_path / "t.xyz", tmp_path / "t.csv",
                    guards=Guards(min_distance=None))
    assert len(result.log) == 6
    assert calc.limits is not None and calc.limits.min_distance == 0.5  # restored after the run
