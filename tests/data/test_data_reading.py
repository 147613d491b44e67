"""Reading extended XYZ with key mapping, and every validation error."""

import ase
import ase.io
import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator

from irreps.data import KeySpec, bundled_path, bundled_paths, extract_fields, read_atoms, validate_atoms

HEADER = 'Lattice="8 0 0 0 8 0 0 0 8" Properties=species:S:1:pos:R:3:forces:R:3'


def write(tmp_path, text, name="data.xyz"):
    path = tmp_path / name
    path.write_text(text)
    return path


def frame(energy="-1.5", forces="0.1 0.2 0.3", symbol="H", position="0.7 0 0", extra=""):
    return (
        f'2\n{HEADER} energy={energy} pbc="F F F" {extra}\n'
        f"H 0 0 0 {forces}\n{symbol} {position} -0.1 -0.2 -0.3\n"
    )


def test_bundled_files_read_with_energies_and_forces():
    paths = bundled_paths()
    assert set(paths) == {"acac_train", "acac_test", "acac_isolated_atoms", "acac_hessians"}
    train = read_atoms(paths["acac_train"], required=("energy", "forces"))
    test = read_atoms(paths["acac_test"], required=("energy", "forces"))
    assert (len(train), len(test)) == (200, 100)
    values, info = extract_fields(train[0], required=("energy", "forces"))
    assert values["energy"].shape == () and values["forces"].shape == (15, 3)
    assert np.isclose(values["energy"], -9391.45554428476, rtol=0, atol=1e-9)
    np.testing.assert_allclose(values["forces"][0], [1.47339228, 1.13796366, 0.06391102])
    assert info["config_type"] == "300K_MD"
    assert sorted(set(train[0].get_chemical_symbols())) == ["C", "H", "O"]
    with pytest.raises(ValueError, match="unknown bundled dataset 'acac'"):
        bundled_path("acac")


def test_hessian_read_flat_and_shaped():
    frames = read_atoms(bundled_path("acac_hessians"), required=("energy", "forces", "hessian"))
    assert len(frames) == 20
    values, _ = extract_fields(frames[0], required=("hessian",))
    hessian = values["hessian"]
    assert hessian.shape == (45 * 45,)
    matrix = hessian.reshape(45, 45)
    np.testing.assert_allclose(matrix, matrix.T, atol=1e-10)  # the file stores a symmetrised Hessian
    assert np.isclose(matrix[0, 0], 55.83917326479049) and np.isclose(matrix[0, 1], -5.516727345366318)
    # Translation sum rule: a rigid shift changes no force, so each 3x3 row-block sum vanishes.
    assert np.abs(matrix.reshape(45, 15, 3).sum(axis=1)).max() < 1e-3


def test_key_mapping_and_info_arrays_or_calculator():
    atoms = ase.Atoms("H2", positions=[[0, 0, 0], [0.7, 0, 0]])
    atoms.info["REF_energy"] = -2.0
    atoms.arrays["REF_forces"] = np.ones((2, 3))
    atoms.info["REF_dipole"] = [0.1, 0.2, 0.3]
    atoms.arrays["REF_charges"] = np.array([0.5, -0.5])
    atoms.info["polar"] = np.arange(9.0)
    keys = KeySpec(energy_key="REF_energy", forces_key="REF_forces", dipole_key="REF_dipole",
                   charges_key="REF_charges", polarizability_key="polar")
    values, _ = extract_fields(atoms, keys, required=("energy", "forces", "dipole", "charges", "polarizability"))
    assert values["energy"] == -2.0 and values["charges"].shape == (2,)
    np.testing.assert_array_equal(values["polarizability"], np.arange(9.0).reshape(3, 3))
    # The same values held by a single-point calculator, as ASE's extxyz reader stores them.
    calc_atoms = ase.Atoms("H2", positions=[[0, 0, 0], [0.7, 0, 0]])
    calc_atoms.calc = SinglePointCalculator(calc_atoms, energy=-2.0, forces=np.ones((2, 3)),
                                            stress=np.array([1.0, 2, 3, 4, 5, 6]))
    values, _ = extract_fields(calc_atoms, required=("energy", "forces", "stress"))
    assert values["energy"] == -2.0
    # ASE Voigt order is xx yy zz yz xz xy.
    np.testing.assert_array_equal(values["stress"], [[1, 6, 5], [6, 2, 4], [5, 4, 3]])


def test_stress_from_file_and_all_scalar_fields(tmp_path):
    extra = 'stress="1 0 0 0 2 0 0 0 3" total_charge=1 weights=0.5 config_type=bulk virials="1 2 3 4 5 6 7 8 9"'
    [atoms] = read_atoms(write(tmp_path, frame(extra=extra)), required=("stress", "virials"))
    values, info = extract_fields(atoms)
    np.testing.assert_array_equal(values["stress"], np.diag([1.0, 2, 3]))
    np.testing.assert_array_equal(values["virials"], np.arange(1.0, 10).reshape(3, 3))
    assert values["total_charge"] == 1 and values["weights"] == 0.5 and info["config_type"] == "bulk"
    assert "dipole" not in values and "hessian" not in values
    values, info = extract_fields(atoms, fields=("energy",))
    assert set(values) == {"energy"} and info == {"config_type": "bulk"}
    values, _ = extract_fields(atoms, required=("forces",), fields=("stress",))
    assert set(values) == {"forces", "stress"}


def test_missing_required_key_names_key_file_and_frame(tmp_path):
    path = write(tmp_path, frame() + frame(extra="").replace("energy=-1.5", ""))
    with pytest.raises(ValueError, match=r"data\.xyz, frame 1: missing required field 'energy' \(key 'energy'\)"):
        read_atoms(path, required=("energy",))
    with pytest.raises(ValueError, match=r"frame 0: missing required field 'energy' \(key 'E_dft'\)"):
        read_atoms(path, KeySpec(energy_key="E_dft"), required=("energy",))
    with pytest.raises(ValueError, match="field 'enrgy' is not a field KeySpec maps"):
        read_atoms(path, required=("enrgy",))
    with pytest.raises(ValueError, match="field 'stres' is not a field KeySpec maps"):
        read_atoms(path, fields=("stres",))


@pytest.mark.parametrize(
    "text, message",
    [
        (frame(position="0.7 nan 0"), r"frame 1: non-finite positions for atoms \[1\]"),
        (frame(energy="nan"), r"frame 1: field 'energy' \(key 'energy'\) contains non-finite"),
        (frame(forces="inf 0 0"), r"frame 1: field 'forces' \(key 'forces'\) contains non-finite"),
        (frame(extra="hessian=\"1 2 3\""), r"field 'hessian' .* has 3 numbers, expected \(3N\)\^2 = 36"),
        (frame(extra="dipole=\"1 2\""), r"field 'dipole' .* has shape \(2,\), expected \(3,\)"),
        (frame(symbol="Xx"), r"frame 1: unknown element symbol 'Xx'"),
        (frame(symbol="X"), r"frame 1: unknown elements \['X'\]"),
    ],
)
def test_bad_values_raise_with_location(tmp_path, text, message):
    path = write(tmp_path, frame() + text)
    with pytest.raises(ValueError, match=message):
        read_atoms(path, required=("energy", "forces"))


def test_non_finite_cell_raises():
    atoms = ase.Atoms("H", positions=[[0, 0, 0]], cell=[[np.nan, 0, 0], [0, 1, 0], [0, 0, 1]])
    with pytest.raises(ValueError, match="mine: non-finite cell"):
        validate_atoms(atoms, "mine")


def test_non_numeric_field_raises():
    atoms = ase.Atoms("H", positions=[[0, 0, 0]], info={"energy": "high"})
    with pytest.raises(ValueError, match=r"field 'energy' \(key 'energy'\) is not numeric"):
        extract_fields(atoms, where="mine")


@pytest.mark.parametrize(
    "text, message",
    [
        ("abc\nfoo\n", r"data\.xyz: cannot read frame 0"),
        (frame() + "3\ncomment\nH 0 0 0\n", r"data\.xyz: cannot read frame 1"),
        (frame() + frame().replace("0.7 0 0", "0.7 zero 0"), r"cannot read frame 1"),
        ("", r"data\.xyz: cannot read frame 0"),
    ],
)
def test_malformed_file_names_the_file(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        read_atoms(write(tmp_path, text))


def test_missing_file_and_empty_selection(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such data file"):
        read_atoms(tmp_path / "absent.xyz")
    with pytest.raises(ValueError, match="no structures found"):
        read_atoms(write(tmp_path, frame()), index="5:")


def test_other_ase_formats_and_index(tmp_path):
    atoms = [ase.Atoms("H2O", positions=np.random.default_rng(0).normal(size=(3, 3))) for _ in range(3)]
    path = tmp_path / "frames.traj"
    ase.io.write(path, atoms)
    frames = read_atoms(path, index="1:")
    assert len(frames) == 2
    np.testing.assert_allclose(frames[0].positions, atoms[1].positions)
