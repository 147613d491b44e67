"""Every example config runs from a clone: it loads strictly and trains on the data it names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from irreps.train.config import load_config
from irreps.train.run import train

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
# the smallest network of each architecture an example uses, so one epoch takes seconds
SHRINK = {
    "tensornet": ["model.options.hidden_dim=8"],
    "equiformer_v2": ["model.options.lmax=2", "model.options.sphere_channels=4", "model.options.num_layers=1",
                      "model.options.attn_hidden_channels=4", "model.options.ffn_hidden_channels=4",
                      "model.options.edge_channels=4"],
    "escn": ["model.options.lmax=2", "model.options.sphere_channels=4", "model.options.num_layers=1",
             "model.options.hidden_channels=4", "model.options.edge_channels=4"],
    "gaunt_ace": ["model.options.channels=4", "model.options.lmax=2", "model.options.correlation=2",
                  "model.options.radial_hidden=[8]"],
    "tfn": ["model.options.channels=4", "model.options.num_layers=2"],
    "se3_transformer": ["model.options.channels=4", "model.options.key_channels=4", "model.options.num_layers=2"],
}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_config_trains_from_a_clone(path, tmp_path):
    name = yaml.safe_load(path.read_text())["model"]["name"]
    quick = ["run.max_minutes=0.05", "run.epochs=1", "run.compile=false", "data.max_train=8", "run.device=cpu",
             "optim.cosine_over=epochs", *SHRINK[name]]
    result = train(load_config(path, quick), tmp_path / "run", log=lambda line: None)
    assert result.model_path.is_file() and result.test_metrics is not None
