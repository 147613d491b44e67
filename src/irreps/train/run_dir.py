"""The run directory: checked before the data is read, claimed once it has loaded, locked.

A run directory holds everything one training run writes (:data:`RUN_FILES`). Starting a run
in a directory that already has files is refused unless the user asks to resume it or to
overwrite it, so a finished run is never destroyed by accident.

:func:`check_run_dir` makes those checks without touching the disk, so a run fails fast
before it spends time on the data. :func:`claim_run_dir` creates the directory only after the
data has loaded (a run whose data fails leaves nothing behind and blocks no name) and holds
an exclusive lock on ``RUN_DIR/.lock`` (``flock``, released by the kernel when the process
ends, even on ``kill -9``) while the run writes, so two processes never write one directory.
The lock file stays behind; it holds the process id and host of its last holder. Once locked,
the temporary files of writes that a ``kill -9`` interrupted are deleted
(:func:`irreps.io.remove_leftovers`).
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from irreps.io import remove_leftovers

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
LOCK_NAME = ".lock"


def check_run_dir(path: str | os.PathLike, resume: bool = False, overwrite: bool = False) -> Path:
    """Raise ``ValueError`` unless a run may use ``path``; creates and deletes nothing.

    Parameters
    ----------
    resume : bool
        The directory must hold ``checkpoints/last.pt`` or ``checkpoints/best.pt`` from an
        earlier run.
    overwrite : bool
        Allow a non-empty directory (:func:`claim_run_dir` deletes the earlier run's files).
    """
    path = Path(path)
    if resume and overwrite:
        raise ValueError("choose either --resume or --overwrite, not both")
    if resume:
        if not any((path / "checkpoints" / name).is_file() for name in ("last.pt", "best.pt")):
            raise ValueError(f"cannot resume: {path / 'checkpoints'} holds neither last.pt nor best.pt")
        return path
    if path.exists() and not path.is_dir():
        raise ValueError(f"output path {path} exists and is not a directory")
    if path.is_dir() and not overwrite and any(p.name != LOCK_NAME for p in path.iterdir()):
        raise ValueError(
            f"output directory {path} is not empty; pass --resume to continue that run, "
            "--overwrite to replace it, or choose another run.name / run.output_dir"
        )
    return path


@contextmanager
def claim_run_dir(path: str | os.PathLike, resume: bool = False, overwrite: bool = False) -> Iterator[Path]:
    """Create ``path``, lock it and check it again (:func:`check_run_dir`) for the block.

    With ``overwrite`` the files of an earlier run (:data:`RUN_FILES`) are deleted, anything
    else is left alone. Raises ``ValueError`` naming the holder's process id when another
    process holds the directory.
    """
    path = Path(path)
    check_run_dir(path, resume, overwrite)
    path.mkdir(parents=True, exist_ok=True)
    lock = path / LOCK_NAME
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "an unknown process"
            raise ValueError(
                f"run directory {path} is in use by {holder} (lock {lock}); wait for that run to end "
                "or stop it, or choose another run.name / --output"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        check_run_dir(path, resume, overwrite)  # again: another process may have written meanwhile
        for folder in (path, path / "checkpoints"):
            remove_leftovers(folder)
        if overwrite:
            for name in RUN_FILES:
                (path / name).unlink(missing_ok=True)
        yield path
    finally:
        os.close(fd)  # releases the lock
