"""Data-parallel training on torch.distributed: the process group and the shared training step.

Every process (rank) of a run holds the whole model and trains on its share of each batch of
``data.batch_size`` structures (:class:`~irreps.data.loader.GraphLoader`'s ``share``: one
global shuffle, each batch cut into near-equal consecutive parts). The model is wrapped in
``DistributedDataParallel``, whose bucketed all-reduce (gloo on CPUs, NCCL on GPUs) averages
the gradients while the backward pass runs. Forces by autograd (``create_graph``) suit it:
the inner ``torch.autograd.grad`` with respect to the positions does not run the parameters'
gradient accumulators that DDP hooks into, so each parameter's hook fires once, in the
outer backward (checked for TensorNet and EquiformerV2 in tests/train/test_distributed.py).

The gradient equals that of the whole batch in one process, whatever the shares' sizes: each
rank divides the sum of its share's penalties by the whole batch's number of entries (one
small all-reduce of the counts per step) and multiplies by the world size, which DDP's
average divides out again (fairchem's ``DDPLoss`` does the same). A rank whose share of a
short last batch is empty still takes part: it runs a stand-in structure with weight 0.

With ``run.compile`` the step computes the parameters' gradients inside its compiled program
(:mod:`irreps.train.compiled_step`), without autograd's gradient accumulators, so DDP's hooks
would never fire. DDP therefore wraps :class:`_Replica`, which also offers the linear form
``sum_p <p, g_p>`` of the compiled gradients ``g_p`` (held constant): its backward puts exactly
``g_p`` into each parameter's accumulator, and DDP averages it with the same bucketed all-reduce.
The compiled loss terms are scaled by the whole batch's entries, as the eager ones are.

Random draws in training (dropout, EquiformerV2's drop path) differ between ranks: each rank
draws a step's masks from torch's generator seeded with :func:`step_seed` (``run.seed``, the
rank, the epoch and the step), inside ``torch.random.fork_rng`` so that the global generator
(identical on every rank, and the one checkpoints keep) is left as it was. The masks then
depend on the seed, the world size and the step alone: a run is reproducible and continues
identically after ``--resume`` under the same world size. The model's initial weights are
drawn before, from the global generator seeded alike on every rank (and DDP broadcasts rank
0's anyway).

After the backward pass one more all-reduce sums the loss terms (every rank logs the
whole batch's loss), averages the clock (so time limits and the time-spanning cosine agree)
and spreads a stop signal that reached one rank to all. Everything that decides a step
(clipping, skipping a non-finite step, the optimiser, schedule and EMA) then sees identical
numbers on every rank, so the weights stay identical without being sent again.
"""

from __future__ import annotations

import contextlib
import datetime
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from irreps.data.graph import AtomicGraph
from irreps.train.compiled_step import CompiledStep
from irreps.train.losses import WeightedLoss


@dataclass(frozen=True)
class World:
    """This process's place in an initialised process group: ``rank`` of ``size``, its device."""

    rank: int
    size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs and writes the run directory."""
        return self.rank == 0

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """The element-wise sum of ``values`` (float64, any shape) over the ranks, on the CPU."""
        buffer = values.detach().to(device=self.device, dtype=torch.float64).clone()
        dist.all_reduce(buffer)
        return buffer.cpu()

    def mean(self, value: float) -> float:
        """The mean of ``value`` over the ranks (clock readings, so that decisions agree)."""
        return float(self.sum(torch.tensor([value]))) / self.size

    def add_up(self, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The sum over the ranks of ``values`` (tensors by name, float64 on the CPU), where a rank
        may lack names (one whose share was empty). Gathered and added in rank order, so every
        rank gets the same numbers."""
        parts = self.everyone({name: v.detach().to(device="cpu", dtype=torch.float64) for name, v in values.items()})
        total: dict[str, torch.Tensor] = {}
        for part in parts:
            for name, value in part.items():
                total[name] = total[name] + value if name in total else value
        return total

    def everyone(self, value: Any) -> list[Any]:
        """Every rank's ``value`` (picklable), in rank order, on every rank."""
        parts: list[Any] = [None] * self.size
        dist.all_gather_object(parts, value)
        return parts

    def gather(self, value: Any) -> list[Any] | None:
        """Every rank's ``value`` (picklable), in rank order, on rank 0; ``None`` on the others."""
        parts: list[Any] | None = [None] * self.size if self.is_main else None
        dist.gather_object(value, parts, dst=0)
        return parts

    def agree(self, error: BaseException | None, what: str) -> None:
        """Raise on every rank when ``what`` failed on any: ``error`` itself where it happened,
        a ``RuntimeError`` naming the failure elsewhere (instead of waiting at the next
        collective until the timeout)."""
        failed = int(self.sum(torch.tensor([float(error is not None)])))
        if error is not None:
            raise error
        if failed:
            raise RuntimeError(f"{what} failed on {failed} other process(es) of the run: see their errors")


def init_world(rank: int, size: int, device: torch.device, init_method: str, timeout_minutes: float = 30.0) -> World:
    """Join the process group (NCCL for a CUDA ``device``, gloo otherwise) and return the
    :class:`World`. ``init_method`` is ``env://`` (torchrun, srun) or a ``file://`` store."""
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(
        backend, init_method=init_method, rank=rank, world_size=size,
        timeout=datetime.timedelta(minutes=timeout_minutes),
    )
    return World(rank, size, device)


def step_seed(seed: int, rank: int, epoch: int, step: int) -> int:
    """The seed of ``rank``'s random draws in training step ``step`` of epoch ``epoch`` (from 0)
    of a run seeded ``seed``: distinct streams for distinct (rank, epoch, step), mixed by NumPy's
    ``SeedSequence`` so that neighbouring ranks and steps get unrelated masks."""
    entropy = [seed % 2**64, rank, epoch, step]
    if min(entropy[1:]) < 0:
        raise ValueError(f"rank, epoch and step must be non-negative, got {entropy[1:]}")
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0])


def _some_unused(model: torch.nn.Module, graph: AtomicGraph, losses: Sequence[WeightedLoss]) -> bool:
    """Whether one of ``losses`` leaves a trainable parameter without gradient (the direct force
    head after ``loss.direct_forces_epochs``, a dipole head without a dipole term): DDP must
    then search for unused parameters every step, and only then (it warns that the search
    is wasted otherwise)."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    try:
        for loss in losses:
            model.zero_grad(set_to_none=True)
            total, _ = loss(model(graph, **loss.prediction_flags()), graph)
            total.backward()
            if any(p.grad is None for p in trainable):
                return True
        return False
    finally:
        model.zero_grad(set_to_none=True)


class _Replica(torch.nn.Module):
    """What DDP wraps: the model's forward, or with ``gradients=`` (one per parameter named in
    ``names``) the linear form ``sum_p <p, g_p>``, whose backward hands each parameter its
    ``g_p`` through autograd's accumulator, where DDP's reducer is hooked in."""

    def __init__(self, model: torch.nn.Module, names: Sequence[str]):
        super().__init__()
        self.model = model
        self.names = list(names)

    def forward(self, *args, gradients: Sequence[torch.Tensor] | None = None, **kwargs):
        if gradients is None:
            return self.model(*args, **kwargs)
        parameters = dict(self.model.named_parameters())
        return torch.stack([(parameters[name] * g.detach()).sum() for name, g in zip(self.names, gradients)]).sum()


class DataParallel:
    """A model under ``DistributedDataParallel`` and the step of a rank's share of a batch.

    Parameters
    ----------
    world : World
    model : torch.nn.Module
        On ``world.device``; its parameters and buffers are made rank 0's here.
    stand_in : AtomicGraph
        Any training structure: run with weight 0 when this rank's share is empty.
    losses : sequence of WeightedLoss
        Every loss the run trains with, to find parameters one of them does not reach.
    compiled : CompiledStep, optional
        The compiled step of ``model`` (``run.compile``): :meth:`backward` runs it for its loss.
    seed : int
        ``run.seed``: with the rank and the step it seeds each step's dropout (:func:`step_seed`).
    """

    def __init__(
        self, world: World, model: torch.nn.Module, stand_in: AtomicGraph, losses: Sequence[WeightedLoss],
        compiled: CompiledStep | None = None, seed: int = 0,
    ):
        self.world = world
        self.seed = seed
        self.stand_in = stand_in
        self.compiled = compiled
        names = compiled.names if compiled is not None else []
        self.module = DistributedDataParallel(
            _Replica(model, names), device_ids=[world.device.index] if world.device.type == "cuda" else None,
            find_unused_parameters=_some_unused(model, stand_in, losses), forward_sync_buffers=False,
            gradient_as_bucket_view=True,
        )

    def backward(
        self, loss: WeightedLoss, batch: AtomicGraph | None, step: tuple[int, int] = (0, 0)
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Forward and backward of this rank's share (``None``: empty); the gradients left in
        ``.grad`` are the whole batch's. Returns this share's part of the whole batch's loss
        and terms (:meth:`reduce` adds the parts up). ``step`` (epoch, step in it) seeds this
        rank's dropout (:func:`step_seed`)."""
        with self._own_randomness(*step):
            return self._backward_share(loss, batch)

    @contextlib.contextmanager
    def _own_randomness(self, epoch: int, step: int) -> Iterator[None]:
        """torch's CPU generator (and this rank's GPU's) seeded for this rank and step, restored after."""
        cuda = self.world.device.type == "cuda"
        with torch.random.fork_rng(devices=[self.world.device] if cuda else [], device_type="cuda"):
            seed = step_seed(self.seed, self.world.rank, epoch, step)
            torch.default_generator.manual_seed(seed)  # not torch.manual_seed: it visits every backend (0.25 ms)
            if cuda:
                torch.cuda.manual_seed(seed)  # the current device, this rank's (init_world sets it)
            yield

    def _backward_share(self, loss: WeightedLoss, batch: AtomicGraph | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        weight = 0.0 if batch is None else 1.0
        graph = self.stand_in if batch is None else batch
        if self.compiled is not None and loss is self.compiled.loss:
            total_counts = self.world.sum(weight * torch.tensor([float(n) for n in self.compiled.counts(graph)]))
            total, terms, gradients = self.compiled.gradients(graph, weight / total_counts)
            self._backward(self.module(gradients=[self.world.size * g for g in gradients]))
            return total, terms
        pred = self.module(graph, **loss.prediction_flags())
        sums, counts = loss.sums(pred, graph)
        total_counts = self.world.sum(weight * torch.tensor([float(counts[k]) for k in sums]))
        terms = {k: weight * value / float(n) for (k, value), n in zip(sums.items(), total_counts)}
        total = loss.total(terms)
        self._backward(self.world.size * total)
        return total.detach(), {k: v.detach() for k, v in terms.items()}

    @staticmethod
    def _backward(output: torch.Tensor) -> None:
        with warnings.catch_warnings():
            # DDP's one-time hint when a gradient's strides differ from its bucket's (a [1, k]
            # parameter whose gradient autograd lays out as a column): a copy, not an error
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
            output.backward()

    def reduce(
        self, total: torch.Tensor, terms: dict[str, torch.Tensor], clock: float, stop: bool
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], float, bool]:
        """The whole batch's loss and terms, the ranks' mean ``clock``, and ``stop`` on any rank."""
        parts = torch.stack([total.double().cpu(), *(v.double().cpu() for v in terms.values())])
        summed = self.world.sum(torch.cat([parts, torch.tensor([clock, float(stop)])]))
        whole = dict(zip(terms, summed[1 : 1 + len(terms)]))
        return summed[0], whole, float(summed[-2]) / self.world.size, bool(summed[-1] > 0)
