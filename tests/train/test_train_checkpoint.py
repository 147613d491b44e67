import random

import numpy as np
import pytest
import torch

from irreps.train.checkpoint import (
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from irreps.train.plots import plot_learning_curve
from plot_checks import lines, png_pixels, saved_figures


def test_checkpoint_round_trip_with_rng_states(tmp_path):
    torch.manual_seed(1)
    random.seed(2)
    np.random.seed(3)
    state = {"rng": rng_state(), "weights": torch.arange(3.0), "epoch": 4}
    expected = (torch.rand(2), random.random(), np.random.rand())
    save_checkpoint(tmp_path / "c.pt", state)
    torch.manual_seed(9)
    random.seed(9)
    np.random.seed(9)
    loaded = load_checkpoint(tmp_path / "c.pt")
    set_rng_state(loaded["rng"])
    assert torch.equal(torch.rand(2), expected[0])
    assert random.random() == expected[1] and np.random.rand() == expected[2]
    assert loaded["epoch"] == 4


def test_unreadable_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "bad.pt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(ValueError, match=r"not a readable checkpoint: the file is empty \(0 bytes\)$"):
        load_checkpoint(tmp_path / "empty.pt")


def test_learning_curve_draws_the_losses_and_the_force_error_in_mev(tmp_path):
    rows = [{"epoch": e, "train_loss": 1.0 / e, "valid_loss": 2.0 / e, "valid_forces_rmse": 0.1 / e} for e in (1, 2, 3)]
    with saved_figures() as figures:
        plot_learning_curve(rows, tmp_path / "curve.png")
    (figure,) = figures
    png_pixels(tmp_path / "curve.png", figure)
    loss, errors = figure.axes
    drawn = lines(loss)
    np.testing.assert_array_equal(drawn["train"][0], [1, 2, 3])
    np.testing.assert_allclose(drawn["train"][1], [1.0, 1 / 2, 1 / 3])
    np.testing.assert_allclose(drawn["validation"][1], [2.0, 1.0, 2 / 3])
    np.testing.assert_allclose(lines(errors)["F RMSE (meV/Å)"][1], [100.0, 50.0, 100 / 3])
    assert loss.get_yscale() == errors.get_yscale() == "log"
