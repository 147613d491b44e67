"""The physics every registered learned model must satisfy (NequIP-style shared suite).

Each registered architecture needs an entry in ``SMALL_CONFIGS`` (``tests/small_models.py``: a tiny
config with heads on; more cases of one architecture are keyed ``name[variant]``) or in ``EXEMPT`` with the reason; ``test_every_registered_model_is_covered`` fails for a
new model that has neither, so no architecture skips the suite by accident.
All checks run in float64 on small molecules and a small periodic box. A head the config
enables (``dipole``, ``polarizability``, ``direct_forces``) must produce its output, and its
physics is checked whenever it is declared.

Compiling is too slow for every case in the default run: it runs one case by default and every
case with ``-m slow``.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import ase
import numpy as np
import pytest
import torch

from irreps.data import AtomicGraph, atoms_to_graph, collate
from irreps.models import available_models, load_model, save_model
from irreps.models.heads import DipoleHead
from irreps.train.config import load_config
from irreps.train.run import train
from lone_atoms import isolated_atom_energies, lone_atom_energy
from small_models import SMALL_CONFIGS
from small_models import small_model as _model

# cases whose model is SO(3)- but not O(3)-equivariant by design (mirror images differ)
CHIRAL = {"equiformer_v2[SO(3), lmax 6]", "escn[SO(3), lmax 6]"}
EXEMPT = {
    "harmonic_pair": "closed-form reference potential, tested analytically with the calculators",
    "morse_pair": "closed-form reference potential, tested analytically with the calculators",
    "double_well_surface": "external field on each atom, deliberately not translation/rotation invariant",
}
MODELS = sorted(SMALL_CONFIGS)
GRAPH_RADIUS = 4.0  # longer than every small cutoff, so moved atoms keep their edge lists

RESPONSE_HEADS = ("dipole", "polarizability", "direct_forces")
FD_STEP, FD_TOLERANCE = 1e-5, 1e-7  # central differences in float64 (eV/Å, eV/Å^3)

every_model = pytest.mark.parametrize("name", MODELS)


def one_model_by_default(default: str):
    """Parametrise over every case, all but ``default`` marked slow (for checks that take many seconds)."""
    return pytest.mark.parametrize(
        "name", [case if case == default else pytest.param(case, marks=pytest.mark.slow) for case in MODELS]
    )


def _molecule(seed: int, n: int = 6) -> ase.Atoms:
    rng = np.random.default_rng(seed)
    positions = [rng.normal(size=3)]
    while len(positions) < n:  # a connected, non-overlapping cluster
        trial = positions[rng.integers(len(positions))] + rng.normal(size=3) * 0.9
        if min(np.linalg.norm(trial - p) for p in positions) > 0.9:
            positions.append(trial)
    return ase.Atoms(numbers=rng.choice([1, 6, 8], size=n), positions=positions)


def _box(seed: int) -> ase.Atoms:
    rng = np.random.default_rng(seed)
    cell = np.diag([4.2, 4.5, 4.8]) + rng.uniform(-0.3, 0.3, (3, 3))
    atoms = ase.Atoms(numbers=rng.choice([1, 6, 8], size=5), cell=cell, pbc=True)
    atoms.set_scaled_positions(rng.uniform(size=(5, 3)))
    return atoms


def _graph(atoms: ase.Atoms) -> AtomicGraph:
    return atoms_to_graph(atoms, GRAPH_RADIUS, keys=None, dtype=torch.float64)


def _transform(graph: AtomicGraph, rotation: torch.Tensor, translation: torch.Tensor) -> AtomicGraph:
    """Apply ``x -> R x + t`` to positions, Cartesian shifts and cell rows."""
    return replace(
        graph,
        positions=graph.positions @ rotation.T + translation,
        shifts=graph.shifts @ rotation.T,
        cell=graph.cell @ rotation.T,
    )


def _declares(name: str, head: str) -> bool:
    """Whether the case's config enables ``head`` (then the model must produce its output)."""
    return bool(SMALL_CONFIGS[name].get(head, False))


def _heads(name: str) -> dict[str, bool]:
    """Keyword arguments asking for the outputs of the optional heads the config declares."""
    return {"direct_forces": True} if _declares(name, "direct_forces") else {}


def _per_structure(values: torch.Tensor, graph: AtomicGraph) -> torch.Tensor:
    """Sum of per-atom ``values`` [N, ...] over each structure of ``graph`` -> [G, ...]."""
    out = values.new_zeros((graph.num_graphs, *values.shape[1:]))
    return out.index_add(0, graph.batch, values)


def _random_orthogonal(generator: torch.Generator, proper: bool) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q = -q
    return q if proper else -q


def test_every_registered_model_is_covered():
    missing = set(available_models()) - {case.split("[")[0] for case in SMALL_CONFIGS} - set(EXEMPT)
    assert not missing, f"add a small config (or an exemption with a reason) for {sorted(missing)}"


@every_model
@pytest.mark.parametrize("proper", [True, False], ids=["rotation", "rotoinversion"])
def test_o3_equivariance(name, proper, generator):
    model = _model(name)
    graph = collate([_graph(_molecule(1)), _graph(_box(2))])
    rotation = _random_orthogonal(generator, proper)
    shift = torch.randn(3, generator=generator, dtype=torch.float64)
    out = model(graph, compute_stress=False, **_heads(name))
    moved = model(_transform(graph, rotation, shift), **_heads(name))
    if name in CHIRAL and not proper:  # mirror images differ far beyond the rounding of a rotation
        noise = (model(_transform(graph, -rotation, shift))["energy"] - out["energy"]).abs().max().item()
        gap = (moved["energy"] - out["energy"]).abs().max().item()
        assert gap > 100 * max(noise, 1e-13), ("declared chiral, yet mirror images agree", gap, noise)
        return
    torch.testing.assert_close(moved["energy"], out["energy"], atol=1e-10, rtol=0)
    torch.testing.assert_close(moved["forces"], out["forces"] @ rotation.T, atol=1e-10, rtol=0)
    if _declares(name, "direct_forces"):
        torch.testing.assert_close(moved["direct_forces"], out["direct_forces"] @ rotation.T, atol=1e-10, rtol=0)
    if _declares(name, "dipole"):
        torch.testing.assert_close(moved["dipole"], out["dipole"] @ rotation.T, atol=1e-10, rtol=0)
        torch.testing.assert_close(moved["charges"], out["charges"], atol=1e-10, rtol=0)
    if _declares(name, "polarizability"):
        expected = rotation @ out["polarizability"] @ rotation.T
        torch.testing.assert_close(moved["polarizability"], expected, atol=1e-10, rtol=0)
    box = _graph(_box(3))
    stress = model(box, compute_stress=True)["stress"]
    moved_stress = model(_transform(box, rotation, shift), compute_stress=True)["stress"]
    torch.testing.assert_close(moved_stress, rotation @ stress @ rotation.T, atol=1e-10, rtol=0)


@every_model
def test_permutation_invariance(name, generator):
    model = _model(name)
    graph = _graph(_molecule(4, n=7))
    perm = torch.randperm(graph.num_atoms, generator=generator)
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(len(perm))
    permuted = replace(
        graph, positions=graph.positions[perm], atomic_numbers=graph.atomic_numbers[perm],
        edge_index=inverse[graph.edge_index],
    )
    out, out_p = model(graph, **_heads(name)), model(permuted, **_heads(name))
    torch.testing.assert_close(out_p["energy"], out["energy"], atol=1e-10, rtol=0)
    torch.testing.assert_close(out_p["forces"], out["forces"][perm], atol=1e-10, rtol=0)
    if _declares(name, "direct_forces"):
        torch.testing.assert_close(out_p["direct_forces"], out["direct_forces"][perm], atol=1e-10, rtol=0)
    torch.testing.assert_close(out_p["node_energy"], out["node_energy"][perm], atol=1e-10, rtol=0)


@every_model
def test_batch_equals_single_structures(name):
    model = _model(name)
    singles = [_graph(_molecule(5)), _graph(_box(6)), _graph(_molecule(7, n=4))]
    batched = model(collate(singles), compute_stress=False)
    start = 0
    for k, graph in enumerate(singles):
        alone = model(graph)
        end = start + graph.num_atoms
        torch.testing.assert_close(batched["energy"][k], alone["energy"][0], atol=1e-10, rtol=0)
        torch.testing.assert_close(batched["forces"][start:end], alone["forces"], atol=1e-10, rtol=0)
        start = end


@every_model
def test_no_gradient_leak_between_structures(name):
    model = _model(name)
    graph = collate([_graph(_molecule(8)), _graph(_molecule(9))])
    positions = graph.positions.clone().requires_grad_(True)
    energy = model(replace(graph, positions=positions), compute_forces=False)["energy"]
    (grad,) = torch.autograd.grad(energy[0], positions)
    first = graph.batch == 0
    assert grad[first].abs().max() > 0
    assert torch.all(grad[~first] == 0)


@every_model
def test_declared_dipole_head_has_neutral_charges_and_sums_them(name):
    """``charges`` sum to each structure's total charge (0: these structures carry none) and, with
    the atomic dipoles switched off, ``dipole = sum_i q_i r_i`` (:class:`DipoleHead`)."""
    model = _model(name)
    graph = collate([_graph(_molecule(16)), _graph(_molecule(17, n=4)), _graph(_box(18))])
    heads = [m for m in model.modules() if isinstance(m, DipoleHead)]
    if not _declares(name, "dipole"):
        assert not heads and "dipole" not in model(graph)
        return
    assert len(heads) == 1, "a model declaring a dipole builds it with irreps.models.heads.DipoleHead"
    charges = model(graph, compute_forces=False)["charges"]
    assert charges.abs().max() > 1e-3  # zero charges would be neutral whatever the code does
    torch.testing.assert_close(_per_structure(charges, graph), torch.zeros(3, dtype=torch.float64), atol=1e-12, rtol=0)
    with torch.no_grad():
        heads[0].vector_mix.weight.zero_()
    out = model(graph, compute_forces=False)
    expected = _per_structure(out["charges"][:, None] * graph.positions, graph)
    torch.testing.assert_close(out["dipole"], expected, atol=1e-12, rtol=0)


@every_model
def test_declared_polarizability_is_symmetric(name):
    """Rotation as ``R a R^T`` is checked in :func:`test_o3_equivariance`."""
    model = _model(name)
    graph = collate([_graph(_molecule(19)), _graph(_box(20))])
    out = model(graph, compute_forces=False)
    if not _declares(name, "polarizability"):
        assert "polarizability" not in out
        return
    alpha = out["polarizability"]
    assert alpha.shape == (2, 3, 3) and alpha.abs().max() > 1e-3
    torch.testing.assert_close(alpha, alpha.transpose(1, 2), atol=1e-12, rtol=0)


def _energies(model: torch.nn.Module, structures: list[ase.Atoms]) -> np.ndarray:
    """Energies of many structures from one batched call (batched == single is checked above)."""
    out = model(collate([_graph(atoms) for atoms in structures]), compute_forces=False)
    return out["energy"].detach().numpy()


def _central_difference(model: torch.nn.Module, moves: list) -> np.ndarray:
    """``(E(+h) - E(-h)) / 2h`` for each move, a function ``sign -> displaced structure``."""
    energies = _energies(model, [move(sign) for move in moves for sign in (1, -1)])
    return (energies[0::2] - energies[1::2]) / (2 * FD_STEP)


def _displace(atoms: ase.Atoms, atom: int, axis: int):
    def move(sign: int) -> ase.Atoms:
        moved = atoms.copy()
        moved.positions[atom, axis] += sign * FD_STEP
        return moved

    return move


def _strain(atoms: ase.Atoms, a: int, b: int):
    """Symmetric strain ``1 + h/2 (e_ab + e_ba)`` of the cell, atoms carried along."""

    def move(sign: int) -> ase.Atoms:
        strain = np.eye(3)
        strain[a, b] += sign * FD_STEP / 2
        strain[b, a] += sign * FD_STEP / 2
        strained = atoms.copy()
        strained.set_cell(atoms.cell @ strain, scale_atoms=True)
        return strained

    return move


@every_model
@pytest.mark.parametrize("structure", ["molecule", "box"])
def test_every_force_component_matches_finite_differences(name, structure):
    model = _model(name, e0s=())  # E0s only shift energies, and their ~1e4 eV round differences to 5e-8 eV/Å
    atoms = _molecule(10) if structure == "molecule" else _box(10)
    forces = model(_graph(atoms))["forces"].detach().numpy()
    pairs = [(atom, axis) for atom in range(len(atoms)) for axis in range(3)]
    expected = -_central_difference(model, [_displace(atoms, atom, axis) for atom, axis in pairs])
    np.testing.assert_allclose(forces.reshape(-1), expected, atol=FD_TOLERANCE, rtol=0)


@every_model
def test_every_stress_component_matches_finite_differences(name):
    """``stress = (1/V) dE/dε`` (ASE's sign) entry by entry; the symmetric strain makes both
    off-diagonal entries of a pair answer to one difference, so this also checks symmetry."""
    model = _model(name, e0s=())
    atoms = _box(10)
    stress = model(_graph(atoms), compute_stress=True)["stress"][0].detach().numpy()
    pairs = [(a, b) for a in range(3) for b in range(3)]
    expected = _central_difference(model, [_strain(atoms, a, b) for a, b in pairs]) / atoms.get_volume()
    np.testing.assert_allclose(stress.reshape(-1), expected, atol=FD_TOLERANCE, rtol=0)


@every_model
def test_hessian_matches_finite_differences_of_forces(name):
    model = _model(name)
    atoms = _molecule(11, n=3)
    hessian = model(_graph(atoms), compute_hessian=True)["hessian"].reshape(9, 9)
    torch.testing.assert_close(hessian, hessian.T, atol=1e-9, rtol=0)
    h = 1e-5
    for atom, axis in [(0, 0), (1, 2)]:
        forces = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[atom, axis] += sign * h
            forces.append(model(_graph(moved))["forces"].detach().reshape(-1))
        column = -(forces[0] - forces[1]) / (2 * h)
        torch.testing.assert_close(hessian[:, 3 * atom + axis], column, atol=1e-6, rtol=0)


@every_model
@pytest.mark.parametrize("others", ["", "H"], ids=["pair", "with another neighbour"])
def test_smooth_at_the_cutoff(name, others):
    """An atom crossing the cutoff changes energy and forces continuously, also where the atom it
    leaves keeps another neighbour (a normalisation over neighbours, such as attention's, must
    fade the leaving edge out too)."""
    model = _model(name)
    cutoff = float(model.cutoff)
    stay = [[1.2, 0.3, 0.0]][:len(others)]  # within the cutoff of atom 0, beyond it of the mover

    def structure(distance):
        return _graph(ase.Atoms("CO" + others, positions=[[0, 0, 0], [-distance, 0, 0], *stay]))

    far = model(structure(cutoff + 0.5))
    for delta in (1e-3, 1e-5):
        near = model(structure(cutoff - delta))
        gap = (near["energy"] - far["energy"]).abs().item()
        assert gap < 50 * delta**2, (delta, gap)  # C1 cutoff: energy gap is O(delta^2)
        assert near["forces"][1].abs().max().item() < 50 * delta


@every_model
def test_isolated_atom_gives_its_e0(name):
    """With isolated-atom E0s (the shift kept from lone atoms) each lone atom gets its E0."""
    model = _model(name)
    config = SMALL_CONFIGS[name]
    for z, e0 in zip(config["elements"], config["e0s"]):
        out = model(_graph(ase.Atoms(numbers=[z], positions=[[0.3, -1.0, 2.0]])))
        assert out["energy"].item() == pytest.approx(e0, abs=1e-10)
        assert torch.all(out["forces"] == 0)


@every_model
def test_unknown_element_and_nan_positions_raise(name):
    model = _model(name)
    with pytest.raises(ValueError, match="79"):
        model(_graph(ase.Atoms("Au2", positions=[[0, 0, 0], [0, 0, 1.5]])))
    graph = _graph(_molecule(12))
    graph.positions[0, 0] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        model(graph)


@every_model
def test_interaction_range_is_the_declared_hops_times_the_cutoff(name):
    """Engines size their ghost-atom shells by ``interaction_hops x cutoff`` (irreps.export): on a
    chain whose neighbours sit 0.8 cutoff apart, atom 0's energy must not move when atom
    ``hops + 1`` moves (too small a declaration loses forces across domain boundaries), and must
    move when atom ``hops - 1`` does (a declaration more than one hop too generous wastes ghosts)."""
    model = _model(name)
    hops = model.interaction_hops
    assert isinstance(hops, int) and hops >= 1
    spacing = 0.8 * float(model.cutoff)
    chain = ase.Atoms(numbers=[6, 1, 8] * (hops // 3 + 2), positions=np.zeros((3 * (hops // 3 + 2), 3)))
    chain.positions[:, 0] = spacing * np.arange(len(chain))
    chain.positions[:, 1] = 0.05 * np.sin(np.arange(len(chain)))  # no straight line: every direction contributes

    def first_atom_energy(atoms: ase.Atoms) -> float:
        return float(model(_graph(atoms), compute_forces=False)["node_energy"][0])

    def moved(k: int) -> ase.Atoms:
        atoms = chain.copy()
        atoms.positions[k] += [0.0, 0.07, -0.05]
        return atoms

    reference = first_atom_energy(chain)
    assert first_atom_energy(moved(hops + 1)) == reference
    assert abs(first_atom_energy(moved(max(hops - 1, 1))) - reference) > 1e-12


@every_model
def test_save_load_round_trip(name, tmp_path):
    model = _model(name)
    graph = _graph(_molecule(13))
    path = save_model(model, tmp_path / "model.pt")
    loaded = load_model(path, dtype=torch.float64)
    assert loaded.cutoff == model.cutoff and tuple(loaded.elements) == tuple(model.elements)
    out, out_loaded = model(graph), loaded(graph)
    for key in out:
        torch.testing.assert_close(out_loaded[key], out[key], atol=0, rtol=0)


@every_model
def test_training_mode_keeps_the_force_graph(name):
    model = _model(name).train()
    out = model(_graph(_molecule(14)))
    loss = out["forces"].square().sum()
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


# Compiling TensorNet or EquiformerV2 takes 11-12 s a case on an idle 2-core machine (15-50 s on a
# loaded one): Dynamo traces every graph break of the force pass whatever the model's size
# (TensorNet with 0 layers still takes most of it), over the ~5 s a default check may take. eSCN
# compiles in ~3 s (plus ~3 s of Dynamo's first start), so it alone runs by default.
@one_model_by_default("escn")
def test_compiled_equals_eager(name):
    if not hasattr(torch, "compile"):
        pytest.skip("torch.compile is not available in this torch build")
    model = _model(name)
    graph = _graph(_molecule(15))
    compiled = torch.compile(model, backend="aot_eager", dynamic=False)
    out_c, out = compiled(graph, **_heads(name)), model(graph, **_heads(name))
    assert set(out_c) == set(out)
    for key in out:
        torch.testing.assert_close(out_c[key], out[key], atol=1e-10, rtol=0)


# Set by training from the data (E0s from the isolated atoms, scale, shift and the neighbour-
# weighted shift that gives lone atoms exactly their E0); the rest of a small config is kept.
DERIVED_BY_TRAINING = {"elements", "e0s", "scale", "shift", "shift_with_neighbours"}


@every_model  # one epoch on 8 structures: 2-4 s per case
def test_a_trained_model_gives_each_lone_atom_its_e0(name, tmp_path):
    """Trained with isolated-atom E0s, the written model file gives every lone atom its E0 (the
    fitted per-atom shift must vanish without neighbours, or dissociation ends eV off)."""
    options = {k: v for k, v in SMALL_CONFIGS[name].items() if k not in DERIVED_BY_TRAINING}
    config = load_config(None, [
        "data.train_file=bundled:acac_train", "data.isolated_atoms_file=bundled:acac_isolated_atoms",
        "data.max_train=8", "data.valid_fraction=0.01", "data.batch_size=4", f"data.cutoff={options['cutoff']}",
        f"model.name={name.split('[')[0]}", f"model.options={json.dumps(options)}",
        "run.epochs=1", "run.progress=false", "run.device=cpu",
    ])
    result = train(config, tmp_path / "run", log=lambda line: None)
    assert load_model(result.model_path).config.shift != 0  # else any model passes
    for z, e0 in isolated_atom_energies().items():
        assert lone_atom_energy(result.model_path, z) == pytest.approx(e0, abs=1e-6), z
