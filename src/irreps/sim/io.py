"""Output files of the simulation workflows: never overwrite unasked, always write atomically.

Files are written through :func:`irreps.io.atomic_path` (a temporary file beside the target,
fsync, rename), so a crash or Ctrl-C never leaves a half-written output under the final name.
Trajectories that grow during a run live under
``<name>.part`` until the run finishes (see :func:`partial_path`).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ase.io
from ase import Atoms

from irreps.io import atomic_path

FRAME_FORMATS = {".xyz": "extxyz", ".extxyz": "extxyz", ".traj": "traj"}


def frame_format(path: str | os.PathLike) -> str:
    """ASE format of a trajectory path from its suffix (``.xyz``/``.extxyz`` or ``.traj``)."""
    suffix = Path(path).suffix.lower()
    if suffix not in FRAME_FORMATS:
        raise ValueError(f"{path}: trajectory files must end in {', '.join(FRAME_FORMATS)}")
    return FRAME_FORMATS[suffix]


def partial_path(path: str | os.PathLike) -> Path:
    """Where an output that is still being written lives: ``<name>.part`` beside ``path``."""
    path = Path(path)
    return path.with_name(path.name + ".part")


def check_outputs(paths: Sequence[str | os.PathLike | None], overwrite: bool) -> None:
    """Raise ``FileExistsError`` naming the outputs that exist, unless ``overwrite``."""
    existing = [str(p) for p in paths if p is not None and Path(p).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"output(s) already exist: {', '.join(existing)} (pass overwrite / --overwrite)")


def write_frames(path: str | os.PathLike, frames: Sequence[Atoms]) -> Path:
    """Write structures to an extxyz or ASE ``.traj`` file atomically."""
    fmt = frame_format(path)
    with atomic_path(path) as tmp:
        ase.io.write(tmp, list(frames), format=fmt)
    return Path(path)


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")
    return Path(path)


def write_csv(path: str | os.PathLike, rows: Sequence[dict[str, Any]]) -> Path:
    """Write dict rows (the keys of the first row are the header) as CSV atomically."""
    if not rows:
        raise ValueError(f"{path}: no rows to write")
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return Path(path)


def read_csv(path: str | os.PathLike) -> list[dict[str, float]]:
    """Rows of a numeric CSV written by :func:`write_csv` or an MD log."""
    with open(path, newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]
