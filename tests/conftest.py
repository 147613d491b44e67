"""Shared test setup: one torch thread per worker (CI runs two pytest workers on 2 cores) and
the Hypothesis profiles of the fuzz tests."""

import os
import tempfile

# One BLAS thread too: SciPy's bundled OpenBLAS spins its threads on tiny matrices (ASE's cell
# filter, null spaces) and runs ~400x slower on a loaded 2-core machine. Set before SciPy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# Compiled programs go to a folder of this run, not the user's store (irreps.nn.program_store).
os.environ.setdefault("IRREPS_COMPILE_CACHE", tempfile.mkdtemp(prefix="irreps-compiled-"))

import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import settings  # noqa: E402

torch.set_num_threads(1)

# Every Hypothesis test by default: a modest, fixed set of examples (the same on every run, so
# a failure in CI reproduces), no example database written into the checkout, no deadline (a
# loaded machine is slow; tests/test_fuzz.py has its own hang limit).
settings.register_profile("irreps", max_examples=200, derandomize=True, database=None, deadline=None)
# `pytest tests/test_fuzz.py --hypothesis-profile=irreps-fuzz`: many more, from a random seed.
settings.register_profile("irreps-fuzz", max_examples=5000, database=None, deadline=None)
settings.load_profile("irreps")


@pytest.fixture
def generator() -> torch.Generator:
    """A seeded generator so every test draws the same random inputs each run."""
    return torch.Generator().manual_seed(0)
