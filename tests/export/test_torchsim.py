"""TorchSim: the metatomic artefact through metatomic-torchsim equals our ASE calculator.

torch-sim-atomistic >= 0.4 needs Python >= 3.12, so this runs in an environment of its own
(docs/export.md); elsewhere it skips.
"""

import pytest

torch_sim = pytest.importorskip("torch_sim", reason="TorchSim is absent: pip install 'irreps[torchsim]' (Python >= 3.12)")
metatomic_torchsim = pytest.importorskip("metatomic_torchsim", reason="metatomic-torchsim is absent: pip install 'irreps[torchsim]'")

import torch  # noqa: E402

from export_helpers import DTYPES, STRUCTURE_IDS, assert_same, reference, small_tensornet, structures  # noqa: E402
from irreps.export.metatomic import export_metatomic  # noqa: E402


@pytest.fixture(scope="module", params=["float32", "float64"])
def artefact(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("ts") / f"tensornet_{request.param}.pt"
    export_metatomic(small_tensornet(), path, request.param)
    return request.param, path


@pytest.mark.parametrize("index", range(4), ids=STRUCTURE_IDS)
def test_torchsim_equals_ase_calculator(artefact, index):
    dtype, path = artefact
    atoms = structures()[index]
    periodic = bool(atoms.pbc.all())
    if not periodic:
        atoms.cell[:] = 0.0  # metatomic-torchsim refuses a cell along non-periodic directions
    model = metatomic_torchsim.MetatomicModel(str(path), device="cpu", compute_stress=periodic)
    state = torch_sim.io.atoms_to_state(atoms, device=torch.device("cpu"), dtype=DTYPES[dtype])
    out = model(state)
    got = {"energy": out["energy"].detach().double().sum().item(), "forces": out["forces"].detach().numpy()}
    keys = ["energy", "forces"]
    if periodic:
        got["stress"] = out["stress"].detach()[0].numpy()
        keys.append("stress")
    assert_same(got, reference(small_tensornet(), atoms, dtype), dtype, keys=keys)


def test_a_batch_of_structures_equals_each_alone(artefact):
    # TorchSim batches structures of one periodicity: the three acac geometries in one state.
    dtype, path = artefact
    model = metatomic_torchsim.MetatomicModel(str(path), device="cpu", compute_stress=False)
    batch = structures()[:3]
    for atoms in batch:
        atoms.cell[:] = 0.0
    state = torch_sim.io.atoms_to_state(batch, device=torch.device("cpu"), dtype=DTYPES[dtype])
    out = model(state)
    forces = out["forces"].detach().numpy().reshape(3, -1, 3)
    for k, atoms in enumerate(batch):
        got = {"energy": out["energy"][k].item(), "forces": forces[k]}
        assert_same(got, reference(small_tensornet(), atoms, dtype), dtype)
