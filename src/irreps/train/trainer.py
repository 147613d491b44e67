"""The training loop: optimiser, schedule, EMA, clipping, validation, logs and checkpoints.

The trainer knows a model only as a module that maps an :class:`~irreps.data.graph.AtomicGraph`
to a dict of predictions (``model(graph, compute_forces=..., compute_stress=...)``). One epoch
is a pass over the shuffled training set followed by a validation pass with the EMA weights;
after it the per-epoch row is appended to ``metrics.csv`` / ``metrics.json`` and the ``last``
checkpoint (and ``best`` when validation improved) is written, atomically.

Everything that decides the rest of the run is in :meth:`Trainer.state_dict` (weights,
optimiser moments, schedule, EMA, the shuffling generator and the global generators, epoch,
history), so ``--resume`` continues exactly where a run stopped.

SIGINT (Ctrl-C) or SIGTERM during :meth:`Trainer.fit` stops it after the current training step
(:mod:`irreps.train.signals`); :attr:`Trainer.stopped_by` then names the signal. A signal
that arrives between epochs stops the run once that epoch's checkpoint is written; one within
an epoch drops that epoch's unfinished work, and ``--resume`` starts again from the later of the
``last`` and ``best`` checkpoints (:attr:`Trainer.checkpoint_epoch`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

import torch

from irreps.data.batch import collate
from irreps.data.graph import AtomicGraph
from irreps.data.loader import GraphLoader
from irreps.io import write_atomic
from irreps.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from irreps.train.compiled_step import CompiledStep
from irreps.train.config import LossConfig, OptimConfig, RunConfig
from irreps.train.distributed import DataParallel, World
from irreps.train.ema import ExponentialMovingAverage
from irreps.train.losses import WeightedLoss
from irreps.train.metrics import ErrorAccumulator
from irreps.train.progress import progress_bar
from irreps.train.recovery import Recovery, gradient_norm, nonfinite_step
from irreps.train.schedule import LRSchedule
from irreps.train.signals import StopSignals
from irreps.train.validation import validation_row, validation_sums


def build_optimizer(model: torch.nn.Module, optim: OptimConfig) -> torch.optim.Optimizer:
    """AdamW, or AdamW with the AMSGrad correction, over the trainable parameters.

    The fused implementation (one kernel for every parameter) when the parameters allow it:
    the same update as the per-parameter loop up to rounding, ~2.5x cheaper on a CPU (2 against
    5 ms for TensorNet's 754k parameters in 46 tensors, one thread).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    fused = all(p.device.type in ("cpu", "cuda") and p.dtype in (torch.float32, torch.float64) for p in params)
    return torch.optim.AdamW(
        params, lr=optim.lr, weight_decay=optim.weight_decay, amsgrad=optim.optimizer == "amsgrad", fused=fused or None,
    )


def collect_errors(model: torch.nn.Module, batches: Any, flags: dict[str, bool] | None = None) -> ErrorAccumulator:
    """Run ``model`` over ``batches`` (an iterable of graphs; ``None``, an empty share, is
    skipped) and collect its errors.

    ``flags`` are the keyword arguments of the model call (default: forces, no stress).
    Gradients with respect to positions are still needed for forces, so autograd stays on;
    parameter gradients are never accumulated because nothing calls ``backward``.
    """
    flags = flags if flags is not None else {"compute_forces": True, "compute_stress": False}
    errors = ErrorAccumulator()
    for batch in batches:
        if batch is None:  # a data-parallel rank's empty share of a batch
            continue
        pred = model(batch, **flags)
        errors.update({k: v.detach() for k, v in pred.items()}, batch)
    return errors


def cpu_seconds() -> float:
    """CPU time (user + system, all threads) of this process and of its children that have
    ended: with ``run.clock=cpu`` the C++ compiler's processes of a compiled training step
    count against ``run.max_minutes`` as the process's own work does."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def one_off_seconds(steps: Sequence[float]) -> float:
    """The time in ``steps`` (durations) that the next epoch will not spend again: what steps
    over five times the median step took beyond it (the capture and compilation of a compiled
    training step, minutes for large models). Without it, the first epoch of a compiled run
    would predict every later one as long and could stop the run after one epoch."""
    if len(steps) < 3:
        return 0.0
    typical = sorted(steps)[len(steps) // 2]
    return sum(step - typical for step in steps if step > 5.0 * typical)


class Trainer:
    """Fits a model on graphs already in the training dtype and device.

    Parameters
    ----------
    model : torch.nn.Module
    train_set, valid_set : sequence of AtomicGraph
        Single structures (collated into batches here).
    optim, loss, run : OptimConfig, LossConfig, RunConfig
    batch_size, valid_batch_size : int
    run_dir : Path, optional
        Where logs and checkpoints go; nothing is written when omitted.
    log : callable
        Receives one line of text per epoch.
    world : World, optional
        This process's place in a data-parallel run (:mod:`irreps.train.distributed`): each
        training and validation batch is shared out over the ranks and the model trained under
        DDP. Only rank 0 should get ``run_dir``.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        train_set: Sequence[AtomicGraph],
        valid_set: Sequence[AtomicGraph],
        optim: OptimConfig,
        loss: LossConfig,
        run: RunConfig,
        batch_size: int,
        valid_batch_size: int,
        run_dir: Path | None = None,
        log: Callable[[str], None] = print,
        world: World | None = None,
    ):
        self.model = model
        self.world = world
        self.optim_config, self.run_config = optim, run
        self.loss = WeightedLoss(loss.weights(), loss.kind, loss.huber_delta)
        self.direct_loss = WeightedLoss(loss.weights(), loss.kind, loss.huber_delta, direct_forces=True)
        self.direct_forces_epochs = loss.direct_forces_epochs
        losses = [self.loss] + ([self.direct_loss] if self.direct_forces_epochs else [])
        self.compiled_step = CompiledStep(model, self.loss, run.compile_backend) if run.compile else None
        stand_in = collate([train_set[0]])
        self.parallel = DataParallel(world, model, stand_in, losses, self.compiled_step, run.seed) if world is not None else None
        share = (world.rank, world.size) if world is not None else None
        self.train_loader = GraphLoader(train_set, batch_size, shuffle=True, seed=run.seed, share=share)
        self.valid_loader = GraphLoader(valid_set, valid_batch_size, share=share)
        self.optimizer = build_optimizer(model, optim)
        steps = len(self.train_loader)
        time_budget = 60.0 * run.max_minutes if optim.cosine_over == "time" else None
        self.schedule = LRSchedule(
            self.optimizer, optim.schedule, optim.lr, total_steps=steps * run.epochs,
            warmup_steps=round(optim.warmup_epochs * steps), min_lr=optim.min_lr,
            factor=optim.plateau_factor, patience=optim.plateau_patience, total_seconds=time_budget,
        )
        self.ema = ExponentialMovingAverage(model, optim.ema_decay) if optim.ema_decay is not None else None
        self.recovery = Recovery(model, self.optimizer, self.ema, self.schedule, optim.nonfinite_retries, log)
        self.run_dir = run_dir
        self.log = log
        self.epoch = 0
        self.history: list[dict[str, float]] = []
        self.best_loss = math.inf
        self.best_epoch = 0
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.train_seconds = 0.0
        # run.clock: wall time, or the CPU time of this process and its finished children (a
        # budget that a busy machine does not shrink)
        self._clock = cpu_seconds if run.clock == "cpu" else time.monotonic
        self._one_off_seconds = 0.0  # of the last epoch, for _next_epoch_overruns
        self._epoch_start = self._clock()
        self.signals = StopSignals()
        self.stopped_by: str | None = None
        self.checkpoint_epoch = 0

    # -- one epoch -----------------------------------------------------------------------------
    def train_epoch(self) -> dict[str, float]:
        """One pass over the shuffled training set; mean loss and terms over its batches.

        Forces come from the direct force head during the first ``loss.direct_forces_epochs``.
        With ``run.compile`` the other epochs run the compiled step (same loss and gradients).
        A stop signal (:attr:`signals`) ends the epoch after the current step and sets
        :attr:`stopped_by`. A step with a non-finite loss or gradient is skipped and the
        epoch goes on from its start's state at half the rate (:mod:`irreps.train.recovery`);
        the means then cover the steps since.
        """
        self.model.train()
        loss = self.direct_loss if self.epoch < self.direct_forces_epochs else self.loss
        sums: dict[str, float] = {}
        steps = 0
        clip = self.optim_config.grad_clip
        self.recovery.mark_good()
        bar = progress_bar(len(self.train_loader), f"epoch {self.epoch + 1}", self.run_config.progress)
        step_ends = [self._clock()]
        for index, batch in enumerate(self.train_loader):
            self.optimizer.zero_grad(set_to_none=True)
            if self.parallel is not None:  # batch None: this rank's share of a short last batch is empty
                total, terms = self.parallel.backward(loss, batch, (self.epoch, index))
            elif self.compiled_step is not None and loss is self.loss:
                total, terms = self.compiled_step(batch)
            else:
                pred = self.model(batch, **loss.prediction_flags())
                total, terms = loss(pred, batch)
                total.backward()
            step_ends.append(self._clock())
            clock = self.train_seconds + step_ends[-1] - self._epoch_start
            stop = self.signals.received is not None
            if self.parallel is not None:
                total, terms, clock, stop = self.parallel.reduce(total, terms, clock, stop)
            problem = nonfinite_step(total, gradient_norm(self.model.parameters(), clip))
            if problem is not None:
                self.recovery.recover(f"epoch {self.epoch + 1}, step {index + 1}: {problem}")
                sums, steps = {}, 0
                continue
            self.optimizer.step()
            self.schedule.step(clock)
            if self.ema is not None:
                self.ema.update(self.model)
            for key, value in {"loss": total, **terms}.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach())
            steps += 1
            bar.update(f"loss {float(total.detach()):.4g}")
            if stop:
                self.stopped_by = self._signal_name()
                break
        bar.close()
        self._one_off_seconds = one_off_seconds([b - a for a, b in zip(step_ends, step_ends[1:])])
        return {f"train_{k}": v / steps for k, v in sums.items()}

    def _signal_name(self) -> str:
        """The name of the signal received; in a data-parallel run one that reached only
        another process counts as SIGTERM (a scheduler's)."""
        received = self.signals.received
        return received.name if received is not None else "SIGTERM"

    def _stop_requested(self) -> bool:
        """Whether a process of the run received a stop signal (all processes agree)."""
        stop = float(self.signals.received is not None)
        return (stop if self.world is None else self.world.mean(stop)) > 0

    def _agree(self, seconds: float) -> float:
        """A clock reading every process of a data-parallel run agrees on (their mean)."""
        return seconds if self.world is None else self.world.mean(seconds)

    def evaluate(self, batches: Any) -> ErrorAccumulator:
        """Errors of the model (with the EMA weights when enabled) over ``batches``."""
        self.model.eval()
        if self.ema is None:
            return collect_errors(self.model, batches, self.loss.prediction_flags())
        with self.ema.swapped_into(self.model):
            return collect_errors(self.model, batches, self.loss.prediction_flags())

    def validate(self) -> dict[str, float]:
        """Validation loss, terms and errors (eV units) over the whole validation set as a flat
        row. In a data-parallel run each rank evaluates its share of each validation batch and
        the sums are added up over the ranks (:mod:`irreps.train.validation`)."""
        sums = validation_sums(self.loss, self.evaluate(self.valid_loader))
        if self.world is not None:
            sums = self.world.add_up(sums)
        return validation_row(self.loss, sums)

    # -- the run -------------------------------------------------------------------------------
    def fit(self) -> list[dict[str, float]]:
        """Train until ``run.epochs`` (or ``run.max_minutes``, or a stop signal: see the module
        docstring); returns the per-epoch history."""
        with self.signals:
            return self._fit()

    def _fit(self) -> list[dict[str, float]]:
        started = self._clock()
        self.stopped_by = None
        while self.epoch < self.run_config.epochs:
            tick = self._epoch_start = self._clock()
            row = {"epoch": self.epoch + 1, "lr": self.schedule.current_lr()}
            row.update(self.train_epoch())
            if self.stopped_by is not None:
                self.log(f"{self.stopped_by} received: stopped during epoch {self.epoch + 1}, which is dropped")
                break
            valid = self.validate()
            row.update(valid)
            self.schedule.end_epoch(valid["valid_loss"])
            self.epoch += 1
            epoch_seconds = self._agree(self._clock() - tick)
            self.train_seconds += epoch_seconds
            row["seconds"] = self.train_seconds
            self.history.append(row)
            improved = valid["valid_loss"] < self.best_loss
            if improved:
                self.best_loss, self.best_epoch = valid["valid_loss"], self.epoch
                self.best_weights = self.averaged_weights()
            out_of_time = self._next_epoch_overruns(started, epoch_seconds - self._agree(self._one_off_seconds))
            signalled = self._stop_requested()
            self._write_epoch(improved, stopping=out_of_time or signalled)
            self.log(self._summary(row, improved))
            if signalled:
                self.stopped_by = self._signal_name()
                self.log(f"{self.stopped_by} received: stopped after epoch {self.epoch}")
                break
            if out_of_time:
                self.log(f"stopping after epoch {self.epoch}: another epoch would end past run.max_minutes="
                         f"{self.run_config.max_minutes}{self._unfinished_decay()}")
                break
        else:
            if self.schedule.total_seconds is not None and self.schedule.progress() < 1.0:
                self.log(f"run.epochs={self.run_config.epochs} reached after {self.train_seconds:.0f} s of the "
                         f"{self.schedule.total_seconds:.0f} s the cosine spans (lr {self.schedule.current_lr():.2e}): "
                         "raise run.epochs to use the whole run.max_minutes")
        return self.history

    def _next_epoch_overruns(self, started: float, epoch_seconds: float) -> bool:
        """Whether one more epoch, ``epoch_seconds`` long, would end past ``run.max_minutes``.

        The limit is kept, not passed by up to an epoch: a scheduler's wall-time limit or a CPU
        cap (the side-by-side benchmark's) then still leaves the final evaluation and
        ``model.pt`` their time. With the cosine over time the limit is the training time summed
        over every session of the run, as the schedule counts it.
        """
        if self.schedule.total_seconds is not None:
            return self.train_seconds + epoch_seconds > self.schedule.total_seconds
        minutes = self.run_config.max_minutes
        return minutes is not None and self._agree(self._clock() - started) + epoch_seconds > 60.0 * minutes

    def _unfinished_decay(self) -> str:
        """A hint when the time limit cut a cosine decay short (the rate is still high)."""
        if self.optim_config.schedule != "cosine" or self.epoch >= self.run_config.epochs or self.schedule.total_seconds is not None:
            return ""
        return (f"; the cosine decay was at epoch {self.epoch} of {self.run_config.epochs} (lr "
                f"{self.schedule.current_lr():.2e}): lower run.epochs so that it ends within run.max_minutes")

    def averaged_weights(self) -> dict[str, torch.Tensor]:
        """The model's state dict with the EMA parameters in place (a detached copy)."""
        if self.ema is None:
            return {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        with self.ema.swapped_into(self.model):
            return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def _summary(self, row: dict[str, float], improved: bool) -> str:
        parts = [f"epoch {int(row['epoch']):4d}", f"lr {row['lr']:.2e}", f"train {row['train_loss']:.4g}",
                 f"valid {row['valid_loss']:.4g}"]
        if "valid_energy_per_atom_rmse" in row:
            parts.append(f"E RMSE {1000 * row['valid_energy_per_atom_rmse']:.3f} meV/atom")
        if "valid_forces_rmse" in row:
            parts.append(f"F RMSE {1000 * row['valid_forces_rmse']:.2f} meV/Å")
        parts.append(f"{row['seconds']:.0f} s" + ("  *" if improved else ""))
        return "  ".join(parts)

    # -- files ---------------------------------------------------------------------------------
    def _write_epoch(self, improved: bool, stopping: bool = False) -> None:
        if self.run_dir is None:
            return
        write_atomic(self.run_dir / "metrics.csv", history_csv(self.history))
        summary = {"history": self.history, "best_epoch": self.best_epoch, "best_valid_loss": self.best_loss}
        write_atomic(self.run_dir / "metrics.json", json.dumps(summary, indent=1))
        save_last = stopping or self.epoch == self.run_config.epochs or self.epoch % self.run_config.checkpoint_every == 0
        if not (save_last or improved):
            return
        state = self.state_dict()
        if save_last:
            save_checkpoint(self.run_dir / "checkpoints" / "last.pt", state)
            self.checkpoint_epoch = self.epoch
        if improved:
            save_checkpoint(self.run_dir / "checkpoints" / "best.pt", state)
            self.checkpoint_epoch = self.epoch

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the run exactly."""
        return {
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "shuffle_generator": self.train_loader.generator.get_state(),
            "rng": rng_state(),
            "history": self.history,
            "best_loss": self.best_loss,
            "best_epoch": self.best_epoch,
            "best_weights": self.best_weights,
            "train_seconds": self.train_seconds,
            "recoveries": self.recovery.used,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        if (state["ema"] is None) != (self.ema is None):
            raise ValueError("the checkpoint and the config disagree on optim.ema_decay being null")
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.train_loader.generator.set_state(state["shuffle_generator"])
        set_rng_state(state["rng"])
        self.epoch = int(state["epoch"])
        self.history = [dict(row) for row in state["history"]]
        self.best_loss = float(state["best_loss"])
        self.best_epoch = int(state["best_epoch"])
        self.best_weights = state["best_weights"]
        self.train_seconds = float(state["train_seconds"])
        self.recovery.used = int(state.get("recoveries", 0))  # absent in checkpoints of older versions

    def resume(self, path: str | Path) -> None:
        """Load the checkpoint at ``path`` and continue from its epoch."""
        self.load_state_dict(load_checkpoint(path))
        self.checkpoint_epoch = self.epoch
        self.log(f"resumed from {path} at epoch {self.epoch}")


def history_csv(history: Sequence[dict[str, float]]) -> str:
    """The per-epoch rows as CSV text (columns in first-seen order)."""
    columns: list[str] = []
    for row in history:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return buffer.getvalue()
