"""gaunt_ace's first layer convolves scalars by the closed form: the model equals its grid-path twin."""

import ase
import numpy as np
import torch

from irreps.data import atoms_to_graph
from irreps.models import build_model
from irreps.ops.tensor_product import GauntConvolution, ScalarGauntConvolution
from small_models import SMALL_CONFIGS


def test_energy_and_forces_equal_the_grid_path():
    torch.manual_seed(0)
    model = build_model("gaunt_ace", SMALL_CONFIGS["gaunt_ace"]).double()
    first = model.layers[0].conv
    assert isinstance(first, ScalarGauntConvolution)
    assert isinstance(model.layers[1].conv, GauntConvolution)  # higher-degree inputs keep the grid
    rng = np.random.default_rng(0)
    atoms = ase.Atoms(numbers=rng.choice([1, 6, 8], size=10), positions=rng.uniform(0, 3, size=(10, 3)))
    graph = atoms_to_graph(atoms, 3.0, keys=None, dtype=torch.float64)
    fast = model(graph)
    model.layers[0].conv = GauntConvolution(first.irreps_in, first.lmax_out, first.lmax_filter).double()
    grid = model(graph)
    for key in ("energy", "forces"):
        torch.testing.assert_close(fast[key], grid[key], atol=1e-10, rtol=0)
    assert fast["forces"].abs().max() > 1e-4
