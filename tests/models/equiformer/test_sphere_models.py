"""eSCN and EquiformerV2 beyond the shared physics suite: grid aliasing, the HIP head, direct forces, config errors."""

from __future__ import annotations

import ase
import numpy as np
import pytest
import torch

from irreps.data import atoms_to_graph
from irreps.models import build_model
from irreps.o3 import random_rotation

SMALL = dict(
    elements=[1, 6, 8], lmax=2, mmax=2, sphere_channels=6, num_layers=2, attn_hidden_channels=6, num_heads=2,
    attn_alpha_channels=4, attn_value_channels=3, ffn_hidden_channels=8, edge_channels=6, num_distance_basis=12,
    cutoff=3.5, equivariance="O(3)", use_gate_act=True,  # exact: gates, not grid activations
)
SMALL_ESCN = dict(
    elements=[1, 6, 8], lmax=2, mmax=2, sphere_channels=6, hidden_channels=6, edge_channels=6, num_layers=2,
    cutoff=3.5, distance_resolution=0.25, equivariance="O(3)",
)


def _model(name="equiformer_v2", **overrides):
    torch.manual_seed(0)
    model = build_model(name, {**(SMALL if name == "equiformer_v2" else SMALL_ESCN), **overrides}).double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def _molecule(seed: int = 0, n: int = 7) -> ase.Atoms:
    rng = np.random.default_rng(seed)
    positions = [rng.normal(size=3)]
    while len(positions) < n:
        trial = positions[rng.integers(len(positions))] + rng.normal(size=3) * 0.9
        if min(np.linalg.norm(trial - p) for p in positions) > 0.9:
            positions.append(trial)
    return ase.Atoms(numbers=rng.choice([1, 6, 8], size=n), positions=positions)


def _graph(atoms):
    return atoms_to_graph(atoms, 4.0, keys=None, dtype=torch.float64)


def _rotated(atoms, R):
    moved = atoms.copy()
    moved.positions = atoms.positions @ R.numpy().T
    return moved


GRID_VARIANTS = {
    # the paper's activations: separable S2 in attention, a grid MLP in the FFN
    "equiformer_v2": dict(use_gate_act=False, use_grid_mlp=True),
    "escn": dict(),
}


@pytest.mark.parametrize("name", sorted(GRID_VARIANTS))
def test_grid_activations_are_equivariant_up_to_aliasing_that_falls_with_resolution(name):
    """Grid nonlinearities sample the sphere: the rotation error of the interaction energy is
    aliasing (measured at 6 and 24 points per angle), not a bug in the rotations."""
    atoms = _molecule(1)
    R = random_rotation(generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    errors = []
    for resolution in (6, 24):
        extra = {"sample_resolution": resolution} if name == "escn" else {}
        model = _model(name, grid_resolution=resolution, **GRID_VARIANTS[name], **extra)
        e, e_rot = model(_graph(atoms))["energy"], model(_graph(_rotated(atoms, R)))["energy"]
        errors.append((e - e_rot).abs().item() / e.abs().item())
    assert errors[0] > 1e-9 and errors[1] < errors[0] / 10 and errors[1] < 1e-8, errors


@pytest.mark.parametrize("name", sorted(GRID_VARIANTS))
def test_a_saved_model_evaluated_on_finer_grids_keeps_its_weights_and_loses_the_aliasing(name, tmp_path):
    """Grids are evaluation options: the file trained on 6-point grids loads on 24-point ones
    with the same weights, and its rotation error falls below 1e-10 (relative)."""
    from irreps.models import load_model, save_model

    coarse = {"grid_resolution": 6, **({"sample_resolution": 6} if name == "escn" else {})}
    fine = {key: 24 for key in coarse}
    path = save_model(_model(name, **GRID_VARIANTS[name], **coarse), tmp_path / "m.pt")
    atoms = _molecule(1)
    R = random_rotation(generator=torch.Generator().manual_seed(3), dtype=torch.float64)

    def rotation_error(model):
        e, e_rot = model(_graph(atoms))["energy"], model(_graph(_rotated(atoms, R)))["energy"]
        return (e - e_rot).abs().item() / e.abs().item()

    saved, finer = load_model(path), load_model(path, options=fine)
    assert finer.config.grid_resolution == 24
    for (key, a), b in zip(saved.state_dict().items(), finer.state_dict().values()):
        assert torch.equal(a, b), key
    assert rotation_error(saved) > 1e-9 and rotation_error(finer) < 1e-10
    with pytest.raises(ValueError, match="'lmax' cannot change after training; options of .*grid_resolution"):
        load_model(path, options={"lmax": 3})
    # what `irreps md/vib/ts/evaluate --model-option grid_resolution=24` passes on
    from irreps.calculators import IrrepsCalculator
    from irreps.cli._sim import model_options

    options = model_options([f"{key}=24" for key in fine])
    assert options == fine
    calculator = IrrepsCalculator(path, dtype="float64", model_options=options)
    assert calculator.model.config.grid_resolution == 24
    with pytest.raises(ValueError, match="model_options apply to model files"):
        IrrepsCalculator(saved, model_options=options)


def test_hip_head_gives_a_symmetric_hessian_that_rotates_with_the_molecule():
    model = _model(hessian_head=True)
    atoms = _molecule(2, n=5)
    R = random_rotation(generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    H = model(_graph(atoms), compute_hessian=True)["hessian"].reshape(15, 15)
    H_rot = model(_graph(_rotated(atoms, R)), compute_hessian=True)["hessian"].reshape(15, 15)
    big = torch.block_diag(*[R] * 5)
    torch.testing.assert_close(H, H.T, atol=1e-12, rtol=0)
    torch.testing.assert_close(H_rot, big @ H @ big.T, atol=1e-10, rtol=0)
    H_inv = model(_graph(_rotated(atoms, -R)), compute_hessian=True)["hessian"].reshape(15, 15)
    torch.testing.assert_close(H_inv, big @ H @ big.T, atol=1e-10, rtol=0)  # inversion: R H R^T with -R


@pytest.mark.parametrize("name", ["equiformer_v2", "escn"])
def test_direct_forces_are_not_a_gradient_but_conservative_forces_are(name):
    """The asymmetry of the force Jacobian: zero for -dE/dx, clearly not for the paper's force head."""
    model = _model(name, direct_forces=True, **({"grid_resolution": 30, "sample_resolution": 30} if name == "escn" else {}))
    graph = _graph(_molecule(3, n=5))

    def direct(pos):
        moved = graph.__class__(**{**graph.__dict__, "positions": pos})
        return model(moved, compute_forces=False, direct_forces=True)["direct_forces"].reshape(-1)

    conservative = model(graph, compute_hessian=True)["hessian"].reshape(15, 15)  # -d(forces)/dx
    jacobian = torch.autograd.functional.jacobian(direct, graph.positions).reshape(15, 15)
    asymmetry = lambda J: ((J - J.T).norm() / J.norm()).item()  # noqa: E731
    assert asymmetry(conservative) < 1e-10
    assert asymmetry(jacobian) > 1e-2


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="mmax <= lmax"):
        build_model("equiformer_v2", {**SMALL, "mmax": 3})
    with pytest.raises(ValueError, match="norm_type"):
        build_model("equiformer_v2", {**SMALL, "norm_type": "batch_norm"})
    with pytest.raises(ValueError, match="polarizability reads"):
        build_model("equiformer_v2", {**SMALL, "lmax": 1, "mmax": 1, "polarizability": True})
    with pytest.raises(ValueError, match="lmax >= 2"):
        build_model("equiformer_v2", {**SMALL, "lmax": 1, "mmax": 1, "hessian_head": True})
    with pytest.raises(ValueError, match="drop_path_rate"):
        build_model("equiformer_v2", {**SMALL, "drop_path_rate": 1.0})
    with pytest.raises(ValueError, match="distance_resolution"):
        build_model("escn", {**SMALL_ESCN, "distance_resolution": 0.0})
    with pytest.raises(ValueError, match="mmax <= lmax"):
        build_model("escn", {**SMALL_ESCN, "mmax": 4})


@pytest.mark.parametrize("chunk_elements", [1, 200])
def test_attention_in_edge_chunks_equals_one_chunk(monkeypatch, chunk_elements):
    """Without autograd the attention runs its edges in chunks (one edge, a few edges per chunk):
    energies and direct forces equal those of one chunk (autograd's path) beyond rounding, with
    the paper's grid activations and an envelope."""
    import irreps.ops.scatter as scatter

    model = _model(use_gate_act=False, use_grid_mlp=True, direct_forces=True, envelope=True)
    graph = _graph(_molecule(3, n=9))
    reference = model(graph, direct_forces=True)
    monkeypatch.setattr(scatter, "EDGE_CHUNK_ELEMENTS", chunk_elements)
    assert len(scatter.edge_chunks(graph.edge_index.shape[1], 9 * 12)) > 2
    with torch.no_grad():
        chunked = model(graph, compute_forces=False, direct_forces=True)
    for key in ("energy", "direct_forces"):
        torch.testing.assert_close(chunked[key], reference[key], atol=1e-12, rtol=0)
