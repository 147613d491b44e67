"""Where the processes of a data-parallel run come from: torchrun, srun, or ``run.processes``.

``irreps train`` needs no flag to run data-parallel: started by ``torchrun --nproc-per-node M``
(which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) or by
``srun`` (``SLURM_PROCID``, ``SLURM_NTASKS``, ``SLURM_LOCALID``; the batch script exports
``MASTER_ADDR`` and ``MASTER_PORT``) each process finds its rank here and joins the group.
torchrun's variables win over SLURM's, so ``srun torchrun ...`` works too. A world of one
process is a plain run.

``run.processes: N`` is the convenience for one machine without a launcher: :func:`run_local`
starts N - 1 processes with ``spawn``, hands each its rank and a file store, and runs the
same code path as torchrun would (this process is rank 0). It trains on CPUs only.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch


@dataclass(frozen=True)
class Launch:
    """This process's rank among ``world_size``, its rank on its node, and how to meet the others."""

    rank: int
    world_size: int
    local_rank: int
    init_method: str = "env://"


def _integer(env: Mapping[str, str], name: str) -> int:
    try:
        return int(env[name])
    except ValueError:
        raise ValueError(f"environment variable {name}={env[name]!r} is not an integer") from None


def launch_from_environment(env: Mapping[str, str] | None = None) -> Launch | None:
    """The :class:`Launch` that torchrun's or srun's variables describe; ``None`` for a single
    process (no such variables, or a world of one)."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" in env and "RANK" in env:
        names = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
    elif "SLURM_NTASKS" in env and "SLURM_PROCID" in env:
        names = ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID")
    else:
        return None
    rank, size = _integer(env, names[0]), _integer(env, names[1])
    local = _integer(env, names[2]) if names[2] in env else rank
    if size <= 1:
        return None
    if not 0 <= rank < size:
        raise ValueError(f"{names[0]}={rank} is not a rank of {names[1]}={size}")
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if name not in env]
    if missing:
        raise ValueError(
            f"{names[1]}={size} asks for a data-parallel run but {' and '.join(missing)} is not set: under srun "
            "export MASTER_ADDR=$(scontrol show hostnames $SLURM_JOB_NODELIST | head -n 1) and MASTER_PORT=29500 "
            "in the batch script (torchrun sets both)"
        )
    return Launch(rank, size, local)


def _threads(threads: int | None, processes: int) -> int:
    """``run.threads`` when set, else the cores shared out (at least one each)."""
    return threads if threads is not None else max(1, (os.cpu_count() or 1) // processes)


def _child(threads: int, launch: Launch, target: Callable[..., Any], args: tuple) -> None:
    torch.set_num_threads(threads)
    target(launch, *args)


def run_local(processes: int, threads: int | None, target: Callable[..., Any], args: tuple, **local: Any) -> Any:
    """``target(Launch(rank, ...), *args)`` in ``processes`` processes on this machine; this
    process is rank 0, called with the keyword arguments ``local`` too, and its result is returned.

    ``target`` must be a module-level function and ``args`` picklable. Each process uses
    ``threads`` threads (null: the cores shared out). When rank 0 fails the others are ended;
    when another fails, rank 0's next collective raises after the process group's timeout.
    """
    if processes < 2:
        raise ValueError(f"run_local needs at least 2 processes, got {processes}")
    per_process = _threads(threads, processes)
    context = torch.multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="irreps-dp-") as folder:
        store = f"file://{Path(folder) / 'store'}"
        children = [
            context.Process(target=_child, daemon=True, args=(per_process, Launch(rank, processes, rank, store), target, args))
            for rank in range(1, processes)
        ]
        for child in children:
            child.start()
        previous = torch.get_num_threads()
        torch.set_num_threads(per_process)
        try:
            result = target(Launch(0, processes, 0, store), *args, **local)
        except BaseException:
            for child in children:
                child.terminate()
            raise
        finally:
            torch.set_num_threads(previous)
        for child in children:
            child.join()
        failed = [child.exitcode for child in children if child.exitcode != 0]
        if failed:
            raise RuntimeError(f"a training process exited with code {failed[0]}")
    return result
