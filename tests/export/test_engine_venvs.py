"""The TorchSim and OpenMM tests, run in the engines' own environments from ours (slow).

``python -m benchmarks.engines build`` makes those environments (another Python, another
torch); a missing one skips with one line saying how to build it. Inside, the engine tests must
pass without a skip: a skip there means the engine does not load in its own environment.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from benchmarks.engines import engine_python, venvs_root

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["torchsim", "openmm"])
def test_engine_tests_pass_in_their_environment(engine):
    python = engine_python(engine, quiet=True)
    if python is None:
        pytest.skip(f"{engine}: no environment at {venvs_root() / engine} "
                    f"(build it with `python -m benchmarks.engines build {engine}`)")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    done = subprocess.run([str(python), "-m", "pytest", f"tests/export/test_{engine}.py", "-q", "-rs",
                           "-p", "no:cacheprovider"], cwd=ROOT, env=env, capture_output=True, text=True)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "passed" in summary and "skipped" not in summary, summary
