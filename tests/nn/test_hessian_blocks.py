"""Block Hessians: dense assembly against a slow loop, matrix-vector products, pair lists."""

from __future__ import annotations

import pytest
import torch

from irreps.data.batch import split_hessian
from irreps.nn.hessian_blocks import BlockHessian, assemble_dense, hessian_pairs

DTYPE = torch.float64


def random_blocks(counts: list[int], seed: int = 0, cutoff: float | None = None) -> BlockHessian:
    gen = torch.Generator().manual_seed(seed)
    batch = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    positions = 2.0 * torch.randn(sum(counts), 3, generator=gen, dtype=DTYPE)
    pairs = hessian_pairs(positions, batch, len(counts), cutoff)
    diagonal = torch.randn(sum(counts), 3, 3, generator=gen, dtype=DTYPE)
    off = torch.randn(pairs.shape[1], 3, 3, generator=gen, dtype=DTYPE)
    return BlockHessian(diagonal, off, pairs, batch, len(counts))


def loop_reference(blocks: BlockHessian) -> list[torch.Tensor]:
    """Slow, obviously correct assembly: one 3x3 block at a time into per-structure matrices."""
    counts = torch.bincount(blocks.batch, minlength=blocks.num_graphs).tolist()
    starts = [sum(counts[:g]) for g in range(len(counts))]
    mats = [torch.zeros(3 * n, 3 * n, dtype=DTYPE) for n in counts]
    for atom in range(blocks.batch.numel()):
        g = int(blocks.batch[atom])
        a = atom - starts[g]
        mats[g][3 * a : 3 * a + 3, 3 * a : 3 * a + 3] = blocks.diagonal[atom]
    for k in range(blocks.pairs.shape[1]):
        i, j = int(blocks.pairs[0, k]), int(blocks.pairs[1, k])
        g = int(blocks.batch[i])
        a, b = i - starts[g], j - starts[g]
        mats[g][3 * a : 3 * a + 3, 3 * b : 3 * b + 3] = blocks.off_diagonal[k]
        mats[g][3 * b : 3 * b + 3, 3 * a : 3 * a + 3] = blocks.off_diagonal[k].T
    return mats


@pytest.mark.parametrize("cutoff", [None, 3.0])
def test_dense_assembly_matches_loop(cutoff):
    blocks = random_blocks([4, 1, 6, 3], cutoff=cutoff)
    dense = split_hessian(blocks.dense(), [4, 1, 6, 3])
    for got, want in zip(dense, loop_reference(blocks)):
        assert torch.equal(got, want)
    for got, want in zip(blocks.matrices(), loop_reference(blocks)):
        assert torch.equal(got, want)


def test_assembly_is_differentiable():
    blocks = random_blocks([3, 2])
    diag = blocks.diagonal.clone().requires_grad_(True)
    off = blocks.off_diagonal.clone().requires_grad_(True)
    flat = assemble_dense(diag, off, blocks.pairs, blocks.batch, 2)
    flat.sum().backward()
    assert torch.equal(diag.grad, torch.ones_like(diag))
    assert torch.equal(off.grad, 2 * torch.ones_like(off))  # each pair block appears as H_ab and H_ba^T


@pytest.mark.parametrize("cutoff", [None, 3.0])
def test_matvec_matches_dense(cutoff):
    blocks = random_blocks([5, 7], seed=1, cutoff=cutoff)
    v = torch.randn(12, 3, generator=torch.Generator().manual_seed(2), dtype=DTYPE)
    mats = blocks.matrices()
    want = torch.cat([mats[0] @ v[:5].reshape(-1), mats[1] @ v[5:].reshape(-1)]).view(12, 3)
    assert torch.allclose(blocks.matvec(v), want, atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="shape"):
        blocks.matvec(v[:3])


def test_pairs_with_cutoff_match_brute_force():
    gen = torch.Generator().manual_seed(3)
    positions = 2.0 * torch.randn(9, 3, generator=gen, dtype=DTYPE)
    batch = torch.tensor([0] * 4 + [1] * 5)
    pairs = hessian_pairs(positions, batch, 2, cutoff=2.5)
    want = [
        [i, j] for i in range(9) for j in range(i + 1, 9)
        if batch[i] == batch[j] and float((positions[i] - positions[j]).norm()) < 2.5
    ]
    assert pairs.T.tolist() == want
    with pytest.raises(ValueError, match="cutoff"):
        hessian_pairs(positions, batch, 2, cutoff=0.0)
