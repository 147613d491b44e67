"""Build or list the peers' virtualenvs.

    python -m benchmarks.peers build                 # every peer
    python -m benchmarks.peers build mace nequip     # some
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

from ..venv_build import build
from . import HERE, PEERS, peer_python, peers_root


def describe(name: str) -> str:
    python = peer_python(name, quiet=True)
    if python is None:
        return f"{name:12s} missing"
    package = {"mace": "mace-torch", "allegro": "nequip-allegro", "fairchem": "fairchem-core"}.get(name, name)
    out = subprocess.run([str(python), "-m", "pip", "show", package, "torch"], capture_output=True, text=True)
    versions = [line.split(":", 1)[1].strip() for line in out.stdout.splitlines() if line.startswith("Version:")]
    return f"{name:12s} {python}  {package} {' torch '.join(versions)}"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("build", help="create the peers' virtualenvs")
    make.add_argument("names", nargs="*", metavar="NAME", help=f"some of {', '.join(PEERS)} (default: all)")
    make.add_argument("--torch", default="torch==2.13.0",
                      help="pip arguments installing torch first (default: torch==2.13.0)")
    make.add_argument("--force", action="store_true", help="rebuild even if the pins are unchanged")
    sub.add_parser("list", help="show what is built")
    args = parser.parse_args()
    if args.command == "list":
        print(f"peers in {peers_root()}")
        for name in PEERS:
            print(describe(name))
        return 0
    unknown = [name for name in args.names if name not in PEERS]
    if unknown:
        parser.error(f"unknown peer(s) {', '.join(unknown)}; known: {', '.join(PEERS)}")
    failed = [name for name in (args.names or PEERS)
              if not build(name, peers_root() / name, HERE / PEERS[name], [args.torch.split()], args.force)]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
