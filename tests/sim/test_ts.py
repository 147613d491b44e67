"""P-RFO saddle search on surfaces whose saddle points are known in closed form."""

import numpy as np
import pytest
from ase import Atoms
from scipy.linalg import null_space

from irreps.calculators import IrrepsCalculator
from irreps.models import build_model
from irreps.sim.guards import Guards
from irreps.sim.relax import RelaxConfig, relax
from irreps.sim.ts import TSConfig, find_saddle
from irreps.sim.vib import rigid_basis


def surface(**config):
    return IrrepsCalculator(build_model("double_well_surface", {"elements": [1], **config}), dtype="float64")


@pytest.mark.parametrize("guess", [[0.6, -0.4, 0.3], [0.95, -0.2, 0.1], [-0.5, 0.6, -0.4]])
def test_finds_the_saddle_of_the_double_well_from_several_guesses(guess):
    result = find_saddle(Atoms("H", positions=[guess]), surface(), TSConfig(fmax=1e-6, projection="none"))
    assert result.converged and result.is_first_order_saddle
    np.testing.assert_allclose(result.atoms.positions, 0.0, atol=1e-6)
    assert result.energy == pytest.approx(1.0, abs=1e-10)
    # The imaginary mode is the lowest eigenvector of the known Hessian at the origin.
    hessian = np.array([[-4.0, 1.0, 0.0], [1.0, 4.0, 0.0], [0.0, 0.0, 4.0]])
    expected = np.linalg.eigh(hessian)[1][:, 0]
    assert abs(result.vib.modes[0, 0] @ expected) == pytest.approx(1.0, abs=1e-8)


def test_of_two_independent_atoms_one_climbs_and_one_relaxes():
    guess = Atoms("H2", positions=[[0.3, 0.1, 0], [0.2, -0.1, 0.1]])
    # The surface is an external field: its atoms do not interact, so 0.25 Å apart is no fault.
    result = find_saddle(guess, surface(), TSConfig(fmax=1e-6, projection="none", steps=60), guards=Guards(min_distance=None))
    assert result.converged and result.is_first_order_saddle
    x_min = np.sqrt(1.0 + 1.0 / 16.0)  # the config defaults' minima: x = ±sqrt(w^2 + c^2 w^4 / (4 h k_y))
    minimum = np.array([x_min, -x_min / 4.0, 0.0])
    at_saddle = np.linalg.norm(result.atoms.positions, axis=1) < 1e-5
    at_minimum = np.abs(np.abs(result.atoms.positions) - np.abs(minimum)).max(axis=1) < 1e-5
    assert at_saddle.sum() == 1 and at_minimum.sum() == 1


def test_morse_rhombus_is_the_saddle_between_two_tetrahedra():
    calculator = IrrepsCalculator(build_model("morse_pair", {"elements": [29]}), dtype="float64")
    height = 2.6 * np.sqrt(3) / 2
    guess = Atoms("Cu4", positions=[[0, 0, 0], [2.6, 0, 0], [1.3, height, 0.2], [1.3, -height, 0.1]])
    guess.rattle(0.05, seed=1)
    result = find_saddle(guess, calculator, TSConfig(fmax=1e-5))
    assert result.converged and result.is_first_order_saddle
    assert len(result.vib.frequencies_cm1) == 6  # 3N - 6 with rigid motions projected out
    # Planar: the smallest singular value of the centred positions vanishes.
    centred = result.atoms.positions - result.atoms.positions.mean(axis=0)
    assert np.linalg.svd(centred, compute_uv=False)[-1] < 1e-5
    # Independent of the model Hessian: finite differences of the forces, rigid motions removed,
    # have exactly one negative curvature.
    hessian = np.zeros((12, 12))
    for k in range(12):
        for sign in (1.0, -1.0):
            shifted = result.atoms.copy()
            shifted.positions.reshape(-1)[k] += sign * 1e-5
            hessian[:, k] -= sign * calculator.get_forces(shifted).reshape(-1) / 2e-5
    internal = null_space(rigid_basis(result.atoms.positions, np.ones(4), "rigid", np.zeros(3, bool)).T)
    curvatures = np.linalg.eigvalsh(internal.T @ (0.5 * (hessian + hessian.T)) @ internal)
    assert (curvatures < -1e-3).sum() == 1 and (np.abs(curvatures) < 1e-3).sum() == 0
    # Downhill along ± the imaginary mode lies the tetrahedron, six Morse pairs at r0: -6 D.
    for sign in (1.0, -1.0):
        start = result.atoms.copy()
        start.positions += sign * 0.1 * result.vib.modes[0]
        assert relax(start, calculator, RelaxConfig(fmax=1e-4)).energy == pytest.approx(-2.4, abs=1e-8)
    assert result.energy > -2.4


def test_a_minimum_as_guess_stops_at_once_with_the_reason():
    x_min = np.sqrt(1.0 + 1.0 / 16.0)
    result = find_saddle(Atoms("H", positions=[[x_min, -x_min / 4.0, 0.0]]), surface(), TSConfig(fmax=1e-6, projection="none"))
    assert not result.converged and result.steps == 0
    assert "minimum" in result.reason and result.vib.num_imaginary == 0


def test_bad_settings_raise():
    with pytest.raises(ValueError):
        TSConfig(trust_radius=0.0)
    with pytest.raises(ValueError, match="follow_mode"):
        find_saddle(Atoms("H", positions=[[0.1, 0, 0]]), surface(), TSConfig(follow_mode=3, projection="none"))
