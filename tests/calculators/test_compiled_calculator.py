"""IrrepsCalculator(compile=True): the same numbers as the eager calculator along MD, one program.

The calculator's program is here the recording run as it is (the ``eager`` backend, put in
place of inductor's by the fixture), except in the slow test of MD with the real compiler:
inductor takes a minute or more. Recording alone takes 5-20 s, so only the MD test records by
default.
"""

import functools

import numpy as np
import pytest
import torch
from ase import Atoms, units
from ase.build import bulk
from ase.md.verlet import VelocityVerlet

from irreps.calculators import IrrepsCalculator
from irreps.calculators import ase_calculator
from irreps.models import build_model
from irreps.nn.compiled_potential import CompiledPotential
from irreps.sim.md import draw_velocities
from unrecordable import BranchingPair


@pytest.fixture
def recorded_only(monkeypatch):
    """Calculators compile with the ``eager`` backend: the recorded program, no inductor."""
    monkeypatch.setattr(ase_calculator, "CompiledPotential", functools.partial(CompiledPotential, backend="eager"))


def tensornet():
    torch.manual_seed(0)
    model = build_model("tensornet", {"elements": [1, 6, 8, 29], "hidden_dim": 8, "num_layers": 1, "num_rbf": 8,
                                      "cutoff": 4.0, "e0s": [-13.6, -1029.0, -2041.0, -1000.0], "shift": -0.3})
    with torch.no_grad():  # break the symmetry of the initialisation (zero biases, equal E0s)
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    return model


def molecule():
    return Atoms("CCOHHH", positions=[[0, 0, 0], [1.5, 0, 0], [2.2, 1.1, 0], [-0.5, 0.9, 0.3],
                                      [-0.4, -0.9, 0.4], [2.0, -0.9, -0.4]])


def _md(calculator, atoms, steps, temperature=2000.0):
    """Energies, forces and positions along velocity Verlet (hot, so the neighbour list is rebuilt)."""
    atoms = atoms.copy()
    draw_velocities(atoms, temperature, seed=0)
    atoms.calc = calculator
    frames = []
    dyn = VelocityVerlet(atoms, 1.0 * units.fs)
    dyn.attach(lambda: frames.append((atoms.get_potential_energy(), atoms.get_forces(), atoms.positions.copy())))
    dyn.run(steps)
    return frames


def _assert_same_frames(got, want, tol):
    assert len(got) == len(want)
    for (e, f, x), (e_ref, f_ref, x_ref) in zip(got, want):
        np.testing.assert_allclose(e, e_ref, rtol=0, atol=tol * max(1.0, abs(e_ref)))
        np.testing.assert_allclose(f, f_ref, rtol=0, atol=tol)
        np.testing.assert_allclose(x, x_ref, rtol=0, atol=tol)


def test_md_with_the_compiled_program_equals_eager_md(recorded_only):
    model = tensornet()
    compiled = IrrepsCalculator(model, dtype="float64", skin=0.2, compile=True)
    eager = IrrepsCalculator(model, dtype="float64", skin=0.2)
    _assert_same_frames(_md(compiled, molecule(), 30), _md(eager, molecule(), 30), 1e-10)
    assert compiled.num_neighbor_builds > 2  # edge counts changed along the run
    (program,) = compiled.compiled
    assert program.num_recordings == 1
    # A second calculator of the same model object shares the program (NEB's images, say).
    assert IrrepsCalculator(model, dtype="float64", compile=True).compiled[0] is program


@pytest.mark.slow
def test_stress_of_a_crystal_equals_eager(recorded_only):
    model = tensornet()
    compiled = IrrepsCalculator(model, dtype="float64", compile=True)
    eager = IrrepsCalculator(model, dtype="float64")
    for seed in (1, 2):
        atoms = bulk("Cu", "fcc", a=3.6) * (2, 2, 1)
        atoms.rattle(0.05, seed=seed)
        for calculator in (compiled, eager):
            calculator.calculate(atoms, ["energy", "forces", "stress"])
        for key in ("energy", "forces", "stress", "energies"):
            np.testing.assert_allclose(compiled.results[key], eager.results[key], rtol=1e-10, atol=1e-10)
    assert compiled.compiled[0].num_recordings == 1


def test_a_model_that_cannot_be_compiled_runs_eagerly_with_a_warning(recorded_only):
    model = BranchingPair()
    calculator = IrrepsCalculator(model, dtype="float64", compile=True)
    atoms = molecule()
    atoms.calc = calculator
    with pytest.warns(RuntimeWarning, match="BranchingPair cannot be compiled .*; running the model eagerly"):
        forces = atoms.get_forces()
    eager = IrrepsCalculator(model, dtype="float64")
    np.testing.assert_allclose(forces, eager.get_forces(molecule()), rtol=0, atol=1e-12)
    assert calculator.compiled is None


def test_direct_forces_are_not_compiled():
    with pytest.raises(ValueError, match="compile=True compiles conservative forces only"):
        IrrepsCalculator(tensornet(), forces="direct", compile=True)


@pytest.mark.slow
@pytest.mark.parametrize("dtype, tol", [("float64", 1e-9), ("float32", 1e-4)])
def test_md_with_inductor_equals_eager_md_without_recompiling(dtype, tol):
    model = tensornet()
    compiled = IrrepsCalculator(model, dtype=dtype, skin=0.2, compile=True)
    eager = IrrepsCalculator(model, dtype=dtype, skin=0.2)
    steps = 30 if dtype == "float64" else 5  # float32 trajectories separate by rounding
    _assert_same_frames(_md(compiled, molecule(), steps), _md(eager, molecule(), steps), tol)
    assert compiled.num_neighbor_builds > 1
    assert compiled.compiled[0].num_recordings == 1  # neighbour lists of every size: one program


def test_hessians_come_from_the_eager_model(recorded_only):
    """A Hessian head's prediction (hessian="direct") is still there with compile=True."""
    model = build_model("harmonic_pair", {"elements": [6, 8], "k": 30.0, "r0": 1.2, "predict_hessian": True})
    atoms = Atoms("CO", positions=[[0, 0, 0], [1.25, 0, 0]])
    compiled = IrrepsCalculator(model, dtype="float64", hessian="direct", compile=True)
    eager = IrrepsCalculator(model, dtype="float64", hessian="direct")
    np.testing.assert_allclose(compiled.get_property("hessian", atoms), eager.get_property("hessian", atoms),
                               rtol=0, atol=1e-12)
    assert compiled.compiled[0].num_recordings == 1
