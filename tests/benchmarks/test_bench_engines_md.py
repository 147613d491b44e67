"""The engines' NVE benchmark: its engines, and a run that resumes from its --json (slow: it runs MD)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.engines import ENGINES
from benchmarks.engines.nve import RUNNERS

ROOT = Path(__file__).resolve().parents[2]


def test_every_engine_runs_in_ours_or_a_built_environment():
    assert list(RUNNERS) == ["irreps-md", "metatomic-ase", "lammps", "openmm", "torchsim"]
    assert {venv for _, venv in RUNNERS.values() if venv is not None} == set(ENGINES)


@pytest.mark.slow
def test_a_rerun_keeps_the_finished_engines_and_refuses_other_settings(tmp_path):
    sys.path.insert(0, str(ROOT / "tests"))
    from small_models import small_model

    from irreps.models import save_model

    model = save_model(small_model("tensornet").double(), tmp_path / "model.pt")
    out = tmp_path / "md.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "bench_engines_md.py"), "--model", str(model),
               "--ps", "0.002", "--record-every", "2", "--engines", "irreps-md", "--json", str(out)]
    first = subprocess.run(command, capture_output=True, text=True, check=True)
    saved = json.loads(out.read_text())
    assert saved["settings"]["steps"] == 4 and [r["impl"] for r in saved["rows"]] == ["irreps-md"]
    assert saved["rows"][0]["ps"] == pytest.approx(0.002) and saved["rows"][0]["finite"], first.stdout
    again = subprocess.run(command, capture_output=True, text=True, check=True)
    assert "resuming" in again.stdout and "keeping irreps-md" in again.stdout and "[done]" not in again.stdout
    assert json.loads(out.read_text()) == saved
    other = subprocess.run(command[:-4] + ["--record-every", "1", "--json", str(out)], capture_output=True, text=True)
    assert other.returncode == 2 and "other settings (record_every)" in other.stderr


def test_drift_error_separates_a_ramp_from_noise():
    import numpy as np

    from benchmarks.md_acac import drift_record

    rng = np.random.default_rng(0)
    noise = drift_record("x", {"etot": rng.normal(0.0, 1e-4, 2001), "atoms": 1, "steps": 2000, "wall_s": 1.0}, 0.5, 10)
    assert noise["drift_meV_per_atom"] < 3 * noise["drift_err_meV_per_atom"]
    assert noise["rms_fluctuation_meV_per_atom"] == pytest.approx(0.1, rel=0.05)
    ramp = drift_record("x", {"etot": 1e-6 * np.arange(2001), "atoms": 1, "steps": 2000, "wall_s": 1.0}, 0.5, 10)
    assert ramp["drift_meV_per_atom"] == pytest.approx(2.0) and ramp["drift_err_meV_per_atom"] < 1e-9
