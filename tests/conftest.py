"""Shared test setup: one torch thread per worker (CI runs two pytest workers on 2 cores)."""

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture
def generator() -> torch.Generator:
    """A seeded generator so every test draws the same random inputs each run."""
    return torch.Generator().manual_seed(0)
