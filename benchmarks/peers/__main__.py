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
skipped and a changed pin rebuilds it.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import venv

from . import HERE, PEERS, peer_python, peers_root


def pip_args(requirements: str) -> list[str]:
    """Extra arguments for installing a requirement file: its ``# pip-args: ...`` lines."""
    return [arg for line in re.findall(r"^#\s*pip-args:(.*)$", requirements, re.M) for arg in line.split()]


def build(name: str, torch_spec: list[str], force: bool) -> bool:
    """Create (or keep, if its pins are unchanged) peer ``name``'s virtualenv; True on success."""
    root = peers_root() / name
    requirements = (HERE / PEERS[name]).read_text()
    ready = root / "READY"
    if not force and ready.exists() and ready.read_text() == requirements:
        print(f"[ok] {name}: up to date at {root}", flush=True)
        return True
    if root.exists():
        shutil.rmtree(root)
    print(f"[build] {name} -> {root}", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    python = str(root / "bin" / "python")
    steps = [[python, "-m", "pip", "install", "--quiet", *torch_spec],
             [python, "-m", "pip", "install", "--quiet", *pip_args(requirements), "-r", str(HERE / PEERS[name])]]
    for step in steps:
        if subprocess.run(step).returncode != 0:
            print(f"[fail] {name}: `{' '.join(step)}` failed (see above)", flush=True)
            return False
    ready.write_text(requirements)
    print(f"[ok] {name}: built", flush=True)
    return True


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
    failed = [name for name in (args.names or PEERS) if not build(name, args.torch.split(), args.force)]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
