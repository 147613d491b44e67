"""MD: NVE energy conservation, Langevin temperature, exact resumption, output safety."""

import os

import ase.io
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from irreps.calculators import IrrepsCalculator
from irreps.models import build_model
from irreps.sim.guards import Guards
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


def mean_and_standard_error(series, blocks: int = 20) -> tuple[float, float]:
    """Mean of a correlated time series and its standard error from the means of ``blocks``
    consecutive blocks (each much longer than the correlation time, so nearly independent)."""
    values = np.asarray(series, dtype=float)
    block_means = values[: len(values) // blocks * blocks].reshape(blocks, -1).mean(axis=1)
    return float(values.mean()), float(block_means.std(ddof=1) / np.sqrt(blocks))


def test_langevin_holds_the_bath_temperature(tmp_path):
    """The mean temperature of a Langevin run is the bath's within 4 standard errors.

    32 Cu atoms (93 degrees of freedom: the centre of mass is held) fluctuate by
    T sqrt(2/93) ~ 120 K; 1 ps after a 200 fs start gives a standard error near 10 K, so a
    bath off by 10 % (80 K) fails. ASE's EMT stands in for a model: the thermostat is what is
    tested and EMT is several times faster; the distance guard is off for the same reason.
    """
    crystal = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 2)
    config = MDConfig(ensemble="nvt", steps=600, timestep_fs=2.0, temperature_K=800.0, friction_per_fs=0.1, seed=3,
                      traj_every=600)
    result = run_md(crystal, EMT(), config, tmp_path / "t.xyz", tmp_path / "t.csv", guards=Guards(min_distance=None))
    mean, error = mean_and_standard_error([row["temperature_K"] for row in result.log[100:]])
    assert error < 20, error  # else the test could not tell a 10 % error from chance
    assert abs(mean - 800.0) < 4 * error, (mean, error)


def test_a_zero_kelvin_bath_keeps_a_crystal_at_rest(copper, tmp_path):
    config = MDConfig(ensemble="nvt", steps=50, timestep_fs=2.0, temperature_K=0.0, friction_per_fs=0.05, seed=3)
    cold = run_md(copper, calculator(), config, tmp_path / "a.xyz", tmp_path / "a.csv")
    assert cold.log[0]["temperature_K"] == 0.0
    assert max(row["temperature_K"] for row in cold.log) < 1e-6


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
    "kwargs, message",
    [
        ({"timestep_fs": 0}, "timestep_fs must be positive, got 0"),
        ({"steps": -1}, "steps must be >= 0"),
        ({"traj_every": 0}, "traj_every, log_every >= 1"),
        ({"log_every": 0}, "traj_every, log_every >= 1"),
        ({"ensemble": "npt"}, "ensemble must be 'nve' or 'nvt', got 'npt'"),
        ({"ensemble": "nvt", "friction_per_fs": 0}, "friction_per_fs > 0 for nvt"),
        ({"temperature_K": -1.0}, "temperature_K must be >= 0"),
    ],
)
def test_bad_config_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MDConfig(**kwargs)


def _no_log(trajectory, log):
    log.unlink()


def _interrupted_without_its_log(trajectory, log):
    os.replace(trajectory, partial_path(trajectory))
    log.unlink()


def _interrupted_mid_frame(trajectory, log):
    os.replace(log, partial_path(log))
    trajectory.unlink()
    partial_path(trajectory).write_text("3\nnot a frame\n")


def _foreign_trajectory(trajectory, log):
    ase.io.write(trajectory, bulk("Cu", "fcc", a=3.6), format="extxyz")  # no step, no momenta


@pytest.mark.parametrize(
    "damage, error, message",
    [
        (_no_log, FileNotFoundError, r"cannot resume: .*t.extxyz exists but its log .*log.csv does not"),
        (_interrupted_without_its_log, FileNotFoundError, r"cannot resume: the log .*log.csv.part is missing"),
        (_interrupted_mid_frame, ValueError, r"cannot resume: the last frame of .*t.extxyz.part is unreadable"),
        (_foreign_trajectory, ValueError, r"cannot resume: .*t.extxyz.part was not written by irreps md \(no step/momenta\)"),
    ],
    ids=["no-log", "interrupted-without-its-log", "interrupted-mid-frame", "foreign-trajectory"],
)
def test_resume_refuses_missing_or_foreign_outputs(copper, tmp_path, damage, error, message):
    trajectory, log = tmp_path / "t.extxyz", tmp_path / "log.csv"
    run_md(copper, calculator(), MDConfig(steps=4, traj_every=2), trajectory, log)
    damage(trajectory, log)
    with pytest.raises(error, match=message):
        run_md(copper, calculator(), MDConfig(steps=8, traj_every=2), trajectory, log, resume=True)
