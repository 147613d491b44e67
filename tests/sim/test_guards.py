"""Simulation guards: each check trips with a message naming the problem, None switches it off,
the distance floor follows a model's training distances, and every workflow that trips stops
with its last good state saved (MD's outputs resumable)."""

import re

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.singlepoint import SinglePointCalculator

from irreps.calculators import IrrepsCalculator
from irreps.models import build_model
from irreps.sim.guards import Guards, GuardTripped, check_hessian, check_state, last_good_path
from irreps.sim.io import partial_path
from irreps.sim.md import MDConfig, run_md
from irreps.sim.neb import NEBConfig, run_neb
from irreps.sim.relax import RelaxConfig, relax
from irreps.sim.ts import TSConfig, find_saddle
from irreps.sim.vib import vibrate

OFF = Guards(min_distance=None, max_force_eV_A=None, max_temperature_K=None, max_drift_meV_per_atom=None)


def _state(positions, energy=-1.0, forces=None, momenta=None, symbols="CH"):
    atoms = Atoms(symbols, positions=positions)
    if momenta is not None:
        atoms.set_momenta(momenta)
    forces = np.zeros((len(atoms), 3)) if forces is None else np.asarray(forces, dtype=float)
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
    return atoms


def test_a_sound_state_passes_every_guard():
    assert check_state(Guards(), _state([[0, 0, 0], [1.09, 0, 0]]), reference_etot=-1.0) is None


@pytest.mark.parametrize(
    "atoms, reference, message",
    [
        (_state([[0, 0, 0], [1.09, 0, 0]], energy=np.nan), None, "non-finite energy or forces"),
        (_state([[0, 0, 0], [1.09, 0, 0]], forces=[[0, 0, np.inf], [0, 0, 0]]), None, "non-finite"),
        (_state([[0, 0, 0], [1e-4, 0, 0]]), None, r"atoms 0 \(C\) and 1 \(H\) are 0.0001 Å apart, below the floor of 0.535 Å"),
        (_state([[0, 0, 0], [0, 0, 0]]), None, "0 Å apart"),
        (_state([[0, 0, 0], [1.09, 0, 0]], forces=[[0, 0, 0], [0, -80.0, 0]]), None, r"force -80.0 eV/Å on atom 1 \(H\)"),
        (_state([[0, 0, 0], [1.09, 0, 0]], momenta=[[0, 0, 0], [0, 0, 5.0]]), None, r"temperature \d+ K exceeds"),
        (_state([[0, 0, 0], [1.09, 0, 0]], energy=-0.8), -1.0, r"drifted by \+100.0 meV/atom"),
    ],
    ids=["nan-energy", "inf-force", "too-close", "overlap", "force", "temperature", "drift"],
)
def test_each_guard_trips_and_none_switches_it_off(atoms, reference, message):
    problem = check_state(Guards(), atoms, reference)
    assert problem is not None and re.search(message, problem), problem
    if "non-finite" not in message:
        assert check_state(OFF, atoms, reference) is None


def test_limits_must_be_positive():
    with pytest.raises(ValueError, match="max_force_eV_A must be > 0"):
        Guards(max_force_eV_A=0.0)


def test_md_that_trips_stops_with_the_last_good_frame_and_resumes_with_a_shorter_step(tmp_path):
    """Stiff C-O springs integrated with 10 fs steps blow up; 0.5 fs steps conserve energy."""
    calculator = IrrepsCalculator(build_model("harmonic_pair", {"elements": [6, 8], "k": 30.0, "r0": 1.2}), dtype="float64")
    atoms = Atoms("CO", positions=[[0, 0, 0], [1.3, 0, 0]])
    trajectory, log = tmp_path / "t.extxyz", tmp_path / "log.csv"
    with pytest.raises(GuardTripped, match=r"stopped at step (\d+) \((\d+) fs\): .*the last good frame") as trip:
        run_md(atoms, calculator, MDConfig(timestep_fs=10.0, steps=400, traj_every=1), trajectory, log)
    assert trip.value.last_good == last_good_path(trajectory) == tmp_path / "t.last_good.extxyz"
    good = ase.io.read(trip.value.last_good)
    assert good.info["step"] == trip.value.step - 1 and np.isfinite(good.get_momenta()).all()
    assert partial_path(trajectory).exists() and not trajectory.exists()
    resumed = run_md(atoms, calculator, MDConfig(timestep_fs=0.5, steps=trip.value.step + 20), trajectory, log, resume=True)
    assert resumed.first_step == trip.value.step - 1 and trajectory.exists()
    run_md(atoms, calculator, MDConfig(timestep_fs=10.0, steps=30), tmp_path / "u.extxyz", tmp_path / "u.csv", guards=OFF)


def test_the_floor_refers_to_the_training_distances_where_the_model_records_them():
    """With a recorded shortest C-H distance of 1.0 Å the C-H floor is 0.5 Å (not the covalent
    0.535 Å) and the message names its origin; O-H, not recorded, keeps the covalent floor."""
    guards = Guards(training_distances={(6, 1): 1.0})
    assert check_state(guards, _state([[0, 0, 0], [0.52, 0, 0]]), None) is None
    assert check_state(Guards(), _state([[0, 0, 0], [0.52, 0, 0]]), None) is not None
    problem = check_state(guards, _state([[0, 0, 0], [0.45, 0, 0]]), None)
    assert problem.endswith("below the floor of 0.500 Å (0.5 x the shortest C-H distance in the training data, 1.000 Å)")
    problem = check_state(guards, _state([[0, 0, 0], [0.45, 0, 0]], symbols="OH"), None)
    assert problem.endswith("below the floor of 0.485 Å (0.5 x the sum of covalent radii)")
    assert guards.describe_floor() == ("distance floor: 0.5 x the shortest distance of each element pair in the "
                                       "training data (C-H 1.000 Å); 0.5 x the sum of covalent radii for other pairs")
    assert Guards().describe_floor().endswith("sum of covalent radii (the model file records no training distances)")


class _TurnsNonFinite(Calculator):
    """An irreps calculator whose forces become NaN from its ``after``-th calculation on."""

    implemented_properties = ["energy", "free_energy", "forces", "hessian"]

    def __init__(self, model, after: int):
        super().__init__()
        self.inner, self.after, self.calls = IrrepsCalculator(model, dtype="float64"), after, 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.inner.calculate(self.atoms, properties, system_changes)
        self.results = dict(self.inner.results)
        self.calls += 1
        if self.calls >= self.after:
            self.results["forces"] = np.full_like(self.results["forces"], np.nan)


def _springs():
    return build_model("harmonic_pair", {"elements": [6, 8], "k": 30.0, "r0": 1.2})


WORKFLOWS = {
    "md": lambda path: run_md(Atoms("CO", positions=[[0, 0, 0], [1.3, 0, 0]]), _TurnsNonFinite(_springs(), 4),
                              MDConfig(steps=20), path, path.with_suffix(".csv")),
    "relax": lambda path: relax(Atoms("CO", positions=[[0, 0, 0], [1.6, 0, 0]]), _TurnsNonFinite(_springs(), 4),
                                RelaxConfig(fmax=1e-6), last_good=last_good_path(path)),
    "ts": lambda path: find_saddle(Atoms("CO", positions=[[0, 0, 0], [1.5, 0, 0]]), _TurnsNonFinite(_springs(), 5),
                                   TSConfig(), last_good=last_good_path(path)),
    "neb": lambda path: run_neb(
        Atoms("H", positions=[[-1.03, 0.26, 0]]), Atoms("H", positions=[[1.03, -0.26, 0]]),
        lambda: _TurnsNonFinite(build_model("double_well_surface", {"elements": [1]}), 4),
        NEBConfig(images=3, interpolation="linear", fmax=1e-6), last_good=last_good_path(path),
    ),
}


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_every_workflow_stops_at_a_non_finite_step_with_the_last_good_state_saved(workflow, tmp_path):
    """A model that turns NaN a few calculations in stops md, relax, ts and neb at that step;
    the state of the step before (every image, for NEB) is saved with finite forces."""
    path = tmp_path / "out.extxyz"
    with pytest.raises(GuardTripped, match=r"stopped at step (\d+).*: non-finite energy or forces") as trip:
        WORKFLOWS[workflow](path)
    noun = "band" if workflow == "neb" else "frame"
    assert str(trip.value).endswith(f"the last good {noun} (step {trip.value.step - 1}) is in {last_good_path(path)}")
    assert trip.value.step >= 2 and trip.value.last_good == last_good_path(path)
    good = ase.io.read(trip.value.last_good, ":")
    assert len(good) == (5 if workflow == "neb" else 1)
    assert all(np.isfinite(frame.get_forces()).all() for frame in good)


def test_vib_checks_the_structure_and_its_hessian():
    springs = _springs()
    with pytest.raises(GuardTripped, match=r"before the harmonic analysis: non-finite energy or forces"):
        vibrate(Atoms("CO", positions=[[0, 0, 0], [1.2, 0, 0]]), _TurnsNonFinite(springs, 1))
    with pytest.raises(GuardTripped, match=r"atoms 0 \(C\) and 1 \(O\) are 0.3 Å apart"):
        vibrate(Atoms("CO", positions=[[0, 0, 0], [0.3, 0, 0]]), IrrepsCalculator(springs, dtype="float64"))
    assert check_hessian(np.array([[1.0, np.nan]])) == "non-finite Hessian" and check_hessian(np.eye(2)) is None
