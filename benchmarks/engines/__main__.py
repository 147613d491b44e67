"""Build or list the MD engines' virtualenvs (OpenMM with openmm-torch, TorchSim with metatomic-torchsim).

    python -m benchmarks.engines build                  # every engine
    python -m benchmarks.engines build torchsim         # some
    python -m benchmarks.engines build --dry-run        # say what a build would do, change nothing
    python -m benchmarks.engines list                   # what is built, where, which versions
    IRREPS_VENVS=/scratch/venvs python -m benchmarks.engines build

Each environment is made by the Python its requirement file names (``# python: X.Y``;
``pythonX.Y`` must be on PATH) and gets that file's full freeze, torch included (openmm-torch's
CPU plugin needs torch 2.12, torch-sim Python 3.12). An environment that already holds every
pin (or whose ``READY`` marker matches the file) is kept; otherwise it is rebuilt from scratch.
Then, for example:

    PYTHONPATH=src ~/.cache/irreps/venvs/torchsim/bin/python -m pytest tests/export/test_torchsim.py
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from ..venv_build import build, status
from . import ENGINES, HERE, venvs_root

# the packages `list` reports for each engine
PACKAGES = {"openmm": ["openmm", "acellera-openmmtorch-cpu", "torch"],
            "torchsim": ["torch-sim-atomistic", "metatomic-torchsim", "torch"]}


def describe(name: str) -> str:
    """One line: where the engine's venv is, whether it is up to date, its main packages' versions."""
    root = venvs_root() / name
    action, why = status(root, (HERE / ENGINES[name]).read_text())
    if why == "no environment":
        return f"{name:10s} missing ({root}; `python -m benchmarks.engines build {name}`)"
    out = subprocess.run([str(root / "bin" / "python"), "-m", "pip", "show", *PACKAGES[name]],
                         capture_output=True, text=True)
    versions = dict(zip([line.split(":", 1)[1].strip() for line in out.stdout.splitlines() if line.startswith("Name:")],
                        [line.split(":", 1)[1].strip() for line in out.stdout.splitlines() if line.startswith("Version:")]))
    shown = " ".join(f"{package} {version}" for package, version in versions.items())
    state = "up to date" if action == "ok" else f"needs a rebuild: {why}"
    return f"{name:10s} {root}  {state}  {shown}"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engines", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("build", help="create the engines' virtualenvs (skipping up-to-date ones)")
    make.add_argument("names", nargs="*", metavar="NAME", help=f"some of {', '.join(ENGINES)} (default: all)")
    make.add_argument("--force", action="store_true", help="rebuild even if the pins are installed")
    make.add_argument("--dry-run", action="store_true", help="print what each build would do and stop")
    sub.add_parser("list", help="show what is built")
    args = parser.parse_args()
    if args.command == "list":
        print(f"engine environments in {venvs_root()}")
        for name in ENGINES:
            print(describe(name))
        return 0
    unknown = [name for name in args.names if name not in ENGINES]
    if unknown:
        parser.error(f"unknown engine(s) {', '.join(unknown)}; known: {', '.join(ENGINES)}")
    names = args.names or list(ENGINES)
    if args.dry_run:
        for name in names:
            action, why = status(venvs_root() / name, (HERE / ENGINES[name]).read_text(), args.force)
            print(f"[{'keep' if action == 'ok' else 'build'}] {name}: {venvs_root() / name} ({why})")
        return 0
    failed = [name for name in names if not build(name, venvs_root() / name, HERE / ENGINES[name], [], args.force)]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
