"""Atomic file writes: a file appears under its name complete, or not at all.

Every file the package writes (checkpoints, model files, metrics, plots, simulation outputs)
goes through :func:`atomic_path`: the content is written to a temporary file in the target's
folder, flushed to disk (``fsync``) and renamed over the target (``os.replace`` is atomic on
one file system). A crash, Ctrl-C or full disk mid-write leaves the old file intact and no
temporary file behind, and ``--resume`` never meets a truncated checkpoint. A SIGKILL (or a
power cut) mid-write cannot run the clean-up: it leaves the temporary file, which
:func:`remove_leftovers` deletes (a resumed training run does, holding its directory's lock).

New files get the permissions a plain ``open()`` gives (``0o666`` less the umask, e.g.
``0644`` under umask 022), not the owner-only ``0600`` of :func:`tempfile.mkstemp`, so runs on
a shared cluster stay readable by the group when the umask says so.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_TOKEN_BYTES = 6
# The name atomic_path gives its temporary file: .<target name>.<12 hex digits>.tmp
_LEFTOVER = re.compile(rf"\..+\.[0-9a-f]{{{2 * _TOKEN_BYTES}}}\.tmp")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; if the block succeeds, move it over ``path``.

    The temporary file already exists (empty, with the umask's permissions) when the block
    starts; writers open it by name (``torch.save``, ``ase.io.write``, ``savefig`` with an
    explicit ``format``: its name ends in ``.tmp``). Missing parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(_TOKEN_BYTES)}.tmp")
    # Mode 0o666 lets the kernel apply the umask, exactly as for a file opened for writing.
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def remove_leftovers(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that writers killed mid-write left in ``folder``; returns them.

    Only for a folder no other process is writing to (a lock holder's): a live writer's
    temporary file looks the same.
    """
    folder = Path(folder)
    found = [p for p in folder.glob(".*.tmp") if _LEFTOVER.fullmatch(p.name)] if folder.is_dir() else []
    for path in found:
        path.unlink(missing_ok=True)
    return found


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write text (UTF-8) or bytes to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable. POSIX only: Windows cannot open a folder."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
