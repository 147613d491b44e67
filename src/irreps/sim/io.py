"""Output files of the simulation workflows: never overwrite unasked, always write atomically.

A file is first written to a temporary name in its destination folder and then renamed over
the final name (``os.replace`` is atomic on one file system), so a crash or Ctrl-C never leaves
a half-written output under the final name. Trajectories that grow during a run live under
``<name>.part`` until the run finishes (see :func:`partial_path`).
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ase.io
from ase import Atoms

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


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes owner-only files; give the output the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
