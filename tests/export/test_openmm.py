"""OpenMM: a System built from an XYZ file with the exported TorchScript model as its force equals our calculator.

Needs ``openmm`` and a TorchForce plugin that loads with the installed torch (docs/export.md: on a
CPU torch, ``acellera-openmmtorch-cpu`` with torch 2.10-2.12), so it runs in that environment.
"""

import numpy as np
import pytest
import torch

pytest.importorskip("openmm", reason="openmm is absent: pip install 'irreps[openmm]' (see docs/export.md)")
try:
    import openmmtorch  # noqa: F401
except ImportError as err:  # also a plugin built for another torch (missing libtorch symbols)
    pytest.skip(f"openmmtorch does not load here ({err}); see docs/export.md", allow_module_level=True)

import ase.io  # noqa: E402
import openmm  # noqa: E402

from export_helpers import STRUCTURE_IDS, assert_same, reference, small_tensornet, structures  # noqa: E402
from irreps.export.openmm import EV_IN_KJ_PER_MOL, NM_IN_ANGSTROM, all_pairs, openmm_system  # noqa: E402
from irreps.export.torchscript import export_torchscript  # noqa: E402


@pytest.fixture(scope="module", params=["float32", "float64"])
def artefact(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("omm") / f"tensornet_{request.param}.pt"
    export_torchscript(small_tensornet(), path, request.param)
    return request.param, path


@pytest.mark.parametrize("index", range(4), ids=STRUCTURE_IDS)
def test_openmm_equals_ase_calculator(artefact, index, tmp_path):
    dtype, path = artefact
    atoms = structures()[index]
    atoms.positions += 1.7 * atoms.cell.array.sum(0)  # OpenMM's positions need not lie in the box
    xyz = tmp_path / "structure.xyz"
    ase.io.write(xyz, atoms, format="extxyz")
    atoms = ase.io.read(xyz)  # the file holds positions to 1e-8 Å: compare on what OpenMM got
    system, positions = openmm_system(xyz, path)
    integrator = openmm.VerletIntegrator(0.0005)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(positions)
    state = context.getState(getEnergy=True, getForces=True)
    energy = state.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole) / EV_IN_KJ_PER_MOL
    forces = np.asarray(state.getForces(asNumpy=True).value_in_unit(openmm.unit.kilojoule_per_mole / openmm.unit.nanometer))
    got = {"energy": energy, "forces": forces / (EV_IN_KJ_PER_MOL * NM_IN_ANGSTROM)}
    assert_same(got, reference(small_tensornet(), atoms, dtype), dtype)


def test_all_pairs_is_the_full_list_of_vesin():
    from irreps.data.neighbors import neighbor_list

    atoms = structures()[3]
    atoms.set_cell(atoms.cell.array + np.array([[0.0, 0.0, 0.0], [0.8, 0.0, 0.0], [0.3, -0.5, 0.0]]), scale_atoms=True)
    atoms.wrap()
    edge_index, shifts = all_pairs(torch.tensor(atoms.positions), torch.tensor(atoms.cell.array), True, 5.0)
    want_index, _, want_shifts = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, 5.0)
    got = sorted(map(tuple, np.concatenate([edge_index.T.numpy(), shifts.numpy()], 1).tolist()))
    want = sorted(map(tuple, np.concatenate([want_index.T, want_shifts], 1).tolist()))
    assert got == want and len(got) > 1000
