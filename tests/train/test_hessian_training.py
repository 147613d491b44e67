"""Training with Hessians and the Hessian metrics: frequencies, autograd Hessians, a real tiny run."""

from __future__ import annotations

import ase
import numpy as np
import pytest
import torch
from ase.vibrations import VibrationsData

from irreps.data import atoms_to_graph, bundled_path, collate, read_graphs
from irreps.data.batch import split_hessian
from irreps.models import build_model
from irreps.train.config import LossConfig, OptimConfig, RunConfig
from irreps.train.hessian_metrics import (
    HessianErrors,
    autograd_hessian,
    evaluate_hessians,
    harmonic_frequencies,
    masses_of,
    rigid_body_basis,
)
from irreps.train.losses import WeightedLoss
from irreps.train.metrics import ErrorAccumulator, projected_eigenvalues
from irreps.train.trainer import Trainer

DTYPE = torch.float64


def spring_hessian(positions: np.ndarray, k: float = 7.0) -> np.ndarray:
    """Hessian of springs between all pairs at their rest lengths: H_ab = -k u u^T, H_aa = -sum_b H_ab.

    Exactly invariant to rigid translations and rotations, so every frequency is known to ASE.
    """
    n = len(positions)
    h = np.zeros((n, 3, n, 3))
    for a in range(n):
        for b in range(n):
            if a != b:
                u = positions[b] - positions[a]
                u /= np.linalg.norm(u)
                h[a, :, b, :] = -k * np.outer(u, u)
                h[a, :, a, :] += k * np.outer(u, u)
    return h.reshape(3 * n, 3 * n)


def test_frequencies_match_ase_vibrations():
    atoms = ase.Atoms("COHH", positions=[[0, 0, 0], [1.2, 0.1, 0], [-0.5, 0.9, 0.1], [-0.6, -0.9, -0.2]])
    hessian = spring_hessian(atoms.positions)
    ours = harmonic_frequencies(
        torch.tensor(hessian), torch.tensor(atoms.positions), masses_of(torch.tensor(atoms.numbers))
    )
    ase_freqs = np.real(VibrationsData.from_2d(atoms, hessian).get_frequencies())  # cm^-1, 3N values
    assert ours.shape == (6,)
    np.testing.assert_allclose(ours.numpy(), np.sort(ase_freqs)[6:], rtol=1e-7)
    assert np.abs(np.sort(np.abs(ase_freqs))[:6]).max() < 1e-3 * ours.max().item()


def test_negative_curvature_gives_negative_frequency():
    atoms = ase.Atoms("HH", positions=[[0, 0, 0], [0.8, 0, 0]])
    hessian = -spring_hessian(atoms.positions)  # a maximum along the bond
    freq = harmonic_frequencies(torch.tensor(hessian), torch.tensor(atoms.positions), masses_of(torch.tensor([1, 1])))
    assert freq.shape == (1,) and freq[0] < 0  # linear molecule: 3N - 5 = 1 vibration


def test_rigid_body_basis_rank():
    masses = torch.tensor([12.0, 16.0, 1.0], dtype=DTYPE)
    bent = torch.tensor([[0, 0, 0], [1.2, 0, 0], [-0.5, 0.9, 0]], dtype=DTYPE)
    linear = torch.tensor([[0, 0, 0], [1.2, 0, 0], [-1.0, 0, 0]], dtype=DTYPE)
    for positions, rank in ((bent, 6), (linear, 5)):
        basis = rigid_body_basis(positions, masses)
        assert basis.shape == (9, rank)
        assert torch.allclose(basis.T @ basis, torch.eye(rank, dtype=DTYPE), atol=1e-12)


def small_model(hessian_head: bool, shift: float = 0.0) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("tensornet", dict(
        elements=[1, 6, 8], hidden_dim=8, num_layers=1, num_rbf=8, cutoff=4.0,
        shift=shift, hessian_head=hessian_head,
        hessian=dict(channels=4, hidden_dim=16, num_rbf=8, scale=6.5),  # scale: RMS of the entries
    ))


@pytest.fixture(scope="module")
def hessian_graphs():
    return read_graphs(bundled_path("acac_hessians"), cutoff=4.0, required=("energy", "forces", "hessian"), dtype=torch.float32)


def test_batched_autograd_hessian_matches_per_structure_autograd():
    model = small_model(False).double().eval()
    rng = np.random.default_rng(0)
    graphs = [
        atoms_to_graph(ase.Atoms(z, positions=rng.normal(size=(len(z), 3)) * 0.9), 4.0, keys=None, dtype=DTYPE)
        for z in ("CHHO", "COH", "CCOHHH")
    ]
    batch = collate(graphs)
    want = model(batch, compute_forces=True, compute_hessian=True)["hessian"]
    assert torch.allclose(autograd_hessian(model, batch), want, atol=1e-10)


def test_hessian_errors_of_the_reference_are_zero(hessian_graphs):
    batch = collate(hessian_graphs[:3]).to(dtype=DTYPE)
    errors = HessianErrors()
    errors.update(batch.targets["hessian"], batch)
    result = errors.result()
    assert result["num_structures"] == 3
    assert result["hessian_mae"] == 0 and result["eigenvalue_mae"] == 0 and result["freq_mae_cm1"] < 1e-9
    errors.update(batch.targets["hessian"] + 0.1, batch)
    assert errors.result()["hessian_mae"] == pytest.approx(0.05)
    with pytest.raises(ValueError, match="no reference"):
        HessianErrors().update(batch.targets["hessian"], read_graphs(bundled_path("acac_train"), 4.0)[0])


def test_training_with_hessians_lowers_the_loss(hessian_graphs):
    """Energy + forces + Hessian loss on the bundled real GFN2-xTB Hessians (a few epochs)."""
    torch.set_num_threads(1)
    train, valid = hessian_graphs[:12], hessian_graphs[12:16]
    # one molecule only: the per-atom mean energy is the whole reference-energy information
    shift = float(torch.stack([g.targets["energy"] / g.num_atoms for g in train]).mean())
    model = small_model(True, shift)
    before = evaluate_hessians(model.eval(), [collate(valid)], autograd=False)["direct"]["hessian_mae"]
    trainer = Trainer(
        model, train, valid,
        OptimConfig(lr=5e-3, ema_decay=None, schedule="constant"),
        LossConfig(energy=1.0, forces=10.0, hessian=10.0),
        RunConfig(epochs=12, progress=False), batch_size=4, valid_batch_size=4, log=lambda _: None,
    )
    history = trainer.fit()
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert history[-1]["train_hessian"] < 0.5 * history[0]["train_hessian"]
    assert history[-1]["valid_hessian"] < history[0]["valid_hessian"]
    after = evaluate_hessians(model.eval(), [collate(valid)], autograd=True)
    assert after["direct"]["hessian_mae"] < before
    assert set(after["autograd"]) == set(after["direct"])


def test_projected_eigenvalues_first_order_and_degenerate():
    rng = np.random.default_rng(1)
    atoms = torch.tensor([2, 1])
    blocks = [torch.tensor(rng.normal(size=(3 * n, 3 * n))) for n in (2, 1)]
    reference = [b + b.T for b in blocks]
    flat = torch.cat([h.reshape(-1) for h in reference])
    lam, projected = projected_eigenvalues(flat, flat, atoms)
    assert torch.allclose(projected, lam, atol=1e-12)
    assert torch.allclose(lam[:6], torch.linalg.eigvalsh(reference[0]), atol=1e-12)
    # a small symmetric perturbation moves each eigenvalue by v^T dH v to first order
    delta = [1e-6 * (b.T + b) for b in (torch.tensor(rng.normal(size=(3 * n, 3 * n))) for n in (2, 1))]
    perturbed = torch.cat([(h + d).reshape(-1) for h, d in zip(reference, delta)])
    exact = torch.cat([torch.linalg.eigvalsh(h + d) for h, d in zip(reference, delta)])
    _, projected = projected_eigenvalues(perturbed, flat, atoms)
    assert torch.allclose(projected, exact, atol=1e-10)
    # a fully degenerate reference (identity) still gives finite gradients
    prediction = torch.eye(6, dtype=torch.float64).reshape(-1).clone().requires_grad_(True)
    _, projected = projected_eigenvalues(prediction, torch.eye(6, dtype=torch.float64).reshape(-1), torch.tensor([2]))
    projected.square().sum().backward()
    assert torch.isfinite(prediction.grad).all()


def test_eigenvalue_aware_loss_term(hessian_graphs):
    batch = collate(hessian_graphs[:3]).to(dtype=DTYPE)
    loss = WeightedLoss({"hessian_eigen": 1.0})
    assert loss.prediction_flags()["compute_hessian"] is True
    reference = batch.targets["hessian"]
    assert float(loss.terms({"hessian": reference}, batch)["hessian_eigen"]) < 1e-24
    # adding c * I shifts every eigenvalue by c: the term is exactly c^2
    shifted = torch.cat([(h + 0.3 * torch.eye(h.shape[0], dtype=DTYPE)).reshape(-1)
                         for h in split_hessian(reference, batch.atoms_per_graph())])
    assert float(loss.terms({"hessian": shifted}, batch)["hessian_eigen"]) == pytest.approx(0.09, rel=1e-10)
    errors = ErrorAccumulator()
    errors.update({"hessian": shifted}, batch)
    assert errors.result()["hessian_eigen"]["mae"] == pytest.approx(0.3, rel=1e-10)
    assert float(loss.pooled(errors)[0]) == pytest.approx(0.09, rel=1e-10)
    with pytest.raises(ValueError, match="no 'hessian' values"):
        loss.terms({"hessian": reference}, read_graphs(bundled_path("acac_train"), 4.0)[0])
    assert LossConfig(energy=0.0, forces=0.0, hessian_eigen=2.0).weights() == {"hessian_eigen": 2.0}
