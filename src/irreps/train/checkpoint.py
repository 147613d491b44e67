"""The run directory and training checkpoints.

A run directory holds everything one training run writes (:data:`RUN_FILES`). Starting a run
in a directory that already has files is refused unless the user asks to resume it or to
overwrite it, so a finished run is never destroyed by accident. Every file is written
atomically (:mod:`irreps.io`), so an interrupted write never leaves a truncated checkpoint or
log behind.

A checkpoint holds all the state that determines the rest of a run (model, optimiser,
schedule, EMA, random number generators, epoch, history); loading it and continuing gives
bit-for-bit the same result as never stopping.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from irreps.models.file import atomic_torch_save

# Every file a run writes, relative to the run directory.
RUN_FILES = (
    "config.yaml",
    "model.pt",
    "metrics.csv",
    "metrics.json",
    "learning_curve.png",
    "valid_metrics.json",
    "valid_parity.png",
    "test_metrics.json",
    "test_parity.png",
    "checkpoints/last.pt",
    "checkpoints/best.pt",
)


def prepare_run_dir(path: str | os.PathLike, resume: bool = False, overwrite: bool = False) -> Path:
    """Create or check the run directory ``path``.

    Parameters
    ----------
    resume : bool
        The directory must hold ``checkpoints/last.pt`` from an earlier run.
    overwrite : bool
        Allow a non-empty directory: the files of an earlier run (:data:`RUN_FILES`) are
        deleted, anything else in it is left alone.
    """
    path = Path(path)
    if resume and overwrite:
        raise ValueError("choose either --resume or --overwrite, not both")
    if resume:
        if not (path / "checkpoints" / "last.pt").is_file():
            raise ValueError(f"cannot resume: {path / 'checkpoints' / 'last.pt'} does not exist")
        return path
    if path.exists() and not path.is_dir():
        raise ValueError(f"output path {path} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()):
        if not overwrite:
            raise ValueError(
                f"output directory {path} is not empty; pass --resume to continue that run, "
                "--overwrite to replace it, or choose another run.name / run.output_dir"
            )
        for name in RUN_FILES:
            (path / name).unlink(missing_ok=True)
    path.mkdir(parents=True, exist_ok=True)
    return path


def rng_state() -> dict[str, Any]:
    """States of Python's, NumPy's and torch's global generators (CPU and CUDA)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos,
                  "has_gauss": has_gauss, "gauss": gauss},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    random.setstate(_as_tuples(state["python"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuples(value: Any) -> Any:
    # random.setstate needs tuples; a round trip through torch.load may hand back lists
    if isinstance(value, (list, tuple)):
        return tuple(_as_tuples(v) for v in value)
    return value


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write a checkpoint atomically (``state`` holds tensors, numbers, strings, containers)."""
    atomic_torch_save(state, path)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (no code is unpickled)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt files
        raise ValueError(f"{path} is not a readable checkpoint: {err}") from err
