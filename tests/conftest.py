"""Shared test setup: one torch thread per worker (CI runs two pytest workers on 2 cores)."""

import os

# One BLAS thread too: SciPy's bundled OpenBLAS spins its threads on tiny matrices (ASE's cell
# filter, null spaces) and runs ~400x slower on a loaded 2-core machine. Set before SciPy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture
def generator() -> torch.Generator:
    """A seeded generator so every test draws the same random inputs each run."""
    return torch.Generator().manual_seed(0)
