"""Dropout in data-parallel training: each rank draws its own masks, reproducibly.

Each rank seeds its draws of a step from (run.seed, rank, epoch, step) (``step_seed``), inside
``fork_rng``: masks differ between ranks, repeat for the same step, and leave the global
generator (the one checkpoints keep) alone, so a run is reproducible given the seed and the
world size and continues identically after a stop and ``--resume``.
"""

from pathlib import Path

import ase
import pytest
import torch
import torch.distributed as dist

from irreps.data import atoms_to_graph
from irreps.data.batch import collate
from irreps.nn.drop_path import GraphDropPath
from irreps.train.distributed import DataParallel, init_world, step_seed
from irreps.train.launch import Launch, run_local
from irreps.train.losses import WeightedLoss

STRUCTURES = 16  # per rank and step: two ranks' masks of p = 0.5 agree by chance with probability 2^-16


class _DropPathEnergy(torch.nn.Module):
    """Energy ``w * keep`` per structure: the prediction shows the drop-path mask drawn for it."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn((), dtype=torch.float64))
        self.drop = GraphDropPath(0.5)
        self.masks: list[torch.Tensor] = []

    def forward(self, graph, compute_forces=False, compute_stress=False):
        ones = torch.ones(graph.num_graphs, 1, dtype=torch.float64)
        keep = self.drop(ones, torch.arange(graph.num_graphs), graph.num_graphs)[:, 0]
        self.masks.append(keep.detach().clone())
        return {"energy": self.weight * keep}


def _hydrogen(energy: float):
    graph = atoms_to_graph(ase.Atoms("H", positions=[[0.0, 0.0, 0.0]]), 3.0, keys=None, dtype=torch.float64)
    graph.targets = {"energy": torch.tensor([energy], dtype=torch.float64)}
    return graph


def _draws(world, rank: int, folder: Path) -> None:
    """Three steps of DataParallel (the third repeats the first's (epoch, step)); saves the masks
    drawn, whether the global generator was left as it was, and the weight."""
    torch.manual_seed(3)  # as irreps train does before building the model: the same weights on every rank
    model = _DropPathEnergy()
    batch = collate([_hydrogen(0.1 * i) for i in range(STRUCTURES)])
    loss = WeightedLoss({"energy": 1.0})
    parallel = DataParallel(world, model, batch, [loss], seed=11)
    model.masks.clear()
    before = torch.get_rng_state()
    for step in [(0, 0), (0, 1), (0, 0)]:
        parallel.backward(loss, batch, step)
    torch.save({"masks": model.masks, "rng_kept": torch.equal(before, torch.get_rng_state()),
                "weight": model.weight.detach(), "grad": model.weight.grad}, folder / f"rank{rank}.pt")


def _rank_draws(launch: Launch, folder: Path) -> None:
    """One rank of the test. The DataParallel lives in ``_draws`` so that it is freed before the
    process group is destroyed, as in ``irreps.train.run.train_rank``: a DDP reducer that outlives
    ``destroy_process_group`` frees the gloo group in its own destructor, which hung once (rank 0
    blocked in ``~ProcessGroupGloo`` for 20 minutes after rank 1 had exited cleanly)."""
    world = init_world(launch.rank, launch.world_size, torch.device("cpu"), launch.init_method)
    try:
        _draws(world, launch.rank, folder)
    finally:
        dist.destroy_process_group()


def test_step_seeds_differ_by_rank_and_step():
    seeds = {step_seed(5, rank, epoch, step) for rank in range(4) for epoch in range(3) for step in range(10)}
    assert len(seeds) == 4 * 3 * 10
    assert step_seed(5, 1, 2, 3) == step_seed(5, 1, 2, 3) != step_seed(6, 1, 2, 3)
    assert step_seed(-1, 0, 0, 0) == step_seed(2**64 - 1, 0, 0, 0)  # any int seed
    with pytest.raises(ValueError, match="non-negative"):
        step_seed(0, -1, 0, 0)


def test_two_ranks_draw_different_masks_that_repeat_for_the_same_step(tmp_path):
    run_local(2, 1, _rank_draws, (tmp_path,))
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for rank in ranks:
        first, second, again = rank["masks"]
        assert rank["rng_kept"]
        assert 0 < int((first > 0).sum()) < STRUCTURES  # some structures dropped, some kept
        assert not torch.equal(first, second)  # a new mask each step
        assert torch.equal(first, again)  # the same (rank, epoch, step): the same mask
    assert not torch.equal(ranks[0]["masks"][0], ranks[1]["masks"][0])
    assert not torch.equal(ranks[0]["masks"][1], ranks[1]["masks"][1])
    assert torch.equal(ranks[0]["weight"], ranks[1]["weight"])  # initialised alike
    assert torch.equal(ranks[0]["grad"], ranks[1]["grad"])  # DDP's average: the same on every rank
