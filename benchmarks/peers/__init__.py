"""Peer codes (MACE, NequIP, Allegro, TorchMD-Net, e3nn, emlp, fairchem) in virtualenvs of their own.

Peers pin conflicting dependencies (mace-torch wants e3nn 0.4.4, nequip wants >= 0.6), so each
lives in its own virtualenv under one cache directory: ``$IRREPS_PEERS`` or, by default,
``~/.cache/irreps/peers``. ``python -m benchmarks.peers build`` creates them from the pinned
requirement files beside this module; benchmarks call :func:`peer_python` and skip a peer
whose environment is missing with one line, never a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name -> requirement file beside this module (the venv takes the same name)
PEERS = {
    "mace": "mace.txt",
    "nequip": "nequip.txt",
    "allegro": "allegro.txt",
    "torchmd-net": "torchmd-net.txt",
    "e3nn": "e3nn.txt",
    "emlp": "emlp.txt",
    "fairchem": "fairchem.txt",
}


def peers_root() -> Path:
    """The cache directory holding one virtualenv per peer."""
    return Path(os.environ.get("IRREPS_PEERS") or Path.home() / ".cache" / "irreps" / "peers").expanduser()


def peer_python(name: str, quiet: bool = False) -> Path | None:
    """The interpreter of peer ``name``'s virtualenv, or None (after one "[skip]" line) if not built."""
    if name not in PEERS:
        raise ValueError(f"unknown peer {name!r}; known: {', '.join(PEERS)}")
    python = peers_root() / name / "bin" / "python"
    if python.exists() and (peers_root() / name / "READY").exists():
        return python
    if not quiet:
        print(f"[skip] {name}: no environment at {peers_root() / name} "
              f"(build it with `python -m benchmarks.peers build {name}`)", flush=True)
    return None


def peer_python_or_none(name: str, override: str | None) -> str | None:
    """An explicit interpreter (a benchmark's ``--*-python`` option) or the peer's environment."""
    if override:
        return override
    python = peer_python(name)
    return None if python is None else str(python)
