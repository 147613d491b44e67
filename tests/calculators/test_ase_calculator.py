"""IrrepsCalculator: finite differences, skin reuse, Hessians, model files and bad input."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator, PropertyNotImplementedError
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress
from ase.md.verlet import VelocityVerlet
from ase import units

from irreps.calculators import IrrepsCalculator
from irreps.models import build_model, save_model
from irreps.sim.md import draw_velocities


def morse():
    return build_model("morse_pair", {"elements": [29]})


def tiny_tensornet():
    torch.manual_seed(0)
    return build_model("tensornet", {"elements": [1, 6, 8, 29], "hidden_dim": 8, "num_layers": 1, "num_rbf": 8, "cutoff": 4.0})


def rattled_copper(seed=1):
    atoms = bulk("Cu", "fcc", a=3.6) * (2, 2, 2)
    # A skewed cell exercises non-orthogonal shifts in the strain derivative.
    atoms.set_cell(atoms.cell.array @ np.array([[1.0, 0.03, 0.0], [0.0, 1.0, 0.05], [0.02, 0.0, 1.0]]), scale_atoms=True)
    atoms.rattle(0.05, seed=seed)
    return atoms


def water_like():
    return Atoms("OH2", positions=[[0.0, 0.0, 0.0], [1.1, 0.0, 0.0], [0.2, 0.9, 0.1]])


@pytest.mark.parametrize("make_model", [morse, tiny_tensornet], ids=["morse", "tensornet"])
def test_forces_and_stress_match_finite_differences(make_model):
    atoms = rattled_copper()
    atoms.calc = IrrepsCalculator(make_model(), dtype="float64", skin=0.3)
    forces = atoms.get_forces()
    stress = atoms.get_stress()
    fd_forces = calculate_numerical_forces(atoms, eps=1e-5)
    fd_stress = calculate_numerical_stress(atoms, eps=1e-5)
    assert np.abs(forces).max() > 1e-3 and np.abs(stress).max() > 1e-5
    np.testing.assert_allclose(forces, fd_forces, atol=1e-8)
    np.testing.assert_allclose(stress, fd_stress, atol=1e-9)


def test_per_atom_energies_sum_to_energy_and_free_energy_equals_energy():
    atoms = rattled_copper()
    atoms.calc = IrrepsCalculator(morse(), dtype="float64")
    energies = atoms.get_potential_energies()
    assert energies.shape == (len(atoms),)
    assert energies.sum() == pytest.approx(atoms.get_potential_energy(), abs=1e-12)
    assert atoms.calc.get_property("free_energy", atoms) == atoms.get_potential_energy()


@pytest.mark.parametrize("make_model", [morse, tiny_tensornet], ids=["morse", "tensornet"])
def test_autograd_hessian_matches_finite_differences_of_forces(make_model):
    atoms = Atoms("Cu3", positions=[[0, 0, 0], [2.4, 0.1, 0], [1.1, 2.2, 0.3]])
    calculator = IrrepsCalculator(make_model(), dtype="float64", hessian="autograd")
    hessian = calculator.get_property("hessian", atoms)
    fd = np.zeros_like(hessian)
    for k in range(hessian.shape[0]):
        for sign in (1, -1):
            shifted = atoms.copy()
            shifted.positions.reshape(-1)[k] += sign * 1e-5
            fd[:, k] -= sign * calculator.get_forces(shifted).reshape(-1) / 2e-5
    assert np.abs(hessian).max() > 1e-3
    np.testing.assert_allclose(hessian, hessian.T, atol=1e-12)
    np.testing.assert_allclose(hessian, fd, atol=1e-7)


def test_direct_hessian_is_used_and_agrees_with_autograd():
    model = build_model("harmonic_pair", {"elements": [1, 8], "predict_hessian": True})
    atoms = water_like()
    direct = IrrepsCalculator(model, dtype="float64", hessian="direct").get_property("hessian", atoms)
    autograd = IrrepsCalculator(model, dtype="float64", hessian="autograd").get_property("hessian", atoms)
    np.testing.assert_allclose(direct, autograd, atol=1e-10)
    with pytest.raises(ValueError, match="does not predict a Hessian"):
        IrrepsCalculator(morse(), dtype="float64", hessian="direct").get_property("hessian", Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]]))


@pytest.mark.parametrize("make_model", [morse, tiny_tensornet], ids=["morse", "tensornet"])
def test_skin_reuse_gives_the_same_dynamics_as_rebuilding_every_step(make_model):
    model = make_model()
    runs = {}
    for skin in (0.0, 0.4):
        atoms = rattled_copper(seed=2)
        draw_velocities(atoms, 1500.0, seed=0)
        atoms.calc = IrrepsCalculator(model, dtype="float64", skin=skin)
        dyn = VelocityVerlet(atoms, timestep=2.0 * units.fs)
        dyn.run(40)
        runs[skin] = (atoms.positions.copy(), atoms.get_potential_energy(), atoms.calc.num_neighbor_builds)
    np.testing.assert_allclose(runs[0.4][0], runs[0.0][0], atol=1e-10)
    assert runs[0.4][1] == pytest.approx(runs[0.0][1], abs=1e-10)
    assert runs[0.0][2] == 41
    assert 1 <= runs[0.4][2] < 41


def test_neighbor_list_rebuilt_after_a_move_beyond_half_the_skin_or_a_cell_change():
    atoms = rattled_copper()
    calculator = IrrepsCalculator(morse(), dtype="float64", skin=0.4)
    calculator.get_potential_energy(atoms)
    atoms.positions[0] += [0.19, 0, 0]
    calculator.get_potential_energy(atoms)
    assert calculator.num_neighbor_builds == 1
    atoms.positions[0] += [0.02, 0, 0]
    calculator.get_potential_energy(atoms)
    assert calculator.num_neighbor_builds == 2
    atoms.set_cell(atoms.cell * 1.01, scale_atoms=True)
    calculator.get_potential_energy(atoms)
    assert calculator.num_neighbor_builds == 3


def test_edges_between_cutoff_and_skin_contribute_exactly_zero():
    atoms = rattled_copper()
    model = tiny_tensornet()
    calculators = [IrrepsCalculator(model, dtype="float64", skin=skin) for skin in (0.0, 1.5)]
    energies = [c.get_potential_energy(atoms) for c in calculators]
    forces = [c.get_forces(atoms) for c in calculators]
    assert calculators[1]._graph.num_edges > 1.5 * calculators[0]._graph.num_edges
    # Equal up to the order of floating-point sums (the extra edges add exact zeros).
    assert energies[0] == pytest.approx(energies[1], rel=1e-14, abs=1e-14)
    np.testing.assert_allclose(forces[0], forces[1], atol=1e-14)


def test_loads_model_files_and_keeps_float32_by_default(tmp_path):
    path = save_model(tiny_tensornet(), tmp_path / "tensornet.pt")
    atoms = rattled_copper()
    single = IrrepsCalculator(path).get_potential_energy(atoms)
    double = IrrepsCalculator(path, dtype="float64").get_potential_energy(atoms)
    assert single == pytest.approx(double, abs=1e-5)
    assert next(IrrepsCalculator(path).model.parameters()).dtype == torch.float32


@pytest.mark.parametrize("name", ["tensornet", "morse_pair"])
def test_float32_models_sum_reference_energies_in_float64(name):
    """E0s near -1e3 eV per atom put totals where float32 resolves ~1 meV: the E0s, the
    shift and the sum over atoms are float64, so a float32 model's total matches float64."""
    options = {"elements": [1, 6, 8], "cutoff": 4.0}
    if name == "tensornet":
        torch.manual_seed(0)
        options.update(hidden_dim=8, num_layers=1, num_rbf=8, e0s=[-13.5684, -1029.4889, -2041.9816], shift=-0.3)
    else:
        options.update(depth=0.1, r0=1.5, cutoff=4.0, e0=[-13.5684, -1029.4889, -2041.9816])
    model = build_model(name, options)
    atoms = Atoms("C5H8O2", positions=np.random.default_rng(3).uniform(0.0, 4.5, (15, 3)))
    total = {dtype: IrrepsCalculator(model, dtype=dtype).get_potential_energy(atoms) for dtype in ("float32", "float64")}
    assert total["float64"] < -9000.0
    assert total["float32"] == pytest.approx(total["float64"], abs=2e-5)
    energies = IrrepsCalculator(model, dtype="float32").get_potential_energies(atoms)
    assert energies.sum() == pytest.approx(total["float32"], abs=1e-9)


def test_isolated_molecule_and_single_atom():
    calculator = IrrepsCalculator(build_model("harmonic_pair", {"elements": [1, 8], "k": 10.0, "r0": 1.0}), dtype="float64")
    # Two atoms 1.2 Å apart: E = k/2 (0.2)^2 exactly (well inside the switching region's start).
    assert calculator.get_potential_energy(Atoms("OH", positions=[[0, 0, 0], [1.2, 0, 0]])) == pytest.approx(0.2, abs=1e-12)
    assert calculator.get_potential_energy(Atoms("H")) == 0.0


@pytest.mark.parametrize(
    "atoms, message",
    [
        (Atoms("CuAu", positions=[[0, 0, 0], [2.5, 0, 0]]), "not trained on element"),
        (Atoms("Cu2", positions=[[0, 0, 0], [np.nan, 0, 0]]), "non-finite"),
        (Atoms("Cu2", positions=[[0, 0, 0], [np.inf, 0, 0]]), "non-finite"),
        (Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]], cell=[[3, 0, 0], [6, 0, 0], [0, 0, 3]], pbc=True), "zero volume"),
        (Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]], pbc=True), "zero volume"),
    ],
    ids=["unknown-element", "nan", "inf", "flat-cell", "no-cell"],
)
def test_bad_structures_raise_clear_errors(atoms, message):
    with pytest.raises(ValueError, match=message):
        IrrepsCalculator(morse(), dtype="float64").get_potential_energy(atoms)


def test_bad_options_and_unavailable_properties():
    with pytest.raises(ValueError, match="dtype"):
        IrrepsCalculator(morse(), dtype="float16")
    with pytest.raises(ValueError, match="skin"):
        IrrepsCalculator(morse(), skin=-1)
    with pytest.raises(ValueError, match="hessian"):
        IrrepsCalculator(morse(), hessian="numeric")
    with pytest.raises(FileNotFoundError):
        IrrepsCalculator("/nonexistent/model.pt")
    molecule = Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]])
    with pytest.raises(ValueError, match="periodic in all three"):
        IrrepsCalculator(morse()).get_stress(molecule)
    with pytest.raises(PropertyNotImplementedError):
        IrrepsCalculator(morse()).get_property("dipole", molecule)


def test_rejects_a_file_that_is_not_a_model(tmp_path):
    path = tmp_path / "bad.pt"
    path.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a readable irreps model file"):
        IrrepsCalculator(path)


def test_direct_force_mode_returns_the_force_head_and_needs_one():
    torch.manual_seed(0)
    model = build_model("tensornet", {"elements": [1, 6, 8], "hidden_dim": 4, "num_layers": 1, "num_rbf": 4,
                                 "cutoff": 3.0, "direct_forces": True}).double()
    atoms = Atoms("COH", positions=[[0, 0, 0], [1.2, 0, 0], [-0.6, 0.9, 0.1]])
    atoms.calc = IrrepsCalculator(model, dtype="float64", forces="direct")
    direct = atoms.get_forces()
    atoms.calc = IrrepsCalculator(model, dtype="float64")
    conservative = atoms.get_forces()
    assert np.abs(direct - conservative).max() > 1e-6  # a different head
    with pytest.raises(ValueError, match="no direct force head"):
        IrrepsCalculator(build_model("harmonic_pair", {"elements": [6, 8]}), forces="direct")
    with pytest.raises(ValueError, match="forces must be"):
        IrrepsCalculator(model, forces="both")


def test_committee_returns_the_members_mean_and_spread():
    members = []
    for seed in (0, 1, 2):
        torch.manual_seed(seed)
        members.append(build_model("tensornet", {"elements": [1, 6, 8], "hidden_dim": 4, "num_layers": 1, "num_rbf": 4,
                                                 "cutoff": 3.0 + 0.2 * seed}).double())
    atoms = Atoms("COH", positions=[[0, 0, 0], [1.2, 0, 0], [-0.6, 0.9, 0.1]])
    singles = []
    for member in members:
        atoms.calc = IrrepsCalculator(member, dtype="float64")
        singles.append((atoms.get_potential_energy(), atoms.get_forces()))
        assert "energy_std" not in atoms.calc.results
    atoms.calc = IrrepsCalculator(members, dtype="float64")
    energies = np.array([e for e, _ in singles])
    forces = np.stack([f for _, f in singles])
    assert atoms.get_potential_energy() == pytest.approx(energies.mean(), abs=1e-10)
    np.testing.assert_allclose(atoms.get_forces(), forces.mean(0), atol=1e-10)
    assert atoms.calc.results["energy_std"] == pytest.approx(energies.std(), abs=1e-10)
    expected = np.sqrt(((forces - forces.mean(0)) ** 2).sum(-1).mean(0))
    np.testing.assert_allclose(atoms.calc.results["forces_std"], expected, atol=1e-10)
    assert atoms.calc.results["energy_std"] > 0
    with pytest.raises(ValueError, match="at least one model"):
        IrrepsCalculator([])


def test_check_state_reports_what_ases_comparison_reports():
    from ase.calculators.calculator import compare_atoms

    calc = IrrepsCalculator(morse())
    atoms = rattled_copper()
    atoms.calc = calc
    atoms.get_potential_energy()
    assert calc.check_state(atoms) == [] and atoms.get_potential_energy() == calc.results["energy"]
    changes = {
        "positions": lambda a: a.positions.__setitem__((0, 0), a.positions[0, 0] + 1e-9),
        "numbers": lambda a: a.numbers.__setitem__(0, 1),
        "cell": lambda a: a.set_cell(a.cell.array * 1.001),
        "pbc": lambda a: a.set_pbc([True, True, False]),
        "initial_charges": lambda a: a.set_initial_charges(np.ones(len(a))),
        "initial_magmoms": lambda a: a.set_initial_magnetic_moments(np.ones(len(a))),
    }
    for name, change in changes.items():
        changed = atoms.copy()
        change(changed)
        assert sorted(calc.check_state(changed)) == sorted(compare_atoms(calc.atoms, changed)) == [name], name
    fewer = atoms[:-1]
    assert sorted(calc.check_state(fewer)) == sorted(compare_atoms(calc.atoms, fewer)) == ["numbers", "positions"]
    calc.reset()
    assert sorted(calc.check_state(atoms)) == sorted(compare_atoms(None, atoms))
    calc.ignored_changes = {"initial_charges"}
    calc.get_potential_energy(atoms)
    charged = atoms.copy()
    charged.set_initial_charges(np.ones(len(charged)))
    assert calc.check_state(charged) == Calculator.check_state(calc, charged) == []
