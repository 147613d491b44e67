"""MD engines that need a Python or torch of their own (OpenMM, TorchSim), in virtualenvs of their own.

openmm-torch's CPU plugin needs torch <= 2.12 and torch-sim needs Python >= 3.12, so neither
can share our environment. Each engine lives in a virtualenv under one cache directory:
``$IRREPS_VENVS`` or, by default, ``~/.cache/irreps/venvs``. ``python -m benchmarks.engines
build`` creates them from the pinned requirement files beside this module (each names the
Python it needs on a ``# python: X.Y`` line); tests and benchmarks call :func:`engine_python`
and skip an engine whose environment is missing with one line.
"""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name -> requirement file beside this module (the venv takes the same name)
ENGINES = {
    "openmm": "openmm.txt",
    "torchsim": "torchsim.txt",
}


def venvs_root() -> Path:
    """The cache directory holding one virtualenv per engine."""
    return Path(os.environ.get("IRREPS_VENVS") or Path.home() / ".cache" / "irreps" / "venvs").expanduser()


def engine_python(name: str, quiet: bool = False) -> Path | None:
    """The interpreter of engine ``name``'s virtualenv, or None (after one "[skip]" line) if not built."""
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; known: {', '.join(ENGINES)}")
    python = venvs_root() / name / "bin" / "python"
    if python.exists():
        return python
    if not quiet:
        print(f"[skip] {name}: no environment at {venvs_root() / name} "
              f"(build it with `python -m benchmarks.engines build {name}`)", flush=True)
    return None
