"""Structures, a model and tolerances shared by the tests of the engine couplings (LAMMPS, i-PI).

The issue's cases: three acetylacetone geometries (open boundaries) from the bundled test subset
and one periodic water box; the engine's energy and forces must equal our ASE calculator's to a
relative 1e-10 in float64 and 1e-5 in float32.
"""

import ase.io
import numpy as np
import torch
from ase import Atoms
from ase.build import molecule
from scipy.spatial.transform import Rotation

from irreps.data.bundled import bundled_path
from irreps.models import build_model

ELEMENTS = ["H", "C", "O"]
RTOL = {"float64": 1e-10, "float32": 1e-5}


def engine_model() -> torch.nn.Module:
    """A small TensorNet for H, C, O with fixed random weights (untrained: equality needs no training)."""
    torch.manual_seed(0)
    return build_model("tensornet", {"elements": [1, 6, 8], "hidden_dim": 8, "num_layers": 2, "num_rbf": 8, "cutoff": 4.0})


def acac_geometries() -> list[Atoms]:
    """Three acac frames as open-boundary molecules."""
    frames = ase.io.read(bundled_path("acac_test"), index=":3")
    for atoms in frames:
        atoms.pbc = False
        atoms.cell = np.zeros((3, 3))
    return frames


def water_box(per_side: int = 2, spacing: float = 3.1, seed: int = 0) -> Atoms:
    """``per_side**3`` randomly oriented waters on a grid in a periodic, slightly skewed cell.

    The cell is not lower-triangular, so LAMMPS must rotate it; some atoms lie outside it.
    """
    rng = np.random.default_rng(seed)
    water = molecule("H2O")
    atoms = Atoms(cell=np.eye(3) * per_side * spacing, pbc=True)
    for index in np.ndindex(per_side, per_side, per_side):
        copy = water.copy()
        copy.positions = copy.positions @ Rotation.random(random_state=rng.integers(1 << 31)).as_matrix().T
        copy.positions += (np.array(index) + 0.5) * spacing
        atoms += copy
    atoms.set_cell(atoms.cell.array @ np.array([[1.0, 0.05, 0.02], [0.03, 1.0, 0.04], [0.0, 0.02, 1.0]]), scale_atoms=True)
    atoms.positions += 0.3
    return atoms


def assert_close(actual: np.ndarray, expected: np.ndarray, rtol: float) -> None:
    """Equal to ``rtol`` relative to the largest component of ``expected`` (which must not vanish)."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    scale = np.abs(expected).max()
    assert scale > 0
    np.testing.assert_allclose(actual, expected, rtol=0, atol=rtol * scale)
