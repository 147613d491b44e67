"""The final evaluation of a data-parallel run: a failure on one rank stops every rank at once.

Each rank evaluates its share and rank 0 gathers the errors; a rank whose share fails must not
leave rank 0 waiting at the gather until the process group's timeout.
"""

from pathlib import Path

import ase
import torch
import torch.distributed as dist

from irreps.data import GraphDataset, atoms_to_graph
from irreps.train.distributed import init_world
from irreps.train.evaluation import evaluate_set
from irreps.train.launch import Launch, run_local


class _FailsOnRankOne(torch.nn.Module):
    def forward(self, graph, compute_forces=False, compute_stress=False):
        if dist.get_rank() == 1:
            raise ValueError("broken share")
        return {"energy": torch.zeros(graph.num_graphs, dtype=torch.float64)}


def _hydrogen():
    graph = atoms_to_graph(ase.Atoms("H", positions=[[0.0, 0.0, 0.0]]), 3.0, keys=None, dtype=torch.float64)
    graph.targets = {"energy": torch.tensor([0.0], dtype=torch.float64)}
    return graph


def _rank_evaluates(launch: Launch, folder: Path) -> None:
    # A short timeout: without the agreement, rank 0 would wait this long at the gather and fail on it.
    world = init_world(launch.rank, launch.world_size, torch.device("cpu"), launch.init_method, timeout_minutes=0.5)
    try:
        evaluate_set(_FailsOnRankOne(), GraphDataset([_hydrogen() for _ in range(4)]), 4, {}, world)
        message = "no error"
    except Exception as err:
        message = f"{type(err).__name__}: {err}"
    finally:
        dist.destroy_process_group()
    (folder / f"rank{launch.rank}.txt").write_text(message)


def test_a_failing_share_stops_every_rank(tmp_path):
    run_local(2, 1, _rank_evaluates, (tmp_path,))
    assert (tmp_path / "rank1.txt").read_text() == "ValueError: broken share"
    assert (tmp_path / "rank0.txt").read_text() == (
        "RuntimeError: evaluating the final model failed on 1 other process(es) of the run: see their errors")
