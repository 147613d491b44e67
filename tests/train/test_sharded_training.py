"""Training on a converted (sharded HDF5) directory is training on the extended-XYZ file it came from."""

import pytest
import torch

from irreps.data import bundled_path
from irreps.data.shard_writer import convert_to_shards
from irreps.models import load_model
from irreps.train.config import load_config
from irreps.train.run import train

from train_helpers import TINY

pytest.importorskip("h5py")


def test_converted_directory_trains_like_the_xyz_file(tmp_path):
    convert_to_shards(bundled_path("acac_train"), tmp_path / "shards", shard_size=64, log=lambda line: None)
    common = TINY + ["run.epochs=1", "run.dtype=float64", "data.valid_fraction=0.02", "run.threads=1"]
    xyz = train(load_config(None, common), tmp_path / "xyz", log=lambda line: None)
    lines = []
    sharded = train(load_config(None, common + [f"data.train_file={tmp_path / 'shards'}"]), tmp_path / "h5", log=lines.append)
    assert any("24 train / 4 validation" in line for line in lines), lines
    for row, want in zip(sharded.history, xyz.history):
        assert row["train_loss"] == pytest.approx(want["train_loss"], rel=1e-12)
        assert row["valid_loss"] == pytest.approx(want["valid_loss"], rel=1e-12)
    assert sharded.valid_metrics["energy"]["rmse"] == pytest.approx(xyz.valid_metrics["energy"]["rmse"], rel=1e-10)
    for (name, p), q in zip(load_model(xyz.model_path).state_dict().items(), load_model(sharded.model_path).state_dict().values()):
        torch.testing.assert_close(q, p, rtol=1e-12, atol=1e-14, msg=name)
    with pytest.raises(ValueError, match="not a converted dataset"):
        train(load_config(None, common + [f"data.train_file={tmp_path}"]), tmp_path / "bad", log=lambda line: None)
