"""Every example config runs from a clone: it loads strictly and trains on the data it names."""

from __future__ import annotations

from pathlib import Path

import pytest

from irreps.train.config import load_config
from irreps.train.run import train

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_config_trains_from_a_clone(path, tmp_path):
    quick = ["run.max_minutes=0.05", "run.epochs=1", "run.compile=false", "data.max_train=8", "run.device=cpu",
             "model.options.hidden_dim=8", "optim.cosine_over=epochs"]
    result = train(load_config(path, quick), tmp_path / "run", log=lambda line: None)
    assert result.model_path.is_file() and result.test_metrics is not None
