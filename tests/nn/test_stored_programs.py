"""Every learned model's compiled energy-and-forces program, kept in the program store by one
process, is loaded by the next one (no recording, no compiling) and equals the eager model there.

Each process is a fresh interpreter, as a user's next run is: a program that only works in the
process that compiled it (a gaunt_ace program crashed the next process, issue 32) fails here.
Compiling takes a minute or more a model on a 2-core machine: slow tests.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from small_models import SMALL_CONFIGS

TESTS = Path(__file__).resolve().parents[1]

# Compiles (``store``) or loads (``load``, recording forbidden) the program of a small model and
# compares it with the eager model on two molecules of other sizes; prints what it did.
_SCRIPT = """
import sys
import ase
import numpy as np
import torch
sys.path.insert(0, {tests!r})
from small_models import small_model
import irreps.nn.compiled_potential as module
from irreps.data import atoms_to_graph
from irreps.nn.program_store import CompiledProgram

name, mode = sys.argv[1], sys.argv[2]
model = small_model(name)
if mode == "load":
    def no_recording(*args, **kwargs):
        raise AssertionError("recorded although the program was stored")
    module.record = no_recording
    with torch.no_grad():  # other weights, as another model file of the architecture has
        for p in model.parameters():
            p.mul_(1.1)
potential = module.CompiledPotential(model)
rng = np.random.default_rng(0 if mode == "store" else 1)
for size in (7, 10):
    atoms = ase.Atoms(numbers=rng.choice([1, 6, 8], size=size), positions=rng.uniform(0, 3.5, size=(size, 3)))
    graph = atoms_to_graph(atoms, 3.0, keys=None, dtype=torch.float64)
    got, want = potential(graph), model(graph, compute_forces=True)
    for key in ("energy", "forces"):
        torch.testing.assert_close(got[key], want[key].detach(), rtol=1e-10, atol=1e-10)
stored = all(isinstance(p, CompiledProgram) for p in potential._programs.values())
print("equal to eager;", "standalone" if stored else "dynamo", "program")
"""


def _run(name: str, mode: str, store: Path) -> str:
    run = subprocess.run([sys.executable, "-c", _SCRIPT.format(tests=str(TESTS)), name, mode],
                         capture_output=True, text=True, timeout=1800,
                         env={**os.environ, "IRREPS_COMPILE_CACHE": str(store)})
    assert run.returncode == 0, f"{mode} exited with {run.returncode}:\n{run.stderr[-3000:]}"
    return run.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(n for n in SMALL_CONFIGS if "[" not in n))
def test_a_stored_program_is_loaded_by_the_next_process(name, tmp_path):
    first = _run(name, "store", tmp_path)
    if "dynamo program" in first:
        # sizes known only from tensor values: torch.compile, nothing kept (docs/simulations.md)
        assert not list(tmp_path.glob("*.bin"))
        return
    assert "standalone program" in first and list(tmp_path.glob("*.bin"))
    assert "equal to eager; standalone program" in _run(name, "load", tmp_path)
