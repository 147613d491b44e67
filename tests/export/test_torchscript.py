"""TorchScript export: the artefact runs without irreps and equals our ASE calculator."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from export_helpers import (STRUCTURE_IDS, acac_geometries, artefact_inputs, assert_same, reference,
                            small_tensornet, structures, water_box)
from irreps.export.core import probe_inputs, trace_node_energy
from irreps.export.torchscript import export_torchscript
from irreps.models import build_model


@pytest.fixture(scope="module", params=["float32", "float64"])
def artefact(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("ts") / f"tensornet_{request.param}.pt"
    export_torchscript(small_tensornet(), path, request.param)
    return request.param, path


@pytest.mark.parametrize("index", range(4), ids=STRUCTURE_IDS)
def test_equals_ase_calculator_with_a_skin(artefact, index):
    # The list is 1.5 Å longer than the cutoff: the extra pairs must contribute exactly nothing.
    dtype, path = artefact
    module = torch.jit.load(str(path))
    atoms = structures()[index]
    out = module(*artefact_inputs(atoms, 5.0 + 1.5, dtype), compute_virial=True, per_atom=True)
    want = reference(small_tensornet(), atoms, dtype)
    got = {key: value.detach().numpy() for key, value in out.items()}
    assert_same(got, want, dtype, keys=("energy", "forces", "energies"))
    assert got["energies"].sum() == pytest.approx(float(got["energy"]), rel=1e-12)
    if atoms.pbc.all():
        # ASE's stress is -virial / volume.
        got["stress"] = -got["virial"] / atoms.get_volume()
        assert_same(got, want, dtype, keys=("stress",))


def test_skin_pairs_contribute_exactly_zero(artefact):
    dtype, path = artefact
    module = torch.jit.load(str(path))
    atoms = water_box()
    tight = module(*artefact_inputs(atoms, 5.0, dtype))
    loose = module(*artefact_inputs(atoms, 7.0, dtype))
    assert loose["energy"].item() == pytest.approx(tight["energy"].item(), rel=1e-14 if dtype == "float64" else 1e-7)
    torch.testing.assert_close(loose["forces"], tight["forces"], rtol=0, atol=1e-12 if dtype == "float64" else 2e-5)


def test_runs_in_a_process_without_irreps(artefact):
    dtype, path = artefact
    atoms = acac_geometries()[0]
    inputs = [t.tolist() for t in artefact_inputs(atoms, 5.0, dtype)]
    script = f"""
import json, sys, torch
sys.modules["irreps"] = None  # importing irreps would fail
extra = {{"metadata.json": ""}}
model = torch.jit.load({str(path)!r}, _extra_files=extra)
dt = getattr(torch, {dtype!r})
pos, z, cell, pbc, ei, cs = {inputs!r}
out = model(torch.tensor(pos, dtype=dt), torch.tensor(z), torch.tensor(cell, dtype=dt), torch.tensor(pbc),
            torch.tensor(ei), torch.tensor(cs))
print(json.dumps({{"energy": out["energy"].item(), "meta": json.loads(extra["metadata.json"])}}))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    assert printed["energy"] == pytest.approx(reference(small_tensornet(), atoms, dtype)["energy"], rel=1e-5)
    meta = printed["meta"]
    assert meta["elements"] == [1, 6, 8] and meta["cutoff"] == 5.0 and meta["dtype"] == dtype
    # two interaction layers after an embedding that sums over neighbours: three hops
    assert meta["interaction_range"] == 15.0 and meta["length_unit"] == "angstrom" and meta["energy_unit"] == "eV"


def test_bad_input_is_named(artefact):
    dtype, path = artefact
    module = torch.jit.load(str(path))
    pos, numbers, cell, pbc, edge_index, shifts = artefact_inputs(water_box(), 5.0, dtype)
    with pytest.raises(Exception, match=r"atomic numbers \[29\] are not among"):
        module(pos, torch.where(numbers == 8, 29, numbers), cell, pbc, edge_index, shifts)
    with pytest.raises(Exception, match="non-periodic direction"):
        module(pos, numbers, cell, torch.tensor([True, True, False]), edge_index, shifts)


def test_recording_generalises_to_other_sizes():
    # Recorded on 8 atoms (open boundaries), the core must agree on 27 atoms in a periodic cell.
    model = small_tensornet().double()
    traced = trace_node_energy(model, torch.float64)
    from irreps.export.core import NodeEnergy

    inputs = probe_inputs(model, 27, periodic=True, dtype=torch.float64, seed=5)
    torch.testing.assert_close(traced(*inputs), NodeEnergy(model)(*inputs), rtol=1e-12, atol=1e-10)


def test_a_model_of_absolute_positions_is_refused(tmp_path):
    model = build_model("double_well_surface", {"elements": [1, 6, 8]})
    with pytest.raises(ValueError, match="depends on more than the edge vectors"):
        export_torchscript(model, tmp_path / "x.pt", "float64")
    assert not (tmp_path / "x.pt").exists()


def test_forces_of_the_artefact_are_minus_the_energy_gradient(artefact):
    dtype, path = artefact
    if dtype != "float64":
        pytest.skip("finite differences need float64")
    module = torch.jit.load(str(path))
    atoms = acac_geometries()[1]
    inputs = list(artefact_inputs(atoms, 5.0, dtype))
    forces = module(*inputs)["forces"].numpy()
    eps = 1e-5
    for atom, axis in [(0, 0), (4, 2), (11, 1)]:
        energies = []
        for sign in (1, -1):
            moved = inputs[0].clone()
            moved[atom, axis] += sign * eps
            energies.append(module(moved, *inputs[1:])["energy"].item())
        assert -(energies[0] - energies[1]) / (2 * eps) == pytest.approx(forces[atom, axis], abs=1e-6)
    assert np.abs(forces).max() > 1e-2


def test_atoms_without_neighbours_get_their_e0(artefact):
    # An empty neighbour list (E = 0) runs, and a lone atom has exactly its E0 (shift weighted by neighbours).
    dtype, path = artefact
    module = torch.jit.load(str(path))
    positions = torch.tensor([[0.0, 0.0, 0.0], [20.0, 0.0, 0.0]], dtype=getattr(torch, dtype))
    out = module(positions, torch.tensor([6, 8]), torch.zeros(3, 3, dtype=positions.dtype),
                 torch.zeros(3, dtype=torch.bool), torch.zeros(2, 0, dtype=torch.long),
                 torch.zeros(0, 3, dtype=torch.long), per_atom=True)
    assert out["energies"].tolist() == pytest.approx([-1029.8, -2041.8], abs=1e-6)
    assert out["forces"].abs().max().item() == 0.0
