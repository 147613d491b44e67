"""Training checkpoints, written atomically (:mod:`irreps.io`): an interrupted write never
leaves a truncated checkpoint behind.

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

from irreps.models.file import atomic_torch_save, read_torch_file


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
    return read_torch_file(path, "checkpoint")


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The checkpoint of ``run_dir`` a resume continues from: ``last.pt`` or ``best.pt``,
    whichever holds the later epoch (with ``run.checkpoint_every`` > 1 an improving epoch
    writes only ``best.pt``, so it can be the newer), or None when neither exists."""
    found = [p for p in (Path(run_dir) / "checkpoints" / "last.pt", Path(run_dir) / "checkpoints" / "best.pt")
             if p.is_file()]
    if not found:
        return None
    return max(found, key=lambda p: int(load_checkpoint(p)["epoch"]))  # ties: last.pt, listed first
