"""The Gaunt-vs-CG ablation's command lines, data fallback and result reading (no training)."""

from __future__ import annotations

import json

from benchmarks.ablate_gaunt_paths import command, data_overrides, read_result


def test_missing_full_data_falls_back_to_the_bundled_subsets(tmp_path):
    sets, note = data_overrides(tmp_path)
    assert sets == [] and "bundled" in note and str(tmp_path) in note
    for name in ("train_300K.xyz", "test_MD_300K.xyz", "isolated_atoms.xyz"):
        (tmp_path / name).write_text("")
    sets, note = data_overrides(tmp_path)
    assert f"data.train_file={tmp_path / 'train_300K.xyz'}" in sets and "full" in note


def test_both_variants_train_the_same_recipe_for_the_same_cpu_budget(tmp_path):
    gaunt, cg = (command(v, 1, 7.5, tmp_path / v, []) for v in ("gaunt", "cg+odd"))
    shared = {"run.max_minutes=7.5", "run.clock=cpu", "run.threads=1", "run.seed=1"}
    assert shared <= set(gaunt) and shared <= set(cg)
    assert "model.options.engine=gaunt" in gaunt
    assert {"model.options.engine=cg", "model.options.odd_paths=true"} <= set(cg)
    assert gaunt[gaunt.index("train") + 1] == cg[cg.index("train") + 1]


def test_result_reading_converts_to_mev(tmp_path):
    metrics = {"energy_per_atom": {"rmse": 0.002}, "forces": {"rmse": 0.05}}
    (tmp_path / "valid_metrics.json").write_text(json.dumps(metrics))
    (tmp_path / "metrics.json").write_text(json.dumps({"history": [{}, {}, {}], "best_epoch": 2}))
    row = read_result(tmp_path)
    assert row["valid_E_rmse_meV_atom"] == 2.0 and row["valid_F_rmse_meV_A"] == 50.0
    assert row["epochs"] == 3 and row["best_epoch"] == 2 and "test_F_rmse_meV_A" not in row
