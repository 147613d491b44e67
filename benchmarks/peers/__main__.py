"""Build or list the peers' virtualenvs.

    python -m benchmarks.peers build                 # every peer
    python -m benchmarks.peers build mace nequip     # some
    python -m benchmarks.peers build --dry-run       # what a build would do, changing nothing
    python -m benchmarks.peers list                  # what is built, where, which versions
    IRREPS_PEERS=/scratch/peers python -m benchmarks.peers build

Each environment gets the CPU torch wheel first (``--torch``, default ``torch==2.13.0``, as in
the README) and then its pinned requirement file. A requirement file may carry a line
``# pip-args: ARGS`` whose arguments go to that second pip call (``fairchem.txt`` uses
``--no-deps``: fairchem-core declares torch~=2.4, so its full freeze is installed as is). A
finished build writes ``READY`` holding the requirement file's text, so an unchanged peer is
skipped and a changed pin rebuilds it (the logic is :mod:`benchmarks.venv_build`'s).
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from .. import venv_command
from ..venv_command import VenvFamily
from . import HERE, PEERS, peer_python, peers_root


def describe(name: str) -> str:
    python = peer_python(name, quiet=True)
    if python is None:
        return f"{name:12s} missing"
    package = {"mace": "mace-torch", "allegro": "nequip-allegro", "fairchem": "fairchem-core"}.get(name, name)
    out = subprocess.run([str(python), "-m", "pip", "show", package, "torch"], capture_output=True, text=True)
    versions = [line.split(":", 1)[1].strip() for line in out.stdout.splitlines() if line.startswith("Version:")]
    return f"{name:12s} {python}  {package} {' torch '.join(versions)}"


def _torch_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--torch", default="torch==2.13.0",
                        help="pip arguments installing torch first (default: torch==2.13.0)")


PEER_VENVS = VenvFamily("peer", PEERS, HERE, peers_root, describe, _torch_option, lambda args: [args.torch.split()])


def main() -> int:
    return venv_command.main(PEER_VENVS, "python -m benchmarks.peers", __doc__)


if __name__ == "__main__":
    sys.exit(main())
