"""A whole training run from a :class:`~irreps.train.config.TrainConfig`.

``train(config)`` prepares the data, builds the model (filling in what the data determines:
elements, E0s, energy scale and shift, cutoff), fits it with :class:`~irreps.train.trainer.Trainer`,
writes the final model file (the EMA weights of the best validation epoch) with
:func:`irreps.models.save_model`, evaluates it on the validation and test sets and draws the
plots. The run directory ends up holding::

    config.yaml  model.pt  metrics.csv  metrics.json  learning_curve.png
    valid_metrics.json  valid_parity.png  test_metrics.json  test_parity.png
    checkpoints/last.pt  checkpoints/best.pt  .lock
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist

import irreps
from irreps.config import config_to_dict
from irreps.models import build_model, save_model
from irreps.models.domain import SHORTEST_DISTANCES, encode_shortest_distances
from irreps.models.registry import model_entry
from irreps.io import write_atomic
from irreps.train.checkpoint import latest_checkpoint
from irreps.train.config import TrainConfig, dump_config
from irreps.train.distributed import World, init_world
from irreps.train.launch import Launch, launch_from_environment, run_local
from irreps.train.losses import WeightedLoss
from irreps.train.evaluation import evaluate_set, write_evaluation
from irreps.train.plots import plot_learning_curve
from irreps.train.prepare import PreparedData, prepare_data
from irreps.train.run_dir import check_run_dir, claim_run_dir
from irreps.train.trainer import Trainer

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class TrainingResult:
    """What a finished run produced (paths, history and metrics in eV units).

    A run stopped by SIGINT or SIGTERM has ``stopped_by`` set (the signal's name), no
    metrics, ``model_path`` None when no epoch had finished, and ``checkpoint_epoch``, the
    epoch ``--resume`` continues from (0: there is no checkpoint to resume). In a data-parallel
    run only rank 0's result has files and metrics; ``rank`` says whose result it is.
    """

    run_dir: Path
    model_path: Path | None
    history: list[dict[str, float]]
    best_epoch: int
    valid_metrics: dict[str, Any] | None
    test_metrics: dict[str, Any] | None
    stopped_by: str | None = None
    checkpoint_epoch: int = 0
    rank: int = 0


def resolve_device(text: str) -> torch.device:
    """``auto`` (CUDA when available) or any torch device string."""
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(text)
    except RuntimeError as err:
        raise ValueError(f"run.device: {text!r} is not a device ({err})") from err


def default_run_dir(config: TrainConfig) -> Path:
    """``run.output_dir/run.name``, the name defaulting to the current time stamp."""
    name = config.run.name or datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(config.run.output_dir) / name


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def model_options(config: TrainConfig, data: PreparedData) -> dict[str, Any]:
    """The architecture's options with the data-determined fields filled in.

    Fields the architecture's config declares and the user left out are set from the data:
    ``elements``, ``e0s`` (in ``elements`` order), ``shift`` (mean per-atom energy after E0),
    ``shift_with_neighbours`` (on with isolated-atom E0s: the shift is weighted by each atom's
    neighbour occupancy, so an atom without neighbours predicts its E0 and a molecule
    dissociates to ``sum E0``), ``scale`` (RMS force, or the per-atom energy spread without forces), ``cutoff``
    (``data.cutoff``), ``avg_degree`` (mean neighbours per atom within it) and ``direct_forces`` (on when
    ``loss.direct_forces_epochs`` > 0).
    """
    stats = data.statistics
    missing = sorted(set(stats.elements) - set(data.e0s))
    if missing:
        raise ValueError(f"no E0 for atomic numbers {missing}: add them to data.isolated_atoms_file")
    declared = {f.name for f in dataclasses.fields(model_entry(config.model.name).config_cls)}
    scale = stats.forces_rms if stats.forces_rms else stats.energy_per_atom_std
    if config.loss.direct_forces_epochs and "direct_forces" not in declared:
        raise ValueError(
            f"loss.direct_forces_epochs needs a model with a direct force head; {config.model.name} has none"
        )
    derived = {
        "elements": list(stats.elements),
        "e0s": [data.e0s[z] for z in stats.elements],
        "shift": stats.energy_shift,
        "shift_with_neighbours": data.isolated_e0s,
        "scale": scale if scale > 0 else 1.0,
        "cutoff": config.data.cutoff,
        "avg_degree": stats.avg_num_neighbors,
        "direct_forces": config.loss.direct_forces_epochs > 0,
    }
    options = dict(config.model.options)
    for name, value in derived.items():
        if name in declared and name not in options:
            options[name] = value
    if float(options.get("cutoff", 0.0)) > config.data.cutoff:
        raise ValueError(
            f"model.options.cutoff={options['cutoff']} exceeds data.cutoff={config.data.cutoff}: "
            "the neighbour lists would miss neighbours"
        )
    return options


def train(
    config: TrainConfig,
    run_dir: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> TrainingResult:
    """Run the training ``config`` describes; see the module docstring for what is written.

    Parameters
    ----------
    run_dir : path, optional
        Defaults to :func:`default_run_dir`; must be empty unless ``resume`` or ``overwrite``.
        It is created only once the data has loaded, and locked while the run writes: another
        process using it raises ``ValueError`` naming that process
        (:mod:`irreps.train.run_dir`).
    resume : bool
        Continue the run saved in ``run_dir/checkpoints`` exactly where its later checkpoint
        (``last.pt`` or ``best.pt``, :func:`~irreps.train.checkpoint.latest_checkpoint`) stopped.
    overwrite : bool
        Replace the files of an earlier run in ``run_dir``.

    ``run.threads``, when set, holds for the run; the previous thread count is restored.
    Under torchrun or srun (:mod:`irreps.train.launch`), or with ``run.processes`` > 1, the
    training is data-parallel (:mod:`irreps.train.distributed`): every process trains its
    share of each batch; rank 0 logs and writes the run directory, and its result is the
    run's (the others return theirs with ``rank`` set and no files).
    """
    launch = launch_from_environment()
    if launch is not None and config.run.processes > 1:
        raise ValueError(f"run.processes={config.run.processes} starts processes itself; under torchrun or srun "
                         f"(a world of {launch.world_size}) leave it at 1")
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(config)
    if launch is None and config.run.processes > 1:
        return run_local(config.run.processes, config.run.threads, train_rank, (config, run_dir, resume, overwrite), log=log)
    threads = torch.get_num_threads()
    if config.run.threads is not None:
        torch.set_num_threads(config.run.threads)
    try:
        return train_rank(launch, config, run_dir, resume, overwrite, log)
    finally:
        torch.set_num_threads(threads)


def train_rank(
    launch: Launch | None, config: TrainConfig, run_dir: Path, resume: bool, overwrite: bool,
    log: Callable[[str], None] = print,
) -> TrainingResult:
    """One process's part of a run: all of it without ``launch``; else it joins the process
    group on its device (``cuda:LOCAL_RANK`` for ``run.device`` cuda or auto with GPUs) and
    trains its shares, and only rank 0 logs."""
    if launch is None:
        return _train(config, run_dir, resume, overwrite, log, None)
    device = resolve_device(config.run.device) if config.run.processes == 1 else torch.device("cpu")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", launch.local_rank)
    world = init_world(launch.rank, launch.world_size, device, launch.init_method)
    try:
        return _train(config, run_dir, resume, overwrite, log if world.is_main else _quiet, world)
    finally:
        dist.destroy_process_group()


def _quiet(line: str) -> None:
    """The log of the ranks other than 0."""


def _together(world: World | None, what: str, action: Callable[[], Any]) -> Any:
    """``action()``; in a data-parallel run every rank raises when it failed on any."""
    if world is None:
        return action()
    result, error = None, None
    try:
        result = action()
    except Exception as err:  # handed to World.agree, which raises it here and stops the others
        error = err
    world.agree(error, what)
    return result


def _setup(
    config: TrainConfig, log: Callable[[str], None], device: torch.device, world: World | None = None,
) -> tuple[PreparedData, PreparedData, torch.nn.Module]:
    """The data (float64 and in the training dtype) and the freshly initialised model."""
    seed_everything(config.run.seed)
    dtype = DTYPES[config.run.dtype]
    data64 = prepare_data(config.data, config.loss.weights(), config.run.seed, log=log, world=world)
    data = data64.cast(dtype, device)
    model = build_model(config.model.name, model_options(config, data64)).to(device=device, dtype=dtype)
    return data64, data, model


def _train(
    config: TrainConfig, run_dir: Path, resume: bool, overwrite: bool, log: Callable[[str], None], world: World | None,
) -> TrainingResult:
    main = world is None or world.is_main
    device = world.device if world is not None else resolve_device(config.run.device)

    def setup() -> tuple[PreparedData, PreparedData, torch.nn.Module]:
        if main or resume:  # every rank reads the checkpoint; only rank 0 writes
            check_run_dir(run_dir, resume, overwrite)
        return _setup(config, log, device, world)

    data64, data, model = _together(world, "loading the data", setup)
    with contextlib.ExitStack() as stack:

        def claim() -> None:  # only now: a run whose data fails to load leaves no directory behind
            if main:
                stack.enter_context(claim_run_dir(run_dir, resume, overwrite))
                write_atomic(run_dir / "config.yaml", dump_config(config))
                log(f"run directory: {run_dir}")

        _together(world, "claiming the run directory", claim)
        return _fit(config, run_dir, resume, log, world, data64, data, model)


def _fit(
    config: TrainConfig, run_dir: Path, resume: bool, log: Callable[[str], None], world: World | None,
    data64: PreparedData, data: PreparedData, model: torch.nn.Module,
) -> TrainingResult:
    """Train, then (rank 0) write the final model, its evaluation and the plots into ``run_dir``."""
    loss = WeightedLoss(config.loss.weights(), config.loss.kind, config.loss.huber_delta)
    device = next(model.parameters()).device
    main = world is None or world.is_main
    parallel = f", {world.size} processes" if world is not None else ""
    log(f"model: {config.model.name}, {sum(p.numel() for p in model.parameters()):,} parameters, {config.run.dtype} on {device}{parallel}")
    run = config.run if main else dataclasses.replace(config.run, progress=False)
    trainer = Trainer(
        model, data.train, data.valid, config.optim, config.loss, run,
        config.data.batch_size, config.data.valid_batch_size, run_dir=run_dir if main else None, log=log, world=world,
    )
    if resume:
        trainer.resume(latest_checkpoint(run_dir))
    trainer.fit()
    final = copy.deepcopy(model)
    if trainer.stopped_by is not None:
        if main:
            return _stopped(config, run_dir, data, trainer, final)
        return TrainingResult(run_dir, None, trainer.history, trainer.best_epoch, None, None, trainer.stopped_by,
                              trainer.checkpoint_epoch, rank=world.rank)

    # The final model: EMA weights of the best epoch, evaluated in float64 so the reported
    # errors are not limited by float32 rounding of ~1e4 eV total energies; in a data-parallel
    # run every rank evaluates its share and rank 0 gets the whole set's errors.
    final.load_state_dict(trainer.best_weights)
    evaluation = copy.deepcopy(final).to(device=device, dtype=torch.float64)
    data_eval = data64.cast(torch.float64, device)
    batch = config.data.valid_batch_size
    flags = {k: v for k, v in loss.prediction_flags().items() if k != "compute_hessian"}
    valid_errors = evaluate_set(evaluation, data_eval.valid, batch, flags, world)
    test_errors = evaluate_set(evaluation, data_eval.test, batch, flags, world) if data_eval.test is not None else None
    if not main:
        return TrainingResult(run_dir, None, trainer.history, trainer.best_epoch, None, None, rank=world.rank)
    valid_metrics = valid_errors.result()
    test_metrics = test_errors.result() if test_errors is not None else None

    metadata = _metadata(config, data, trainer, {"valid": valid_metrics, "test": test_metrics})
    model_path = save_model(final.cpu(), run_dir / "model.pt", metadata=metadata, overwrite=True)
    plot_learning_curve(trainer.history, run_dir / "learning_curve.png")
    write_evaluation(valid_errors, valid_metrics, run_dir, "valid", "validation")
    if test_errors is not None:
        write_evaluation(test_errors, test_metrics, run_dir, "test", "test")
    return TrainingResult(run_dir, model_path, trainer.history, trainer.best_epoch, valid_metrics, test_metrics)


def _metadata(config: TrainConfig, data: PreparedData, trainer: Trainer, metrics: dict[str, Any]) -> dict[str, Any]:
    """The provenance a model file carries: data, split, E0 source, the shortest distance of
    each element pair in the training set (:mod:`irreps.models.domain`), epochs, config, metrics."""
    return {
        "training": {
            "library_version": irreps.__version__,
            "train_file": config.data.train_file,
            "valid_file": config.data.valid_file,
            "test_file": config.data.test_file,
            "num_train": len(data.train),
            "num_valid": len(data.valid),
            "e0_source": data.e0_source,
            "cutoff": config.data.cutoff,
            "keys": dict(config.data.keys),
            SHORTEST_DISTANCES: encode_shortest_distances(data.statistics.shortest_distances),
            "epochs": trainer.epoch,
            "best_epoch": trainer.best_epoch,
            "train_seconds": trainer.train_seconds,
            "stopped_by": trainer.stopped_by,
            "config": config_to_dict(config),
        },
        "metrics": metrics,
    }


def _stopped(
    config: TrainConfig, run_dir: Path, data: PreparedData, trainer: Trainer, final: torch.nn.Module
) -> TrainingResult:
    """A run a signal stopped: ``model.pt`` from the best finished epoch, at once.

    No evaluation or plots: a scheduler's SIGTERM leaves seconds before SIGKILL, and the
    best epoch's validation errors are in ``metrics.csv`` already.
    """
    model_path = None
    if trainer.best_weights is not None:
        final.load_state_dict(trainer.best_weights)
        metadata = _metadata(config, data, trainer, {"valid": None, "test": None})
        model_path = save_model(final.cpu(), run_dir / "model.pt", metadata=metadata, overwrite=True)
    return TrainingResult(
        run_dir, model_path, trainer.history, trainer.best_epoch, None, None,
        stopped_by=trainer.stopped_by, checkpoint_epoch=trainer.checkpoint_epoch,
    )
