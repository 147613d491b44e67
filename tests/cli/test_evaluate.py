"""``irreps evaluate MODEL DATA`` on the output of a tiny training run."""

import json

import ase.io
import numpy as np
import pytest

from irreps.cli.main import main
from irreps.data import bundled_path
from irreps.train.config import load_config
from irreps.train.run import train
from plot_checks import png_pixels, saved_figures


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    config = load_config(None, [
        "data.train_file=bundled:acac_train", "data.isolated_atoms_file=bundled:acac_isolated_atoms",
        "data.max_train=12", "data.valid_fraction=0.05", "model.options={hidden_dim: 8, num_layers: 1, num_rbf: 8}",
        "run.epochs=1", "run.progress=false", "run.device=cpu",
    ])
    return train(config, tmp_path_factory.mktemp("run") / "run", log=lambda line: None).model_path


def test_evaluate_prints_and_writes(model_path, tmp_path, capsys):
    with saved_figures() as figures:
        assert main(["evaluate", str(model_path), "bundled:acac_test", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "E/atom MAE (meV/atom)" in out and "F RMSE (meV/Å)" in out
    metrics = json.loads((tmp_path / "acac_test_metrics.json").read_text())
    assert metrics["energy"]["count"] == 100
    assert metrics["energy"]["rmse"] >= metrics["energy"]["mae"] > 0
    (figure,) = figures  # the parity plot: reference on x, prediction on y, the errors the metrics report
    png_pixels(tmp_path / "acac_test_parity.png", figure)
    energy, forces = (axes.collections[0].get_offsets().data for axes in figure.axes)
    frames = ase.io.read(bundled_path("acac_test"), ":")
    np.testing.assert_allclose(energy[:, 0], [a.get_potential_energy() / len(a) for a in frames])
    assert np.abs(energy[:, 1] - energy[:, 0]).mean() == pytest.approx(metrics["energy_per_atom"]["mae"])
    assert len(forces) == 3 * sum(len(a) for a in frames)
    assert np.sqrt(np.mean((forces[:, 1] - forces[:, 0]) ** 2)) == pytest.approx(metrics["forces"]["rmse"])
    assert main(["evaluate", str(model_path), "bundled:acac_test", "--out", str(tmp_path)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["evaluate", str(model_path), "bundled:acac_test", "--out", str(tmp_path), "--overwrite",
                 "--dtype", "float32", "--no-forces", "--threads", "1"]) == 0
    again = json.loads((tmp_path / "acac_test_metrics.json").read_text())
    assert "forces" not in again
    assert again["energy"]["mae"] == pytest.approx(metrics["energy"]["mae"], abs=2e-3)


def test_evaluate_errors(model_path, tmp_path, capsys):
    assert main(["evaluate", str(model_path), str(tmp_path / "none.xyz"), "--out", str(tmp_path)]) == 2
    assert "no such data file" in capsys.readouterr().err
    assert main(["evaluate", str(model_path), "bundled:acac_test", "--key", "enrgy=E", "--out", str(tmp_path)]) == 2
    assert "did you mean 'energy'" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "none.pt"), "bundled:acac_test"]) == 2
    assert main(["evaluate", str(model_path), "bundled:acac_test", "--threads", "0"]) == 2
    assert main(["evaluate", str(model_path), "bundled:acac_test", "--model-option", "hidden_dim=4"]) == 2
    assert "'hidden_dim' cannot change after training" in capsys.readouterr().err
    assert main(["evaluate", str(model_path), "bundled:acac_test", "--model-option", "grid_resolution"]) == 2
    assert "--model-option expects KEY=VALUE" in capsys.readouterr().err


def test_overlapping_atoms_are_refused_unless_allowed(model_path, tmp_path, capsys):
    """A test file whose frame 2 has two atoms 1e-4 Å apart: no metrics are written as if it
    were valid; the error names the frame and the pair; --allow-close-atoms evaluates it."""
    frames = ase.io.read(bundled_path("acac_test"), ":4")
    frames[2].positions[1] = frames[2].positions[0] + [1e-4, 0, 0]
    ase.io.write(tmp_path / "bad.xyz", frames)
    args = ["evaluate", str(model_path), str(tmp_path / "bad.xyz"), "--out", str(tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"bad.xyz, frame 2: overlapping atoms: atoms 0 ({frames[2][0].symbol}) and 1 ({frames[2][1].symbol}) are 0.0001 Å apart" in err
    assert not (tmp_path / "bad_metrics.json").exists()
    assert main(args + ["--allow-close-atoms"]) == 0
    assert json.loads((tmp_path / "bad_metrics.json").read_text())["energy"]["count"] == 4


def test_an_element_the_model_never_saw_is_named_before_any_other_check(model_path, tmp_path, capsys):
    """Uranium where a carbon was also overlaps its neighbours (its covalent radius is large):
    the error must name the unknown element, the actual problem, not the overlap."""
    frames = ase.io.read(bundled_path("acac_test"), ":3")
    frames[1].numbers[0] = 92
    ase.io.write(tmp_path / "alien.xyz", frames)
    assert main(["evaluate", str(model_path), str(tmp_path / "alien.xyz"), "--out", str(tmp_path)]) == 2
    assert "alien.xyz, frame 1: element(s) U not among the model's elements H, C, O" in capsys.readouterr().err
