"""MD: NVE energy conservation, Langevin temperature, exact resumption, output safety."""

import ase.io
import numpy as np
import pytest
from ase.build import bulk

from irreps.calculators import IrrepsCalculator
from irreps.models import build_model
from irreps.sim.io import partial_path
from irreps.sim.md import MDConfig, run_md


@pytest.fixture
def copper():
    return bulk("Cu", "fcc", a=3.6) * (2, 2, 2)


def calculator():
    return IrrepsCalculator(build_model("morse_pair", {"elements": [29]}), dtype="float64")


def test_nve_conserves_total_energy(copper, tmp_path):
    config = MDConfig(steps=200, timestep_fs=1.0, temperature_K=600, traj_every=50)
    result = run_md(copper, calculator(), config, tmp_path / "t.extxyz", tmp_path / "log.csv")
    etot = np.array([row["etot_eV"] for row in result.log])
    epot = np.array([row["epot_eV"] for row in result.log])
    assert len(result.log) == 201 and result.log[-1]["step"] == 200
    # Energy really flows between kinetic and potential, while the total stays put.
    assert np.ptp(epot) > 0.05
    assert np.ptp(etot) / len(copper) < 1e-4
    frames = ase.io.read(tmp_path / "t.extxyz", ":")
    assert [f.info["step"] for f in frames] == [0, 50, 100, 150, 200]
    assert not partial_path(tmp_path / "t.extxyz").exists()


def test_langevin_heats_to_the_bath_temperature(copper, tmp_path):
    config = MDConfig(ensemble="nvt", steps=300, timestep_fs=2.0, temperature_K=0.0, friction_per_fs=0.05, seed=3, log_every=10)
    cold = run_md(copper, calculator(), config, tmp_path / "a.xyz", tmp_path / "a.csv")
    assert cold.log[0]["temperature_K"] == 0.0
    hot = MDConfig(ensemble="nvt", steps=300, timestep_fs=2.0, temperature_K=800.0, friction_per_fs=0.05, seed=3, log_every=10)
    result = run_md(copper, calculator(), hot, tmp_path / "b.xyz", tmp_path / "b.csv")
    late = np.mean([row["temperature_K"] for row in result.log[10:]])
    assert 400 < late < 1300  # 8 atoms fluctuate strongly around 800 K
    assert np.mean([row["temperature_K"] for row in cold.log[10:]]) < 5


def test_resumed_nve_run_continues_exactly(copper, tmp_path):
    config = MDConfig(steps=60, timestep_fs=2.0, temperature_K=500, traj_every=20)
    straight = run_md(copper, calculator(), config, tmp_path / "full.traj", tmp_path / "full.csv")
    half = MDConfig(steps=40, timestep_fs=2.0, temperature_K=500, traj_every=20)
    run_md(copper, calculator(), half, tmp_path / "part.traj", tmp_path / "part.csv")
    resumed = run_md(copper, calculator(), config, tmp_path / "part.traj", tmp_path / "part.csv", resume=True)
    assert resumed.first_step == 40
    np.testing.assert_allclose(resumed.atoms.positions, straight.atoms.positions, atol=1e-12)
    assert [row["step"] for row in resumed.log] == list(range(61))
    frames = ase.io.read(tmp_path / "part.traj", ":")
    assert [f.info["step"] for f in frames] == [0, 20, 40, 60]


def test_resume_after_an_interruption_trims_the_log(copper, tmp_path):
    trajectory, log = tmp_path / "t.extxyz", tmp_path / "log.csv"
    run_md(copper, calculator(), MDConfig(steps=30, traj_every=10), trajectory, log)
    # Simulate a crash at step 25: outputs still .part, log ahead of the last frame (step 20).
    frames = ase.io.read(trajectory, ":")[:3]
    ase.io.write(partial_path(trajectory), frames, format="extxyz")
    rows = log.read_text().splitlines()[:27]
    partial_path(log).write_text("\n".join(rows) + "\n")
    trajectory.unlink()
    log.unlink()
    result = run_md(copper, calculator(), MDConfig(steps=30, traj_every=10), trajectory, log, resume=True)
    assert result.first_step == 20
    assert [row["step"] for row in result.log] == list(range(31))
    assert trajectory.exists() and not partial_path(trajectory).exists()


def test_refuses_to_overwrite_and_to_resume_nothing(copper, tmp_path):
    trajectory, log = tmp_path / "t.xyz", tmp_path / "log.csv"
    run_md(copper, calculator(), MDConfig(steps=2), trajectory, log)
    with pytest.raises(FileExistsError, match="already exist"):
        run_md(copper, calculator(), MDConfig(steps=2), trajectory, log)
    run_md(copper, calculator(), MDConfig(steps=3), trajectory, log, overwrite=True)
    with pytest.raises(FileNotFoundError, match="cannot resume"):
        run_md(copper, calculator(), MDConfig(steps=3), tmp_path / "x.xyz", tmp_path / "x.csv", resume=True)
    with pytest.raises(ValueError, match="trajectory files must end in"):
        run_md(copper, calculator(), MDConfig(steps=3), tmp_path / "x.pdb", tmp_path / "x.csv")


@pytest.mark.parametrize(
    "kwargs", [{"timestep_fs": 0}, {"steps": -1}, {"traj_every": 0}, {"ensemble": "npt"}, {"ensemble": "nvt", "friction_per_fs": 0}]
)
def test_bad_config_raises(kwargs):
    with pytest.raises(ValueError):
        MDConfig(**kwargs)
