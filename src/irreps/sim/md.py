"""Molecular dynamics: NVE velocity Verlet and Langevin NVT with ASE's integrators.

Outputs grow under ``<name>.part`` while the run goes and are renamed to their final names when
it finishes. Every trajectory frame stores positions, momenta, energy, forces, ``step`` and
``time_fs``, so a run resumes from the last frame of its (partial or finished) trajectory: NVE
continues exactly (velocity Verlet's state is positions and momenta); Langevin continues with a
fresh random stream seeded by ``seed + step``.

Every step is checked by :mod:`irreps.sim.guards` (on by default): a run that trips a guard
stops with :class:`~irreps.sim.guards.GuardTripped`, leaves its outputs as ``.part`` files
(``resume`` continues from their last frame, e.g. with a shorter time step) and writes the
last state that passed to ``<trajectory stem>.last_good<suffix>``.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import ase.io
import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixCom
from ase.io.trajectory import Trajectory
from ase.md.langevin import Langevin
from ase.md import velocitydistribution
from ase.md.velocitydistribution import Stationary, ZeroRotation
from ase.md.verlet import VelocityVerlet

from irreps.sim.guards import Guards, Watch, check_state, guards_in_charge, last_good_path
from irreps.sim.io import check_outputs, frame_format, partial_path, read_csv, write_csv
from irreps.sim.progress import Progress

LOG_COLUMNS = ("step", "time_fs", "temperature_K", "epot_eV", "ekin_eV", "etot_eV")
# added for a committee calculator: the members' spread (energy std, largest per-atom force deviation)
COMMITTEE_COLUMNS = ("epot_std_eV", "max_force_std_eV_A")
# added when the model file records its training domain (irreps.models.domain): below 1, or any
# unseen pair, the model extrapolates
DOMAIN_COLUMNS = ("domain_distance_ratio", "unseen_pairs")
# The info entries of a trajectory frame (beside its momenta): where it is in the run.
FRAME_INFO = ("step", "time_fs")


@dataclass(frozen=True)
class MDConfig:
    """Settings of one MD run.

    Attributes
    ----------
    ensemble : {"nve", "nvt"}
        ``nve``: velocity Verlet; ``nvt``: Langevin thermostat at ``temperature_K``.
    timestep_fs : float
    steps : int
        Total number of steps of the run (a resumed run continues up to this number).
    temperature_K : float
        Maxwell-Boltzmann initial temperature (before removing centre-of-mass motion and, for
        molecules, rotation) and the Langevin bath temperature.
    friction_per_fs : float
        Langevin friction (1/fs).
    seed : int
        Seeds the initial velocities and the Langevin noise.
    traj_every, log_every : int
        Write a trajectory frame / log row every so many steps.
    """

    ensemble: Literal["nve", "nvt"] = "nve"
    timestep_fs: float = 0.5
    steps: int = 1000
    temperature_K: float = 300.0
    friction_per_fs: float = 0.01
    seed: int = 0
    traj_every: int = 10
    log_every: int = 1

    def __post_init__(self) -> None:
        if self.ensemble not in ("nve", "nvt"):
            raise ValueError(f"ensemble must be 'nve' or 'nvt', got '{self.ensemble}'")
        if not self.timestep_fs > 0:
            raise ValueError(f"timestep_fs must be positive, got {self.timestep_fs}")
        if self.steps < 0 or self.traj_every < 1 or self.log_every < 1:
            raise ValueError("steps must be >= 0 and traj_every, log_every >= 1")
        if self.temperature_K < 0 or (self.ensemble == "nvt" and not self.friction_per_fs > 0):
            raise ValueError("temperature_K must be >= 0 and friction_per_fs > 0 for nvt")


@dataclass
class MDResult:
    """What a run produced: final state, log rows (dicts of :data:`LOG_COLUMNS`) and speed."""

    atoms: Atoms
    log: list[dict[str, float]]
    trajectory: Path
    log_path: Path
    first_step: int
    steps_per_s: float


def run_md(
    atoms: Atoms,
    calculator: Calculator,
    config: MDConfig,
    trajectory: str | os.PathLike,
    log: str | os.PathLike,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = False,
    guards: Guards = Guards(),
) -> MDResult:
    """Run MD of ``atoms`` (its momenta are drawn unless resuming), writing a trajectory and a CSV log.

    Parameters
    ----------
    atoms : ase.Atoms
        Starting structure; ignored (except for its constraints) when ``resume`` finds a frame.
    calculator : ase Calculator
    config : MDConfig
    trajectory : path
        ``.xyz``/``.extxyz`` or ``.traj``; frames every ``config.traj_every`` steps.
    log : path
        CSV with the columns :data:`LOG_COLUMNS` (and :data:`COMMITTEE_COLUMNS` when the calculator
        is a committee of models, :data:`DOMAIN_COLUMNS` when its model records its training domain).
    resume : bool
        Continue from the last frame of ``<trajectory>.part`` (an interrupted run) or of
        ``trajectory`` (a finished one, extended to ``config.steps``).
    overwrite : bool
        Replace existing outputs of a fresh run.
    progress : bool
        Show a progress line on stderr.
    guards : Guards
        Limits checked at every step (see :mod:`irreps.sim.guards`).

    Raises
    ------
    GuardTripped
        When a step fails a guard: the message names the step and what tripped, the last
        state that passed is in :func:`~irreps.sim.guards.last_good_path` of the trajectory,
        the outputs stay ``.part`` files.
    """
    trajectory, log = Path(trajectory), Path(log)
    fmt = frame_format(trajectory)
    traj_part, log_part = partial_path(trajectory), partial_path(log)
    last_good_file = last_good_path(trajectory)  # where a guard trip leaves the last good frame
    for folder in {trajectory.parent, log.parent}:
        folder.mkdir(parents=True, exist_ok=True)
    if resume:
        atoms, start = _resume_state(atoms, trajectory, log, fmt)
    else:
        check_outputs([trajectory, log], overwrite)
        for stale in (traj_part, log_part, last_good_file):
            stale.unlink(missing_ok=True)
        atoms = atoms.copy()
        draw_velocities(atoms, config.temperature_K, config.seed)
        start = 0
    atoms.calc = calculator

    dt = config.timestep_fs * units.fs
    if config.ensemble == "nve":
        dyn = VelocityVerlet(atoms, timestep=dt)
    else:
        rng = np.random.default_rng(config.seed + start)
        # The centre of mass is held by a constraint: Langevin's own fixcm samples NVT inexactly.
        if not any(isinstance(c, FixCom) for c in atoms.constraints):
            atoms.set_constraint(list(atoms.constraints) + [FixCom()])
        friction = config.friction_per_fs / units.fs
        dyn = Langevin(atoms, dt, temperature_K=config.temperature_K, friction=friction, fixcm=False, rng=rng)
    dyn.nsteps = start
    rows = read_csv(log_part) if start > 0 else []
    bar = Progress(config.steps - start, f"md {config.ensemble}", enabled=progress)
    t0 = time.perf_counter()
    watch = Watch(last_good_file)
    # NVE: the total energy the drift guard measures from (the calculator caches this state).
    with guards_in_charge([calculator]):
        reference_etot = atoms.get_potential_energy() + atoms.get_kinetic_energy() if config.ensemble == "nve" else None
        with _FrameWriter(traj_part, fmt) as writer, open(log_part, "a", newline="") as log_handle:
            committee = len(getattr(atoms.calc, "models", ())) > 1
            domain = getattr(atoms.calc, "_domain", None) is not None
            columns = LOG_COLUMNS + (COMMITTEE_COLUMNS if committee else ()) + (DOMAIN_COLUMNS if domain else ())
            log_writer = csv.DictWriter(log_handle, fieldnames=columns)
            if start == 0:
                log_writer.writeheader()

            def observe() -> None:
                step = dyn.nsteps
                frame = _frame(atoms, step, config.timestep_fs)
                where = f"step {step} ({step * config.timestep_fs:g} fs)"
                watch.check(check_state(guards, atoms, reference_etot), step, where, [frame])
                if step == start and start > 0:
                    return  # the resumed frame and row are already on disk
                if step % config.log_every == 0:
                    rows.append(_log_row(atoms, step, config.timestep_fs))
                    log_writer.writerow(rows[-1])
                    log_handle.flush()
                if step % config.traj_every == 0:
                    writer.write(frame)
                if progress:
                    bar.update(step - start, T=atoms.get_temperature())

            dyn.attach(observe, interval=1)
            try:
                dyn.run(config.steps - start)
            finally:
                bar.close()
    wall = time.perf_counter() - t0
    os.replace(traj_part, trajectory)
    os.replace(log_part, log)
    steps_done = config.steps - start
    return MDResult(atoms, rows, trajectory, log, start, steps_done / wall if wall > 0 else float("nan"))


def draw_velocities(atoms: Atoms, temperature_K: float, seed: int) -> None:
    """Maxwell-Boltzmann momenta at ``temperature_K``, without drift (or rotation for molecules)."""
    if temperature_K == 0:
        atoms.set_momenta(np.zeros((len(atoms), 3)))
        return
    rng = np.random.default_rng(seed)
    # ASE 3.29 renamed MaxwellBoltzmannDistribution (now deprecated) to thermalize_momenta.
    if hasattr(velocitydistribution, "thermalize_momenta"):
        velocitydistribution.thermalize_momenta(atoms, temperature_K, rng=rng)
    else:
        velocitydistribution.MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
    Stationary(atoms)
    if not atoms.pbc.any() and len(atoms) > 2:
        ZeroRotation(atoms)


def _resume_state(atoms: Atoms, trajectory: Path, log: Path, fmt: str) -> tuple[Atoms, int]:
    """Last frame and its step; moves finished outputs back to ``.part`` and trims the log to it."""
    traj_part, log_part = partial_path(trajectory), partial_path(log)
    if not traj_part.exists():
        if not trajectory.exists():
            raise FileNotFoundError(f"cannot resume: neither {traj_part} nor {trajectory} exists")
        if not log.exists():
            raise FileNotFoundError(f"cannot resume: {trajectory} exists but its log {log} does not")
        shutil.copyfile(trajectory, traj_part)
        shutil.copyfile(log, log_part)
    if not log_part.exists():
        raise FileNotFoundError(f"cannot resume: the log {log_part} is missing")
    try:
        last = ase.io.read(traj_part, index=-1, format=fmt)
    except Exception as err:  # ASE raises many types for truncated files
        raise ValueError(f"cannot resume: the last frame of {traj_part} is unreadable ({err})") from err
    if "step" not in last.info or "momenta" not in last.arrays:
        raise ValueError(f"cannot resume: {traj_part} was not written by irreps md (no step/momenta)")
    start = int(last.info["step"])
    kept = [row for row in read_csv(log_part) if row["step"] <= start]
    write_csv(log_part, kept) if kept else log_part.write_text(",".join(LOG_COLUMNS) + "\n")
    state = Atoms(last.numbers, last.positions, cell=last.cell, pbc=last.pbc, momenta=last.get_momenta())
    state.set_constraint(atoms.constraints)
    return state, start


def _log_row(atoms: Atoms, step: int, timestep_fs: float) -> dict[str, float]:
    epot = atoms.get_potential_energy()
    ekin = atoms.get_kinetic_energy()
    row = {
        "step": step,
        "time_fs": step * timestep_fs,
        "temperature_K": atoms.get_temperature(),
        "epot_eV": epot,
        "ekin_eV": ekin,
        "etot_eV": epot + ekin,
    }
    results = atoms.calc.results
    if "energy_std" in results:
        row.update(epot_std_eV=results["energy_std"], max_force_std_eV_A=float(np.max(results["forces_std"])))
    row.update({key: results[key] for key in DOMAIN_COLUMNS if key in results})
    return row


def _frame(atoms: Atoms, step: int, timestep_fs: float) -> Atoms:
    frame = Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=atoms.pbc, momenta=atoms.get_momenta())
    frame.info.update(step=step, time_fs=step * timestep_fs)  # FRAME_INFO
    frame.calc = SinglePointCalculator(frame, energy=atoms.get_potential_energy(), forces=atoms.get_forces())
    return frame


class _FrameWriter:
    """Appends frames to an extxyz or ``.traj`` file, each frame flushed in one write."""

    def __init__(self, path: Path, fmt: str):
        self.path, self.fmt = path, fmt

    def __enter__(self) -> "_FrameWriter":
        self._traj = Trajectory(self.path, "a") if self.fmt == "traj" else None
        return self

    def write(self, frame: Atoms) -> None:
        if self._traj is not None:
            self._traj.write(frame)
            return
        buffer = io.StringIO()
        ase.io.write(buffer, frame, format="extxyz")
        with open(self.path, "a") as handle:
            handle.write(buffer.getvalue())

    def __exit__(self, *exc) -> None:
        if self._traj is not None:
            self._traj.close()
