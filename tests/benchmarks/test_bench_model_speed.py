"""bench_model_speed builds every model at its example size and times it (one small molecule)."""

from __future__ import annotations

import ase.io

from benchmarks.bench_model_speed import MODELS, our_calls
from irreps.data import bundled_path


def test_every_model_builds_and_gives_a_positive_time():
    frames = ase.io.read(bundled_path("acac_test"), ":1")
    calls = our_calls(list(MODELS), frames, "cpu")
    assert set(calls) == {"graph only", *MODELS}
    assert all(call() > 0 for call in calls.values())
