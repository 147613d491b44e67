"""AOTInductor export: the compiled package equals our ASE calculator (slow: Inductor compiles C++)."""

import numpy as np
import pytest
import torch

from export_helpers import STRUCTURE_IDS, artefact_inputs, assert_same, reference, small_tensornet, structures
from irreps.export.aotinductor import export_aotinductor

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    path = export_aotinductor(small_tensornet(), tmp_path_factory.mktemp("aoti") / "tensornet.pt2", "float64")
    return torch._inductor.aoti_load_package(str(path))


@pytest.mark.parametrize("index", range(4), ids=STRUCTURE_IDS)
def test_package_equals_ase_calculator_with_a_skin(runner, index):
    atoms = structures()[index]
    positions, numbers, cell, _, edge_index, shifts = artefact_inputs(atoms, 6.5, "float64")
    energy, forces, virial, energies = runner(positions, numbers, cell, edge_index, shifts)
    got = {"energy": energy.item(), "forces": forces.numpy(), "energies": energies.numpy()}
    want = reference(small_tensornet(), atoms, "float64")
    assert_same(got, want, "float64", keys=("energy", "forces", "energies"))
    if atoms.pbc.all():
        assert_same({"stress": -virial.numpy() / atoms.get_volume()}, want, "float64", keys=("stress",))


def test_declared_metadata_and_unknown_elements(runner):
    meta = runner.get_metadata()
    assert meta["elements"] == "[1, 6, 8]" and meta["interaction_range"] == "15.0" and meta["dtype"] == "float64"
    positions, numbers, cell, _, edge_index, shifts = artefact_inputs(structures()[3], 5.0, "float64")
    energy, forces, _, _ = runner(positions, torch.where(numbers == 8, 29, numbers), cell, edge_index, shifts)
    assert np.isnan(energy.item()) and torch.isnan(forces).all()
