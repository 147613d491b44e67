"""The training configuration: frozen dataclasses, the one place where defaults live.

A YAML file is read strictly (:func:`irreps.config.config_from_dict`: unknown keys are errors
that name the key and suggest the closest accepted one) and then ``--set a.b=x`` overrides are
applied, each value parsed as YAML (``--set optim.lr=1e-3``, ``--set data.keys.energy=REF_E``,
``--set run.max_minutes=null``). Values are checked in ``__post_init__`` so a bad number fails
before any data is read.

Units follow the library: Å, eV, eV/Å; loss weights are dimensionless multipliers of the
squared (or Huber) errors in those units, the energy error taken per atom.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from irreps.config import config_from_dict, config_to_dict
from irreps.data.reading import KeySpec


class _Loader(yaml.SafeLoader):
    """YAML's safe loader, also reading ``1e-3`` as a number (YAML 1.1 wants ``1.0e-3``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_yaml(text: str) -> Any:
    """Parse YAML text safely (no object construction), ``1e-3`` style numbers included."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class DataConfig:
    """Where the structures come from and how they become graphs.

    ``train_file`` (required) and the other paths accept a file path or ``bundled:NAME`` for a
    dataset shipped with the package (``bundled:acac_train``; see :func:`irreps.data.bundled_path`). Without ``valid_file`` a
    ``valid_fraction`` of the training file is held out (split with ``run.seed``). Without
    ``isolated_atoms_file`` the per-element reference energies E0 are a least-squares fit to
    the training energies. The data paths may also name a directory written by ``irreps data convert``
    (sharded HDF5, read lazily: :mod:`irreps.data.shard_reader`); ``keys`` are then applied
    when converting. ``keys`` maps library field names (``energy``, ``forces``,
    ``stress``, ``dipole``, ``hessian``, ...) to the names used in the files. A structure with
    overlapping atoms (closer than half their summed covalent radii) is refused, naming the
    file, frame and pair, unless ``allow_close_atoms``.
    """

    train_file: str | None = None
    valid_file: str | None = None
    valid_fraction: float = 0.1
    test_file: str | None = None
    isolated_atoms_file: str | None = None
    keys: dict[str, str] = field(default_factory=dict)
    cutoff: float = 5.0
    batch_size: int = 8
    valid_batch_size: int = 32
    max_train: int | None = None
    allow_close_atoms: bool = False

    def __post_init__(self) -> None:
        _check(0.0 < self.valid_fraction < 1.0, f"data.valid_fraction must be in (0, 1), got {self.valid_fraction}")
        _check(self.cutoff > 0.0, f"data.cutoff must be positive, got {self.cutoff}")
        _check(self.batch_size >= 1, f"data.batch_size must be >= 1, got {self.batch_size}")
        _check(self.valid_batch_size >= 1, f"data.valid_batch_size must be >= 1, got {self.valid_batch_size}")
        _check(self.max_train is None or self.max_train >= 1, f"data.max_train must be >= 1, got {self.max_train}")
        key_spec(self.keys, "data.keys")

    def key_spec(self) -> KeySpec:
        """The :class:`~irreps.data.reading.KeySpec` with this config's file keys."""
        return key_spec(self.keys, "data.keys")


def key_spec(keys: dict[str, str], where: str = "keys") -> KeySpec:
    """A :class:`~irreps.data.reading.KeySpec` from ``{field: key in the file}``.

    Unknown field names raise a ``ValueError`` that suggests the closest known one.
    """
    known = KeySpec().file_keys()
    for name, key in keys.items():
        if name not in known:
            close = difflib.get_close_matches(str(name), list(known), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ValueError(f"{where}: unknown field {str(name)!r}{hint}; fields: {', '.join(known)}")
        if not isinstance(key, str) or not key:
            raise ValueError(f"{where}.{name}: expected a key name, got {key!r}")
    return KeySpec(**{f"{name}_key": key for name, key in keys.items()})


@dataclass(frozen=True)
class ModelConfig:
    """The architecture (a registered model name) and its own options.

    ``options`` is passed to that architecture's config dataclass (strictly, so typos fail).
    The trainer adds what it learns from the data: the elements, the E0s and the
    scale/shift normalisation, and the cutoff from ``data.cutoff``.
    """

    name: str = "tensornet"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser, learning-rate schedule, EMA and gradient clipping.

    ``schedule``: ``plateau`` multiplies the rate by ``plateau_factor`` when the validation
    loss has not improved for ``plateau_patience`` epochs; ``cosine`` decays it to
    ``min_lr`` over the run: over ``run.epochs``, or with ``cosine_over: time`` over the
    ``run.max_minutes`` of training time (cumulative across ``--resume``; compilation and
    validation count), so that one config uses a time budget fully on any machine. The
    decay then depends on the measured time, so two such runs are not bit-identical, and
    ``run.epochs`` only caps the run. Both start with a linear warm-up over ``warmup_epochs``.
    ``ema_decay`` null disables the exponential moving average of the weights (used for
    validation and for the saved model when enabled); ``grad_clip`` null disables clipping
    of the gradient norm. A step whose loss or gradient is not finite is skipped, the
    weights, optimiser and EMA of the epoch's start are restored and the rate is halved for
    the rest of the run, up to ``nonfinite_retries`` times; the next such step stops the run.
    """

    optimizer: Literal["adamw", "amsgrad"] = "amsgrad"
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: Literal["plateau", "cosine", "constant"] = "plateau"
    cosine_over: Literal["epochs", "time"] = "epochs"
    warmup_epochs: float = 0.0
    plateau_factor: float = 0.8
    plateau_patience: int = 20
    min_lr: float = 1e-6
    ema_decay: float | None = 0.99
    grad_clip: float | None = 10.0
    nonfinite_retries: int = 3

    def __post_init__(self) -> None:
        _check(self.lr > 0.0, f"optim.lr must be positive, got {self.lr}")
        _check(self.weight_decay >= 0.0, f"optim.weight_decay must be >= 0, got {self.weight_decay}")
        _check(self.warmup_epochs >= 0.0, f"optim.warmup_epochs must be >= 0, got {self.warmup_epochs}")
        _check(0.0 < self.plateau_factor < 1.0, f"optim.plateau_factor must be in (0, 1), got {self.plateau_factor}")
        _check(self.plateau_patience >= 0, f"optim.plateau_patience must be >= 0, got {self.plateau_patience}")
        _check(0.0 <= self.min_lr <= self.lr, f"optim.min_lr must be in [0, lr], got {self.min_lr}")
        _check(
            self.ema_decay is None or 0.0 < self.ema_decay < 1.0,
            f"optim.ema_decay must be in (0, 1) or null, got {self.ema_decay}",
        )
        _check(self.grad_clip is None or self.grad_clip > 0.0, f"optim.grad_clip must be positive or null, got {self.grad_clip}")
        _check(self.nonfinite_retries >= 0, f"optim.nonfinite_retries must be >= 0, got {self.nonfinite_retries}")


_LOSS_NAMES = ("energy", "forces", "stress", "dipole", "hessian", "hessian_eigen")


@dataclass(frozen=True)
class LossConfig:
    """Weights of the loss terms; a term with weight 0 is not computed.

    The energy term compares energies per atom; the others compare every component
    (forces [N, 3], stress [G, 3, 3], dipole [G, 3], Hessian blocks); ``hessian_eigen`` the
    reference Hessian eigenvalues with the predicted curvature along their eigenvectors
    (the eigenvalue-aware term, see :mod:`irreps.train.losses`). The default 10:1 of
    energy per atom to forces is the ratio of MACE's default second (SWA) stage; TorchMD-Net's
    TensorNet rMD17 example weighs total-energy and force errors equally (N^2:1 per atom). ``kind`` ``huber``
    uses ``huber_delta`` (in the units of each term).

    ``direct_forces_epochs`` > 0 fits the forces of the first epochs through the model's
    direct (non-conservative) force head, whose steps need no second derivative (about 2.2x
    cheaper for TensorNet), then switches to conservative forces for the rest of the run
    (pre-training as in Bigi et al. 2025, :mod:`irreps.models.force_head`). Validation and the
    saved model always use conservative forces.
    """

    energy: float = 10.0
    forces: float = 1.0
    stress: float = 0.0
    dipole: float = 0.0
    hessian: float = 0.0
    hessian_eigen: float = 0.0
    kind: Literal["mse", "huber"] = "mse"
    huber_delta: float = 0.01
    direct_forces_epochs: int = 0

    def __post_init__(self) -> None:
        _check(self.direct_forces_epochs >= 0, f"loss.direct_forces_epochs must be >= 0, got {self.direct_forces_epochs}")
        _check(
            self.direct_forces_epochs == 0 or self.forces > 0.0,
            "loss.direct_forces_epochs needs a force term: set loss.forces > 0",
        )
        for name in _LOSS_NAMES:
            _check(getattr(self, name) >= 0.0, f"loss.{name} weight must be >= 0, got {getattr(self, name)}")
        _check(self.huber_delta > 0.0, f"loss.huber_delta must be positive, got {self.huber_delta}")
        _check(
            sum(self.weights().values()) > 0.0,
            "every loss weight is 0: set at least one of loss.energy, loss.forces, ...",
        )

    def weights(self) -> dict[str, float]:
        """The non-zero weights by field name."""
        return {name: getattr(self, name) for name in _LOSS_NAMES if getattr(self, name) > 0.0}


@dataclass(frozen=True)
class RunConfig:
    """Length, reproducibility, precision, device and outputs of a run.

    Outputs go to ``output_dir/name`` (``name`` null: a time stamp). ``max_minutes`` stops
    training before an epoch that would end past the limit, judged by the last epoch's
    length less its one-off steps (a compile) (``--resume`` continues it); ``clock`` says
    what it counts: ``wall`` time, or ``cpu``, the CPU time of this process (all its threads) and
    of its finished children (the C++ compiler's), so that a budget means the same work on a
    busy or shared machine (the cosine over time follows it too).
    ``device`` ``auto`` picks CUDA when available. ``threads`` sets torch's CPU threads for
    the run (null: torch's default, one per core); small molecules gain little from more than
    one, and on a busy machine threads that wait for each other can slow training tenfold.
    ``compile`` records each training step (energy, forces, loss and gradients) once and
    compiles it with ``torch.compile`` (:mod:`irreps.train.compiled_step`): for small molecules
    on the CPUs measured, TensorNet's steps 1.35-1.9x faster after one to two minutes of compilation,
    gaunt_ace's and TFN's epochs 2.3-2.4x faster after 3-6 CPU minutes, eSCN's, EquiformerV2's and the
    SE(3)-Transformer's 1.6-3.1x after 6-16 (docs/models.md); energy and
    force losses with models that define ``graph_indices`` (TensorNet, gaunt_ace, TFN, SE(3)-Transformer,
    eSCN, EquiformerV2), needs a C++ compiler; it works in data-parallel runs too.
    ``compile_backend`` is the ``torch.compile`` backend: ``inductor``, or for checks
    ``aot_eager`` or ``eager`` (the recorded step run as it is, no compilation). ``processes`` > 1 trains data-parallel on that many CPU processes of
    this machine, the code path torchrun and srun start (:mod:`irreps.train.launch`,
    :mod:`irreps.train.distributed`): each takes an equal share of every batch of
    ``data.batch_size``, with ``threads`` each (null: the cores shared out). On a small
    molecule two processes use two cores far better than two threads. Under torchrun or srun
    leave it at 1.
    """

    epochs: int = 100
    max_minutes: float | None = None
    clock: Literal["wall", "cpu"] = "wall"
    seed: int = 0
    dtype: Literal["float32", "float64"] = "float32"
    device: str = "auto"
    output_dir: str = "runs"
    name: str | None = None
    checkpoint_every: int = 1
    progress: bool = True
    threads: int | None = None
    compile: bool = False
    compile_backend: Literal["inductor", "aot_eager", "eager"] = "inductor"
    processes: int = 1

    def __post_init__(self) -> None:
        _check(self.epochs >= 1, f"run.epochs must be >= 1, got {self.epochs}")
        _check(self.max_minutes is None or self.max_minutes > 0.0, f"run.max_minutes must be positive or null, got {self.max_minutes}")
        _check(self.clock in ("wall", "cpu"), f"run.clock must be 'wall' or 'cpu', got {self.clock!r}")
        _check(self.checkpoint_every >= 1, f"run.checkpoint_every must be >= 1, got {self.checkpoint_every}")
        _check(self.threads is None or self.threads >= 1, f"run.threads must be >= 1 or null, got {self.threads}")
        _check(self.processes >= 1, f"run.processes must be >= 1, got {self.processes}")
        backends = ("inductor", "aot_eager", "eager")
        _check(self.compile_backend in backends,
               f"run.compile_backend must be one of {', '.join(backends)}, got {self.compile_backend!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; ``irreps train --print-config`` shows it resolved."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        if self.optim.cosine_over == "time":
            _check(self.optim.schedule == "cosine", f"optim.cosine_over=time needs optim.schedule=cosine, got {self.optim.schedule!r}")
            _check(self.run.max_minutes is not None, "optim.cosine_over=time decays over run.max_minutes: set it (e.g. run.max_minutes=120)")
        if self.run.processes > 1:
            _check(self.data.batch_size >= self.run.processes,
                   f"data.batch_size={self.data.batch_size} is shared out over run.processes={self.run.processes}: "
                   "it must be at least that large")
            _check(self.run.device in ("cpu", "auto"),
                   f"run.processes > 1 trains on CPU processes; run.device={self.run.device!r} is not supported with it")


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into its key path and the YAML-parsed value."""
    key, sep, raw = text.partition("=")
    path = key.strip().split(".")
    if not sep or not key.strip() or any(not part for part in path):
        raise ValueError(f"--set expects KEY.PATH=VALUE (e.g. optim.lr=1e-3), got {text!r}")
    try:
        value = parse_yaml(raw) if raw.strip() else None
    except yaml.YAMLError as err:
        raise ValueError(f"--set {text!r}: the value is not valid YAML ({err})") from err
    return path, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Copy of the nested dict ``data`` with every ``KEY.PATH=VALUE`` override set.

    Missing intermediate mappings are created; validation (unknown keys included) happens
    when the result is turned into a :class:`TrainConfig`.
    """
    result = _deep_copy(data)
    for text in overrides:
        path, value = parse_override(text)
        node = result
        for depth, part in enumerate(path[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(path[: depth + 1])
                raise ValueError(f"--set {text!r}: '{where}' is a value, not a section")
            node = child
        node[path[-1]] = value
    return result


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    return data


def load_config(
    path: str | os.PathLike | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> TrainConfig:
    """Read a YAML config (none: all defaults), apply ``--set`` overrides, validate."""
    data: dict[str, Any] = {}
    where = "config"
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        try:
            loaded = parse_yaml(path.read_text())
        except yaml.YAMLError as err:
            raise ValueError(f"{path} is not valid YAML: {err}") from err
        if loaded is not None and not isinstance(loaded, dict):
            raise ValueError(f"{path}: expected a mapping of sections (data, model, optim, loss, run)")
        data = loaded or {}
        where = path.name
    return config_from_dict(TrainConfig, apply_overrides(data, list(overrides)), where=where)


def dump_config(config: TrainConfig) -> str:
    """The config as YAML text (every field, defaults included)."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)


def default_config_path(name: str = "quickstart") -> Path:
    """Path of a config shipped with the package (``irreps/configs/NAME.yaml``)."""
    path = Path(__file__).resolve().parents[1] / "configs" / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no shipped config named '{name}' ({path})")
    return path
