"""Every registered model exports, and its artefact equals the eager model (float64, 1e-10).

Each case of ``tests/small_models.py`` (every learned architecture and its variants, tiny and
with random weights) and each closed-form potential is exported and run on two structures of
other sizes than the exporter recorded: an acetylacetone molecule (15 atoms, open boundaries)
and a periodic box of eight water molecules (24 atoms), with a neighbour list 1 Å longer than
the cutoff. Energy, forces, per-atom energies and stress must equal our ASE calculator's to
1e-10 relative (OpenMM: energy and forces, from the TorchScript file as a TorchForce; it runs
where openmmtorch loads, ``~/.cache/irreps/venvs/openmm``, and skips elsewhere). A registered model with neither a case here nor a stated reason to be refused
fails ``test_every_registered_model_is_covered``: a new model that cannot be exported fails CI.

The default run exports one case per architecture to TorchScript and runs it in TorchScript's
plain interpreter (the profiling executor's first runs take seconds per model; its optimised
graphs are what metatomic-ase runs). Variants, metatomic (where its extra is installed) and
AOTInductor (Inductor compiles C++ for minutes per model) run with ``-m slow``.
"""

import importlib.util

import numpy as np
import pytest
import torch

from export_helpers import acac_geometries, artefact_inputs, assert_same, reference, water_box
from irreps.export import export_model
from irreps.models import available_models, build_model
from small_models import SMALL_CONFIGS, small_model

# closed-form potentials: no small_models case (the physics suite exempts them), exported as built here
ANALYTIC = {"morse_pair": {"elements": [1, 6, 8], "cutoff": 3.0}, "harmonic_pair": {"elements": [1, 6, 8], "cutoff": 3.0}}
# registered models no format can hold, with the reason the exporter must give
REFUSED = {"double_well_surface": "depends on more than the edge vectors"}
STRUCTURES = {"acac": lambda: acac_geometries()[0], "water_box": water_box}
HAS_METATOMIC = all(importlib.util.find_spec(m) for m in ("metatomic", "metatomic_ase"))


def _openmm_missing() -> str | None:
    """Why OpenMM with a TorchForce plugin cannot run here, or None (see docs/export.md)."""
    try:
        import openmm  # noqa: F401
        import openmmtorch  # noqa: F401
    except ImportError as err:  # also a plugin built for another torch (missing libtorch symbols)
        return f"openmm with openmmtorch does not load here ({err}); see docs/export.md"
    return None


SKIPS = {"metatomic": None if HAS_METATOMIC else "the metatomic extra is absent: pip install 'irreps[metatomic]'",
         "openmm": _openmm_missing()}


def _family(case: str) -> str:
    return case.split("[")[0]


def _cases() -> list[str]:
    return sorted(SMALL_CONFIGS) + sorted(ANALYTIC)


def _model(case: str) -> torch.nn.Module:
    if case in ANALYTIC:
        torch.manual_seed(0)
        return build_model(case, ANALYTIC[case]).double().eval()
    return small_model(case)


def _params(fmt: str) -> list:
    params = []
    for case in _cases():
        marks = [] if fmt in ("torchscript", "openmm") and case == _family(case) else [pytest.mark.slow]
        if SKIPS.get(fmt):
            marks.append(pytest.mark.skip(reason=SKIPS[fmt]))
        params.append(pytest.param(case, fmt, marks=marks, id=f"{case}-{fmt}"))
    return params


def _load(fmt: str, path):
    if fmt == "metatomic":
        from metatomic_ase import MetatomicCalculator

        return MetatomicCalculator(str(path), device="cpu")
    if fmt == "openmm":
        return path
    return torch.jit.load(str(path)) if fmt == "torchscript" else torch._inductor.aoti_load_package(str(path))


def _openmm(path, atoms) -> dict:
    """Energy and forces of OpenMM's Reference platform with the TorchScript file as its force."""
    import openmm

    from irreps.export.openmm import EV_IN_KJ_PER_MOL, NM_IN_ANGSTROM, openmm_system

    system, positions = openmm_system(atoms, path)
    context = openmm.Context(system, openmm.VerletIntegrator(0.0005), openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(positions)
    state = context.getState(getEnergy=True, getForces=True)
    kj_mol = openmm.unit.kilojoule_per_mole
    forces = state.getForces(asNumpy=True).value_in_unit(kj_mol / openmm.unit.nanometer)
    return {"energy": state.getPotentialEnergy().value_in_unit(kj_mol) / EV_IN_KJ_PER_MOL,
            "forces": np.asarray(forces) / (EV_IN_KJ_PER_MOL * NM_IN_ANGSTROM)}


def _run(fmt: str, artefact, cutoff: float, atoms) -> dict:
    """Energy, forces, per-atom energies and (periodic) stress from the loaded ``artefact``."""
    if fmt == "openmm":
        return _openmm(artefact, atoms)
    if fmt == "metatomic":
        atoms = atoms.copy()
        atoms.calc = artefact
        out = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(),
               "energies": atoms.get_potential_energies()}
        if atoms.pbc.all():
            out["stress"] = atoms.get_stress(voigt=False)
        return out
    positions, numbers, cell, pbc, edge_index, shifts = artefact_inputs(atoms, cutoff + 1.0, "float64")
    if fmt == "torchscript":
        with torch.jit.optimized_execution(False):
            got = artefact(positions, numbers, cell, pbc, edge_index, shifts, compute_virial=True, per_atom=True)
        energy, forces, virial, energies = got["energy"], got["forces"], got["virial"], got["energies"]
    else:
        energy, forces, virial, energies = artefact(positions, numbers, cell, edge_index, shifts)
    out = {"energy": energy.item(), "forces": forces.numpy(), "energies": energies.numpy()}
    if atoms.pbc.all():
        out["stress"] = -virial.numpy() / atoms.get_volume()  # ASE's stress is -virial / volume
    return out


def test_every_registered_model_is_covered():
    covered = {_family(case) for case in _cases()} | set(REFUSED)
    missing = sorted(set(available_models()) - covered)
    assert not missing, f"add a small config (tests/small_models.py) or a refusal with its reason for {missing}"


@pytest.mark.parametrize(("case", "fmt"), [*_params("torchscript"), *_params("metatomic"), *_params("openmm"),
                                           *_params("aotinductor")])
def test_artefact_equals_the_model(case, fmt, tmp_path):
    model = _model(case)
    written = "torchscript" if fmt == "openmm" else fmt  # OpenMM's TorchForce loads the TorchScript file
    path = export_model(model, tmp_path / f"model.{'pt2' if fmt == 'aotinductor' else 'pt'}", written, "float64")
    artefact = _load(fmt, path)
    for name, make in STRUCTURES.items():
        atoms = make()
        got = _run(fmt, artefact, float(model.cutoff), atoms)
        want = reference(_model(case), atoms, "float64", limits=None)
        keys = ("energy", "forces") if fmt == "openmm" else ("energy", "forces", "energies") + (
            ("stress",) if atoms.pbc.all() else ())
        assert abs(want["forces"]).max() > 1e-3, f"{name}: forces vanish, the comparison would prove nothing"
        assert_same(got, want, "float64", keys=keys)


@pytest.mark.parametrize("fmt", ["torchscript", "aotinductor", pytest.param("metatomic", marks=pytest.mark.slow)])
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_model_no_format_holds_is_refused_with_its_reason(name, fmt, tmp_path):
    if fmt == "metatomic" and not HAS_METATOMIC:
        pytest.skip("the metatomic extra is absent: pip install 'irreps[metatomic]'")
    # AOTInductor checks the uncompiled module first: refused before any compiling
    with pytest.raises(ValueError, match=REFUSED[name]):
        export_model(build_model(name, {"elements": [1, 6, 8]}), tmp_path / "x.pt", fmt, "float64")
    assert not (tmp_path / "x.pt").exists()
