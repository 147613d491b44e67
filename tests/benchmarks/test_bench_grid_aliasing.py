"""The grid-aliasing benchmark on a tiny eSCN: rows per grid, finer grids rotate more exactly, clear skips."""

from __future__ import annotations

import json

import torch

from benchmarks.bench_grid_aliasing import main
from irreps.data import bundled_path
from irreps.models import build_model, save_model


def test_finer_grids_lower_the_rotation_error_of_a_saved_model(tmp_path, capsys):
    torch.manual_seed(0)
    model = build_model("escn", dict(elements=[1, 6, 8], lmax=2, mmax=2, sphere_channels=4, hidden_channels=4,
                                     edge_channels=4, num_layers=1, cutoff=3.5, distance_resolution=0.25,
                                     grid_resolution=6, sample_resolution=6))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    path = save_model(model, tmp_path / "m.pt")
    out = tmp_path / "grids.json"
    assert main(["--model", str(path), "--test", str(bundled_path("acac_test")), "--grids", "0", "24",
                 "--structures", "3", "--rotated", "1", "--rotations", "2", "--energy-key", "energy",
                 "--forces-key", "forces", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["grid_resolution"] for r in rows] == ["trained", 24]
    assert rows[1]["rotation_forces_max_meV_A"] < rows[0]["rotation_forces_max_meV_A"] / 10
    assert all(r["forces_rmse_meV_A"] > 0 for r in rows)
    assert "| 24 |" in capsys.readouterr().out


def test_missing_files_print_one_skip_line(tmp_path, capsys):
    assert main(["--model", str(tmp_path / "none.pt"), "--test", str(tmp_path / "none.xyz")]) == 0
    assert capsys.readouterr().out.startswith("skip: no model file")
