"""Simulation guards: each check trips with a message naming the problem, None switches it off,
and an MD run that trips stops with its last good frame saved and its outputs resumable."""

import re

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from irreps.calculators import IrrepsCalculator
from irreps.models import build_model
from irreps.sim.guards import Guards, GuardTripped, check_state
from irreps.sim.io import partial_path
from irreps.sim.md import MDConfig, last_good_path, run_md

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
