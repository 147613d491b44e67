"""Climbing-image NEB on the double-well surface, whose saddle and minima are known exactly."""

import numpy as np
import pytest
from ase import Atoms

from irreps.calculators import IrrepsCalculator
from irreps.models import build_model
from irreps.sim.neb import NEBConfig, run_neb

# Defaults of double_well_surface: h = 1, w = 1, k_y = 4, c = 1.
X_MIN = np.sqrt(1.0 + 1.0 / 16.0)
MINIMUM = np.array([X_MIN, -X_MIN / 4.0, 0.0])
E_MIN = ((X_MIN**2 - 1.0) ** 2) + 0.5 * 4.0 * (X_MIN / 4.0) ** 2 - X_MIN**2 / 4.0


@pytest.fixture
def model():
    return build_model("double_well_surface", {"elements": [1]})


@pytest.mark.parametrize("interpolation", ["linear", "idpp"])
def test_climbing_image_lands_on_the_saddle(model, interpolation):
    start, end = Atoms("H", positions=[-MINIMUM]), Atoms("H", positions=[MINIMUM])
    # An even number of images: no image starts at the saddle, the climbing one must get there.
    config = NEBConfig(images=4, fmax=1e-4, interpolation=interpolation)
    result = run_neb(start, end, lambda: IrrepsCalculator(model, dtype="float64"), config)
    assert result.converged
    np.testing.assert_allclose(result.images[result.highest].positions[0], 0.0, atol=1e-4)
    assert result.barrier_forward == pytest.approx(1.0 - E_MIN, abs=1e-7)
    assert result.barrier_reverse == pytest.approx(1.0 - E_MIN, abs=1e-7)
    assert len(result.images) == 6 and np.all(np.diff(result.path) > 0)


def test_without_climbing_the_highest_image_stays_below_the_saddle(model):
    start, end = Atoms("H", positions=[-MINIMUM]), Atoms("H", positions=[MINIMUM])
    config = NEBConfig(images=4, fmax=1e-3, climb=False, interpolation="linear")
    result = run_neb(start, end, lambda: IrrepsCalculator(model, dtype="float64"), config)
    assert result.energies.max() < 1.0 - 1e-3


def test_mismatched_end_points_raise(model):
    with pytest.raises(ValueError, match="same atoms"):
        run_neb(Atoms("H"), Atoms("H2", positions=[[0, 0, 0], [1, 0, 0]]), lambda: None)
    with pytest.raises(ValueError, match="same cell"):
        run_neb(Atoms("H", cell=[5, 5, 5], pbc=True), Atoms("H", cell=[6, 6, 6], pbc=True), lambda: None)
    with pytest.raises(ValueError):
        NEBConfig(images=0)
