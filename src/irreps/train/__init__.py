"""Training interatomic potentials: config, losses, EMA, schedules, checkpoints, metrics, runs.

Typical use::

    from irreps.train import load_config, train
    result = train(load_config("config.yaml", ["optim.lr=5e-4"]), run_dir="runs/try1")

See docs/training.md for the config sections and the files a run writes.
"""

from irreps.train.config import (
    DataConfig,
    LossConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    TrainConfig,
    default_config_path,
    dump_config,
    load_config,
)
from irreps.train.ema import ExponentialMovingAverage
from irreps.train.evaluation import evaluate_file, evaluate_set
from irreps.train.losses import WeightedLoss
from irreps.train.metrics import ErrorAccumulator, format_table
from irreps.train.run import TrainingResult, train
from irreps.train.schedule import LRSchedule
from irreps.train.trainer import Trainer

__all__ = [
    "DataConfig",
    "ErrorAccumulator",
    "ExponentialMovingAverage",
    "LRSchedule",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "TrainConfig",
    "Trainer",
    "TrainingResult",
    "WeightedLoss",
    "default_config_path",
    "dump_config",
    "evaluate_file",
    "evaluate_set",
    "format_table",
    "load_config",
    "train",
]
