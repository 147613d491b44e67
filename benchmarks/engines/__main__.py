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

import subprocess
import sys

from .. import venv_command
from ..venv_build import status
from ..venv_command import VenvFamily
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


ENGINE_VENVS = VenvFamily("engine", ENGINES, HERE, venvs_root, describe)


def main() -> int:
    return venv_command.main(ENGINE_VENVS, "python -m benchmarks.engines", __doc__)


if __name__ == "__main__":
    sys.exit(main())
