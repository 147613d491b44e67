"""Geometry (and cell) relaxation with ASE's BFGS or FIRE optimisers.

Every step is checked by :mod:`irreps.sim.guards` (on by default): a relaxation that trips a
guard stops with :class:`~irreps.sim.guards.GuardTripped` and leaves the last step that
passed in ``last_good``. A relaxed structure is at rest: what MD left on the input (momenta,
the step and time of an ``irreps md`` frame) is not carried into the outputs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS, FIRE

from irreps.sim.guards import Guards, Watch, check_structure, guards_in_charge
from irreps.sim.io import check_outputs, write_frames
from irreps.sim.md import FRAME_INFO
from irreps.sim.progress import Progress

OPTIMIZERS = {"bfgs": BFGS, "fire": FIRE}


@dataclass(frozen=True)
class RelaxConfig:
    """Settings of a relaxation.

    Attributes
    ----------
    optimizer : {"bfgs", "fire"}
    fmax : float
        Converged when the largest force on the optimised degrees of freedom is below this
        (eV/Å): atomic forces, and with ``relax_cell`` also the cell's generalised forces
        (stress times volume, as ASE's cell filter defines them).
    steps : int
        Maximum number of optimiser steps.
    relax_cell : bool
        Also relax the lattice (periodic structures only), via ASE's ``FrechetCellFilter``.
    fixed : tuple[int, ...]
        Indices of atoms held fixed.
    """

    optimizer: Literal["bfgs", "fire"] = "bfgs"
    fmax: float = 0.05
    steps: int = 500
    relax_cell: bool = False
    fixed: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got '{self.optimizer}'")
        if not self.fmax > 0 or self.steps < 0:
            raise ValueError(f"fmax must be positive and steps >= 0, got fmax={self.fmax}, steps={self.steps}")


@dataclass
class RelaxResult:
    """Final structure (with a calculator holding its energy and forces) and convergence."""

    atoms: Atoms
    converged: bool
    steps: int
    energy: float
    fmax: float
    frames: list[Atoms]


def relax(
    atoms: Atoms,
    calculator: Calculator,
    config: RelaxConfig = RelaxConfig(),
    trajectory: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool = False,
    guards: Guards = Guards(),
    last_good: str | os.PathLike | None = None,
) -> RelaxResult:
    """Relax a copy of ``atoms``; optionally write every step to ``trajectory`` (atomically, at the end).

    Every step is checked against ``guards`` (:func:`~irreps.sim.guards.check_structure`);
    a step that fails raises :class:`~irreps.sim.guards.GuardTripped` after the last step that
    passed is written to ``last_good`` (when given).
    """
    check_outputs([trajectory], overwrite)
    atoms = _at_rest(atoms)
    if config.fixed:
        bad = [i for i in config.fixed if not -len(atoms) <= i < len(atoms)]
        if bad:
            raise ValueError(f"fixed atom indices {bad} are out of range for {len(atoms)} atoms")
        atoms.set_constraint(list(atoms.constraints) + [FixAtoms(indices=list(config.fixed))])
    if config.relax_cell and not atoms.pbc.all():
        raise ValueError(f"cell relaxation needs a structure periodic in all directions, got pbc={atoms.pbc.tolist()}")
    atoms.calc = calculator
    target = FrechetCellFilter(atoms) if config.relax_cell else atoms
    optimizer = OPTIMIZERS[config.optimizer](target, logfile=None)
    frames: list[Atoms] = []
    bar = Progress(config.steps, f"relax {config.optimizer}", enabled=progress)
    watch = Watch(last_good)

    def observe() -> None:
        frames.append(_snapshot(atoms, config.relax_cell))
        step = optimizer.nsteps
        watch.check(check_structure(guards, atoms), step, f"step {step}", frames[-1:])
        if progress:  # the energy change from the start (eV): a total of -1.766e+04 hides it
            change = frames[-1].get_potential_energy() - frames[0].get_potential_energy()
            bar.update(optimizer.nsteps, dE=change, fmax=_fmax(target))

    optimizer.attach(observe, interval=1)
    with guards_in_charge([calculator]):
        converged = bool(optimizer.run(fmax=config.fmax, steps=config.steps))
    bar.close()
    if trajectory is not None:
        write_frames(trajectory, frames)
    return RelaxResult(atoms, converged, optimizer.nsteps, atoms.get_potential_energy(), _fmax(target), frames)


def _at_rest(atoms: Atoms) -> Atoms:
    """A copy of ``atoms`` without its momenta and the step/time info of an MD frame."""
    atoms = atoms.copy()
    atoms.arrays.pop("momenta", None)
    for key in FRAME_INFO:
        atoms.info.pop(key, None)
    return atoms


def _fmax(target) -> float:
    return float(np.sqrt((target.get_forces() ** 2).sum(axis=1)).max())


def _snapshot(atoms: Atoms, with_stress: bool) -> Atoms:
    frame = atoms.copy()
    frame.set_constraint()
    results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(apply_constraint=False)}
    if with_stress:
        results["stress"] = atoms.get_stress()
    frame.calc = SinglePointCalculator(frame, **results)
    return frame
