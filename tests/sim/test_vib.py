"""Harmonic analysis against closed-form spring-network frequencies."""

import ase.io
import numpy as np
import pytest
from ase import Atoms

from irreps.calculators import IrrepsCalculator
from irreps.models import build_model
from irreps.sim.vib import CM1_PER_UNIT, EV_PER_UNIT, harmonic_analysis, vibrate, write_modes

K = 30.0


def springs(predict_hessian=False):
    config = {"elements": [1, 6, 8], "k": K, "r0": 1.2, "cutoff": 2.0, "switch_width": 0.5, "predict_hessian": predict_hessian}
    return IrrepsCalculator(build_model("harmonic_pair", config), dtype="float64", hessian="auto")


def test_unit_conversions():
    # sqrt(eV / (Å^2 amu)) is 521.47 cm^-1 and hbar * omega of 64.65 meV.
    assert CM1_PER_UNIT == pytest.approx(521.4709, abs=1e-3)
    assert EV_PER_UNIT == pytest.approx(0.0646541, abs=1e-6)


@pytest.mark.parametrize("direct", [False, True], ids=["autograd", "direct"])
def test_diatomic_frequency_and_zpe_are_exact(direct):
    dimer = Atoms("CO", positions=[[0, 0, 0], [1.2, 0, 0]])
    vib = vibrate(dimer, springs(direct))
    masses = dimer.get_masses()
    omega = np.sqrt(K * masses.sum() / masses.prod())
    assert vib.frequencies_cm1.shape == (1,)  # 3N - 5 for a linear molecule
    assert vib.frequencies_cm1[0] == pytest.approx(omega * CM1_PER_UNIT, rel=1e-10)
    assert vib.zpe_eV == pytest.approx(0.5 * omega * EV_PER_UNIT, rel=1e-10)
    np.testing.assert_allclose(np.abs(vib.modes[0, :, 0]) * [masses[0], masses[1]] / np.abs(vib.modes[0, :, 0]).sum(),
                               [masses.prod() / masses.sum()] * 2, rtol=1e-10)


def test_linear_symmetric_triatomic_has_the_textbook_stretches():
    # C-O at 1.2 Å on both sides of C; O...O at 2.4 Å is beyond the cutoff: two springs only.
    co2 = Atoms("OCO", positions=[[-1.2, 0, 0], [0, 0, 0], [1.2, 0, 0]])
    vib = vibrate(co2, springs())
    m_o, m_c = co2.get_masses()[:2]
    symmetric = np.sqrt(K / m_o)
    asymmetric = np.sqrt(K * (1 / m_o + 2 / m_c))
    # 3N - 5 = 4 modes: two bends with zero stiffness at the rest length, then the stretches.
    assert len(vib.frequencies_cm1) == 4
    np.testing.assert_allclose(vib.frequencies_cm1[:2], 0.0, atol=1e-4)
    np.testing.assert_allclose(vib.frequencies_cm1[2:], np.array([symmetric, asymmetric]) * CM1_PER_UNIT, rtol=1e-10)
    assert vib.num_imaginary == 0


def test_equilateral_triangle_matches_an_independent_spring_hessian():
    side = 1.2
    triangle = Atoms("CCC", positions=[[0, 0, 0], [side, 0, 0], [side / 2, side * np.sqrt(3) / 2, 0]])
    vib = vibrate(triangle, springs())
    # Equal masses, equal springs: E' (doubly degenerate) at sqrt(3k/2m), A1' at sqrt(3k/m).
    m = triangle.get_masses()[0]
    expected = np.sqrt(np.array([1.5, 1.5, 3.0]) * K / m) * CM1_PER_UNIT
    np.testing.assert_allclose(vib.frequencies_cm1, expected, rtol=1e-10)
    assert vib.modes.shape == (3, 3, 3)
    np.testing.assert_allclose(np.linalg.norm(vib.modes.reshape(3, -1), axis=1), 1.0)


def test_periodic_projection_removes_only_translations():
    chain = Atoms("C2", positions=[[0, 0, 0], [1.2, 0, 0]], cell=[2.4, 10, 10], pbc=True)
    hessian = springs().get_property("hessian", chain)
    vib = harmonic_analysis(chain, hessian)
    assert vib.projection == "translations" and len(vib.frequencies_cm1) == 3
    none = harmonic_analysis(chain, hessian, projection="none")
    assert len(none.frequencies_cm1) == 6


def test_imaginary_modes_are_reported_negative():
    surface = IrrepsCalculator(build_model("double_well_surface", {"elements": [1]}), dtype="float64")
    vib = vibrate(Atoms("H", positions=[[0, 0, 0]]), surface, projection="none")
    mass = 1.008
    hessian = np.array([[-4.0, 1.0, 0.0], [1.0, 4.0, 0.0], [0.0, 0.0, 4.0]])  # the config's defaults
    expected = np.linalg.eigvalsh(hessian / mass)
    np.testing.assert_allclose(vib.eigenvalues, expected, rtol=1e-10)
    assert vib.num_imaginary == 1 and vib.frequencies_cm1[0] < 0
    assert "1 (" in vib.report() and "i" in vib.report().splitlines()[1]


def test_modes_file_and_bad_hessians(tmp_path):
    dimer = Atoms("CO", positions=[[0, 0, 0], [1.2, 0, 0]])
    vib = vibrate(dimer, springs())
    write_modes(tmp_path / "modes.extxyz", dimer, vib, frames_per_mode=4)
    frames = ase.io.read(tmp_path / "modes.extxyz", ":")
    assert len(frames) == 4 and frames[0].info["mode_index"] == 0
    np.testing.assert_allclose(frames[1].arrays["mode"], vib.modes[0], atol=1e-7)
    np.testing.assert_allclose(frames[1].positions - dimer.positions, 0.3 * vib.modes[0], atol=1e-7)
    with pytest.raises(FileExistsError):
        write_modes(tmp_path / "modes.extxyz", dimer, vib)
    with pytest.raises(ValueError, match="shape"):
        harmonic_analysis(dimer, np.zeros((5, 5)))
    with pytest.raises(ValueError, match="non-finite"):
        harmonic_analysis(dimer, np.full((6, 6), np.nan))
    with pytest.raises(ValueError, match="projection"):
        harmonic_analysis(dimer, np.eye(6), projection="rotations")
