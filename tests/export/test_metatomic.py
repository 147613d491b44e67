"""metatomic export: energies, forces and stress through metatomic's own ASE calculator equal ours."""

import pytest

pytest.importorskip("metatomic.torch", reason="the metatomic extra is absent: pip install 'irreps[metatomic]'")
metatomic_ase = pytest.importorskip("metatomic_ase", reason="the metatomic extra is absent: pip install 'irreps[metatomic]'")

import torch  # noqa: E402

from export_helpers import STRUCTURE_IDS, assert_same, reference, small_tensornet, structures  # noqa: E402
from irreps.export.metatomic import export_metatomic  # noqa: E402


@pytest.fixture(scope="module", params=["float32", "float64"])
def artefact(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("mta") / f"tensornet_{request.param}.pt"
    export_metatomic(small_tensornet(), path, request.param)
    return request.param, path


@pytest.mark.parametrize("index", range(4), ids=STRUCTURE_IDS)
def test_metatomic_ase_calculator_equals_ours(artefact, index):
    dtype, path = artefact
    atoms = structures()[index]
    atoms.calc = metatomic_ase.MetatomicCalculator(str(path), device="cpu")
    got = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(),
           "energies": atoms.get_potential_energies()}
    keys = ["energy", "forces", "energies"]
    if atoms.pbc.all():
        got["stress"] = atoms.get_stress(voigt=False)
        keys.append("stress")
    assert_same(got, reference(small_tensornet(), atoms, dtype), dtype, keys=keys)


def test_declared_capabilities(artefact):
    from metatomic.torch import load_atomistic_model

    dtype, path = artefact
    model = load_atomistic_model(str(path))
    capabilities = model.capabilities()
    assert capabilities.atomic_types == [1, 6, 8]
    assert capabilities.length_unit == "angstrom" and capabilities.dtype == dtype
    assert capabilities.interaction_range == 15.0  # three hops of 5 Å
    assert capabilities.outputs["energy"].unit == "eV"
    (options,) = model.requested_neighbor_lists()
    assert options.cutoff == 5.0 and options.full_list


def test_selected_atoms_sum_only_those(artefact):
    from metatensor.torch import Labels
    from metatomic.torch import ModelOutput

    dtype, path = artefact
    atoms = structures()[3]
    calc = metatomic_ase.MetatomicCalculator(str(path), device="cpu")
    per_atom = calc.run_model(atoms, {"energy": ModelOutput(unit="eV", sample_kind="atom")})["energy"]
    values = per_atom.block().values.detach().reshape(-1)
    chosen = Labels(["system", "atom"], torch.tensor([[0, 1], [0, 4], [0, 7]], dtype=torch.int32))
    total = calc.run_model(atoms, {"energy": ModelOutput(unit="eV", sample_kind="system")}, selected_atoms=chosen)
    assert float(total["energy"].block().values.sum()) == pytest.approx(float(values[[1, 4, 7]].sum()), rel=1e-6)
