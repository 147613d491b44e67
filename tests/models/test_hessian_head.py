"""The HIP direct Hessian head: symmetry, O(3) and permutation equivariance, pairs, sum rule."""

from __future__ import annotations

import math

import pytest
import torch

from irreps.data.batch import split_hessian
from irreps.models.hessian_head import HessianHead, HessianHeadConfig
from irreps.nn.hessian_blocks import hessian_pairs
from irreps.ops.cartesian import channel_matmul, matrix_to_components, vector_to_skew

DTYPE = torch.float64
CHANNELS = 4


def random_orthogonal(seed: int, reflect: bool) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(seed), dtype=DTYPE))
    q = q * torch.sign(torch.diagonal(r))
    if torch.linalg.det(q) < 0:
        q = -q
    return -q if reflect else q


def toy_features(positions: torch.Tensor, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Equivariant per-atom features with TensorNet's parity, independent of any backbone.

    ``X_a = sum_b w(r_ab) (1, [r_ab]_x, r r^T - r^2/3)`` per channel, then ``X + X X``; under
    ``r -> R r`` (R in O(3)) ``X -> R X R^T`` for rotations and ``X -> X^T`` for inversion.
    Returns scalars [N, 3C] (squared part norms) and components [N, 9, C].
    """
    n = positions.shape[0]
    same = batch[:, None] == batch[None, :]
    rel = positions[None, :, :] - positions[:, None, :]  # r_ab = r_b - r_a, [N, N, 3]
    dist = rel.norm(dim=-1)
    mask = (same & ~torch.eye(n, dtype=torch.bool))[..., None].to(DTYPE)
    widths = torch.linspace(0.5, 2.0, CHANNELS, dtype=DTYPE)
    w = torch.exp(-dist[..., None] / widths) * mask  # [N, N, C]
    eye = torch.eye(3, dtype=DTYPE)
    quad = rel[..., :, None] * rel[..., None, :] - dist[..., None, None] ** 2 / 3 * eye
    x = (
        torch.einsum("abc,xy->axyc", w, eye)
        + torch.einsum("abc,abxy->axyc", w * torch.linspace(0.3, 1.0, CHANNELS, dtype=DTYPE), vector_to_skew(rel))
        + torch.einsum("abc,abxy->axyc", w * torch.linspace(1.0, -0.5, CHANNELS, dtype=DTYPE), quad)
    )
    x = x + 0.3 * channel_matmul(x, x)
    comps = matrix_to_components(x)
    sq = comps.square()
    scalars = torch.cat((sq[:, :1].sum(1), sq[:, 1:4].sum(1), sq[:, 4:].sum(1)), dim=-1)
    return scalars, comps


def molecule(seed: int, n: int = 6) -> torch.Tensor:
    return 1.3 * torch.randn(n, 3, generator=torch.Generator().manual_seed(seed), dtype=DTYPE)


def head_hessian(head: HessianHead, positions: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    scalars, comps = toy_features(positions, batch)
    return head(scalars, comps, positions, batch, num_graphs).dense()


@pytest.fixture(params=[HessianHeadConfig(), HessianHeadConfig(sum_rule=True), HessianHeadConfig(cutoff=2.5)],
                ids=["all_pairs", "sum_rule", "cutoff"])
def head(request) -> HessianHead:
    torch.manual_seed(0)
    module = HessianHead(3 * CHANNELS, CHANNELS, HessianHeadConfig(**{**request.param.__dict__, "channels": 3, "hidden_dim": 8}))
    return module.to(DTYPE)


def test_symmetric_and_rotation_equivariant_with_inversion(head):
    pos = molecule(1)
    batch = torch.zeros(6, dtype=torch.long)
    hess = head_hessian(head, pos, batch, 1).view(18, 18)
    assert hess.abs().max() > 1e-3
    assert torch.allclose(hess, hess.T, atol=1e-12, rtol=0)
    for seed, reflect in ((2, False), (3, True), (4, True)):
        rot = random_orthogonal(seed, reflect)
        rotated = head_hessian(head, pos @ rot.T, batch, 1).view(18, 18)
        big = torch.block_diag(*[rot] * 6)
        assert torch.allclose(rotated, big @ hess @ big.T, atol=1e-10, rtol=0)


def test_inversion_equivariance_is_not_trivial():
    """A head that used the odd A features alone would fail: check the test can detect that."""
    pos = molecule(5)
    batch = torch.zeros(6, dtype=torch.long)
    scalars, comps = toy_features(pos, batch)
    _, inverted = toy_features(-pos, batch)
    # the A components flip under inversion, the rest stay
    assert torch.allclose(inverted[:, 1:4], -comps[:, 1:4], atol=1e-12)
    assert torch.allclose(inverted[:, 4:], comps[:, 4:], atol=1e-12)
    assert comps[:, 1:4].abs().max() > 1e-2


def test_permutation_equivariance(head):
    pos = molecule(6, 7)
    batch = torch.zeros(7, dtype=torch.long)
    perm = torch.randperm(7, generator=torch.Generator().manual_seed(0))
    hess = head_hessian(head, pos, batch, 1).view(7, 3, 7, 3)
    permuted = head_hessian(head, pos[perm], batch, 1).view(7, 3, 7, 3)
    assert torch.allclose(permuted, hess[perm][:, :, perm], atol=1e-10, rtol=0)


def test_batch_equals_single_structures(head):
    a, b = molecule(7, 5), molecule(8, 4) + 10.0
    pos = torch.cat((a, b))
    batch = torch.tensor([0] * 5 + [1] * 4)
    blocks = split_hessian(head_hessian(head, pos, batch, 2), [5, 4])
    for single, part in ((a, blocks[0]), (b, blocks[1])):
        alone = head_hessian(head, single, torch.zeros(len(single), dtype=torch.long), 1).view_as(part)
        assert torch.allclose(alone, part, atol=1e-12, rtol=0)


def test_sum_rule_makes_row_sums_antisymmetric():
    torch.manual_seed(1)
    head = HessianHead(3 * CHANNELS, CHANNELS, HessianHeadConfig(channels=3, hidden_dim=8, sum_rule=True)).to(DTYPE)
    pos = molecule(9)
    hess = head_hessian(head, pos, torch.zeros(6, dtype=torch.long), 1).view(6, 3, 6, 3)
    row_sums = hess.sum(2)  # sum_b H_ab, [6, 3, 3]
    assert torch.allclose(row_sums + row_sums.transpose(1, 2), torch.zeros_like(row_sums), atol=1e-12)
    assert hess.abs().max() > 1e-3


def test_cutoff_blocks_exactly_zero_and_continuous():
    torch.manual_seed(2)
    cutoff = 2.0
    head = HessianHead(3 * CHANNELS, CHANNELS, HessianHeadConfig(channels=3, hidden_dim=8, cutoff=cutoff)).to(DTYPE)
    pos = molecule(10, 8)
    batch = torch.zeros(8, dtype=torch.long)
    hess = head_hessian(head, pos, batch, 1).view(8, 3, 8, 3)
    dist = torch.cdist(pos, pos)
    far = dist >= cutoff
    assert far.any() and (~far).sum() > 8
    assert hess.permute(0, 2, 1, 3)[far].abs().max() == 0
    # moving a pair across the cutoff changes the Hessian continuously
    direction = (pos[1] - pos[0]) / dist[0, 1]
    outs = []
    for d in (cutoff - 1e-6, cutoff + 1e-6):
        moved = pos.clone()
        moved[1] = pos[0] + d * direction
        outs.append(head_hessian(head, moved, batch, 1))
    assert (outs[0] - outs[1]).abs().max() < 1e-4


def test_pairs_default_all_pairs_per_structure():
    batch = torch.tensor([0, 0, 0, 1, 1])
    pairs = hessian_pairs(torch.zeros(5, 3), batch, 2)
    assert pairs.T.tolist() == [[0, 1], [0, 2], [1, 2], [3, 4]]


def test_bad_config_raises():
    with pytest.raises(ValueError, match="cutoff"):
        HessianHeadConfig(cutoff=-1.0)
    with pytest.raises(ValueError, match="channels"):
        HessianHeadConfig(channels=0)
    with pytest.raises(ValueError, match="scale"):
        HessianHeadConfig(scale=0.0)
    with pytest.raises(ValueError, match="activation"):
        HessianHeadConfig(activation="nope")


def test_gradients_reach_every_parameter():
    torch.manual_seed(3)
    head = HessianHead(3 * CHANNELS, CHANNELS, HessianHeadConfig(channels=3, hidden_dim=8)).to(DTYPE)
    pos = molecule(11)
    head_hessian(head, pos, torch.zeros(6, dtype=torch.long), 1).square().sum().backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().max() > 0, name
    assert math.isfinite(float(sum(p.grad.sum() for p in head.parameters())))


# -- TensorNet with the head ---------------------------------------------------------------------

def tensornet_with_head(**hessian) -> torch.nn.Module:
    from irreps.models import build_model

    torch.manual_seed(0)
    model = build_model("tensornet", dict(
        elements=[1, 6, 8], hidden_dim=8, num_layers=1, num_rbf=6, cutoff=3.0, hessian_head=True,
        hessian=dict(channels=3, hidden_dim=8, num_rbf=6, **hessian),
    ))
    return model.double().eval()


def molecule_graph(positions: torch.Tensor):
    import ase

    from irreps.data import atoms_to_graph

    numbers = [6, 8, 1, 1, 6, 1][: len(positions)]
    return atoms_to_graph(ase.Atoms(numbers=numbers, positions=positions.numpy()), 4.0, keys=None, dtype=DTYPE)


@pytest.mark.parametrize("hessian", [{}, {"sum_rule": True}, {"cutoff": 2.5}], ids=["all_pairs", "sum_rule", "cutoff"])
def test_tensornet_hessian_symmetric_and_o3_equivariant(hessian):
    from dataclasses import replace

    model = tensornet_with_head(**hessian)
    pos = 0.8 * molecule(12)
    graph = molecule_graph(pos)
    hess = model(graph, compute_forces=False)["hessian"].view(18, 18)
    assert hess.abs().max() > 1e-4
    assert torch.allclose(hess, hess.T, atol=1e-12, rtol=0)
    for seed, reflect in ((13, False), (14, True)):
        rot = random_orthogonal(seed, reflect)
        moved = replace(graph, positions=graph.positions @ rot.T + torch.tensor([0.3, -1.0, 2.0], dtype=DTYPE))
        big = torch.block_diag(*[rot] * 6)
        got = model(moved, compute_forces=False)["hessian"].view(18, 18)
        assert torch.allclose(got, big @ hess @ big.T, atol=1e-10, rtol=0)


def test_tensornet_keeps_direct_hessian_and_trains_through_it():
    model = tensornet_with_head()
    graph = molecule_graph(0.8 * molecule(15))
    direct = model(graph, compute_forces=False)["hessian"]
    model.train()
    out = model(graph, compute_forces=True, compute_hessian=True)
    assert torch.allclose(out["hessian"], direct, atol=1e-12)  # not replaced by autograd
    out["hessian"].square().sum().backward()
    assert model.hessian_head.gates.weight.grad.abs().max() > 0
    assert model.embedding.emb.weight.grad.abs().max() > 0  # the backbone learns from Hessians too


def test_tensornet_head_save_load_round_trip(tmp_path):
    from irreps.models import load_model, save_model

    model = tensornet_with_head(cutoff=3.5, sum_rule=True)
    graph = molecule_graph(0.8 * molecule(16))
    path = save_model(model, tmp_path / "m.pt")
    loaded = load_model(path).double().eval()
    assert loaded.config.hessian.cutoff == 3.5 and loaded.config.hessian.sum_rule
    want = model(graph, compute_forces=False)["hessian"]
    assert torch.allclose(loaded(graph, compute_forces=False)["hessian"], want, atol=1e-12)


def test_tensornet_head_rejects_periodic_graphs():
    import ase

    from irreps.data import atoms_to_graph

    model = tensornet_with_head()
    atoms = ase.Atoms("CO", positions=[[0, 0, 0], [1.1, 0, 0]], cell=[5, 5, 5], pbc=True)
    with pytest.raises(ValueError, match="periodic"):
        model(atoms_to_graph(atoms, 4.0, keys=None, dtype=DTYPE))


def test_calculator_uses_the_direct_hessian_unless_autograd_is_forced():
    import ase
    import numpy as np

    from irreps.calculators import IrrepsCalculator

    model = tensornet_with_head()
    atoms = ase.Atoms("COHH", positions=0.8 * molecule(17, 4).numpy())
    graph = molecule_graph(torch.tensor(atoms.positions))  # same elements, C O H H
    direct = model(graph, compute_forces=False)["hessian"].view(12, 12).detach().numpy()
    results = {}
    for mode in ("auto", "autograd"):
        calc = IrrepsCalculator(model, dtype=DTYPE, hessian=mode)
        calc.calculate(atoms, ["energy", "forces", "hessian"])
        results[mode] = calc.results["hessian"]
    np.testing.assert_allclose(results["auto"], direct, atol=1e-12)
    assert np.abs(results["autograd"] - direct).max() > 1e-3  # an untrained head is not the energy's Hessian
