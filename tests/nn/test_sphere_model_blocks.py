"""Blocks shared by the eSCN-family models: edge-degree embedding, drop-path, radial MLP, softmax, rank-2 view."""

from __future__ import annotations

import pytest
import torch

from irreps.nn.drop_path import GraphDropPath
from irreps.nn.edge_degree import EdgeDegreeEmbedding
from irreps.nn.mlp import RadialMLP
from irreps.o3 import random_rotation
from irreps.ops.cartesian import components_to_matrix
from irreps.ops.scatter import scatter_softmax
from irreps.ops.sphere import EdgeRotation, sphere_irreps, to_rank2_components


def _D(R, lmax):
    return sphere_irreps(lmax, 1).D_from_matrix(R).to(torch.float64)


@pytest.mark.parametrize("proper", [True, False])
def test_edge_degree_embedding_is_equivariant(proper):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    lmax, mmax = 3, 1
    layer = EdgeDegreeEmbedding(lmax, mmax, 5, [7, 6], num_elements=3, avg_degree=2.0).double()
    rotation = EdgeRotation(lmax, mmax)
    vec = torch.randn(9, 3, generator=gen, dtype=torch.float64)
    basis = torch.randn(9, 7, generator=gen, dtype=torch.float64)
    senders, receivers = torch.randint(0, 4, (9,), generator=gen), torch.randint(0, 4, (9,), generator=gen)
    species = torch.tensor([0, 2, 1, 1])
    envelope = torch.rand(9, generator=gen, dtype=torch.float64)
    out = layer(rotation(vec), basis, senders, receivers, species, envelope)
    R = random_rotation(generator=gen, dtype=torch.float64) * (1 if proper else -1)
    moved = layer(rotation(vec @ R.T), basis, senders, receivers, species, envelope)
    torch.testing.assert_close(moved, _D(R, lmax) @ out, atol=1e-10, rtol=0)
    assert out[:, 1:].abs().max() > 1e-3  # it does make l > 0 features


def test_rank2_components_transform_as_matrices():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(4, 16, 3, generator=gen, dtype=torch.float64)
    for proper in (True, False):
        R = random_rotation(generator=gen, dtype=torch.float64) * (1 if proper else -1)
        m = components_to_matrix(to_rank2_components(x)).permute(0, 3, 1, 2)
        moved = components_to_matrix(to_rank2_components(_D(R, 3) @ x)).permute(0, 3, 1, 2)
        # vectors (l = 1, odd) become skew parts that flip under inversion, as TensorNet's A
        expected = R @ m @ R.T
        if not proper:
            expected = expected - 2 * 0.5 * (expected - expected.transpose(-1, -2))
        torch.testing.assert_close(moved, expected, atol=1e-12, rtol=0)


def test_scatter_softmax_normalises_per_receiver_and_drops_zero_weight_edges():
    logits = torch.tensor([[1.0], [2.0], [3.0], [500.0]], dtype=torch.float64)
    index = torch.tensor([0, 0, 1, 1])
    out = scatter_softmax(logits, index, 3)
    torch.testing.assert_close(out[:2, 0].sum(), torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(out[:2, 0], torch.softmax(logits[:2, 0], 0))
    assert torch.isfinite(out).all() and out[3, 0] == pytest.approx(1.0)  # no overflow at 500
    weighted = scatter_softmax(logits, index, 3, torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64))
    assert weighted[:, 0].tolist() == [1.0, 0.0, 0.0, 0.0]  # receiver 1 lost every edge: zeros, no NaN


def test_graph_drop_path_drops_whole_structures_only_in_training():
    torch.manual_seed(3)
    layer = GraphDropPath(0.5)
    x = torch.ones(6, 2)
    batch = torch.tensor([0, 0, 0, 1, 1, 2])
    assert torch.equal(layer.eval()(x, batch, 3), x)
    out = layer.train()(x, batch, 3)
    for g in range(3):
        rows = out[batch == g]
        assert torch.all(rows == rows[0, 0]) and rows[0, 0].item() in (0.0, 2.0)
    with pytest.raises(ValueError, match="drop-path rate"):
        GraphDropPath(1.0)


def test_radial_mlp_layout():
    mlp = RadialMLP([10, 8, 8, 4])
    kinds = [type(m).__name__ for m in mlp]
    assert kinds == ["Linear", "LayerNorm", "SiLU", "Linear", "LayerNorm", "SiLU", "Linear"]
    assert mlp(torch.randn(3, 10)).shape == (3, 4)
