"""Minimum-energy paths with ASE's nudged elastic band (climbing image, IDPP interpolation).

Every image of every step is checked by :mod:`irreps.sim.guards`; a trip raises
:class:`~irreps.sim.guards.GuardTripped` with the last band that passed saved.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator
from ase.mep import NEB
from ase.optimize import BFGS, FIRE

from irreps.sim.guards import Guards, Watch, check_structure, guards_in_charge
from irreps.sim.progress import Progress

OPTIMIZERS = {"fire": FIRE, "bfgs": BFGS}


@dataclass(frozen=True)
class NEBConfig:
    """Settings of an NEB run.

    Attributes
    ----------
    images : int
        Number of movable images between the two end points.
    climb : bool
        Climbing image: the highest image climbs to the saddle.
    interpolation : {"idpp", "linear"}
        Initial path: image-dependent pair potential (Smidstrup et al. 2014) or straight line.
    optimizer : {"fire", "bfgs"}
    fmax : float
        Converged when the largest NEB force on any image is below this (eV/Å).
    steps : int
    spring : float
        Spring constant between images (eV/Å^2).
    """

    images: int = 7
    climb: bool = True
    interpolation: Literal["idpp", "linear"] = "idpp"
    optimizer: Literal["fire", "bfgs"] = "fire"
    fmax: float = 0.05
    steps: int = 500
    spring: float = 0.1

    def __post_init__(self) -> None:
        if self.images < 1:
            raise ValueError(f"images must be >= 1, got {self.images}")
        if self.interpolation not in ("idpp", "linear") or self.optimizer not in OPTIMIZERS:
            raise ValueError("interpolation must be 'idpp' or 'linear' and optimizer 'fire' or 'bfgs'")
        if not (self.fmax > 0 and self.spring > 0) or self.steps < 0:
            raise ValueError("fmax and spring must be positive and steps >= 0")


@dataclass
class NEBResult:
    """The band (end points included, each with energy and forces), its energies and barriers.

    Attributes
    ----------
    images : list[ase.Atoms]
    energies : np.ndarray [images + 2]
        eV.
    path : np.ndarray [images + 2]
        Cumulative distance along the band, Å (the reaction coordinate of the profile).
    highest : int
        Index of the highest-energy image (the climbing image when ``climb``).
    """

    images: list[Atoms]
    energies: np.ndarray
    path: np.ndarray
    converged: bool
    steps: int
    highest: int

    @property
    def barrier_forward(self) -> float:
        return float(self.energies[self.highest] - self.energies[0])

    @property
    def barrier_reverse(self) -> float:
        return float(self.energies[self.highest] - self.energies[-1])


def run_neb(
    start: Atoms,
    end: Atoms,
    make_calculator: Callable[[], Calculator],
    config: NEBConfig = NEBConfig(),
    progress: bool = False,
    guards: Guards = Guards(),
    last_good: str | os.PathLike | None = None,
) -> NEBResult:
    """Nudged elastic band between ``start`` and ``end`` (same atoms, same order).

    ``make_calculator`` returns a fresh calculator for each image (a calculator keeps per-structure
    state such as its neighbour list; they may share one model). Every image is checked against
    ``guards`` at every step; an image that fails raises
    :class:`~irreps.sim.guards.GuardTripped` after the last band that passed is written to
    ``last_good`` (when given).
    """
    if len(start) != len(end) or not np.array_equal(start.numbers, end.numbers):
        raise ValueError("start and end must contain the same atoms in the same order")
    if not (np.array_equal(start.pbc, end.pbc) and np.allclose(start.cell.array, end.cell.array)):
        raise ValueError("start and end must have the same cell and periodicity")
    images = [start.copy()] + [start.copy() for _ in range(config.images)] + [end.copy()]
    for image in images:
        image.calc = make_calculator()
    band = NEB(images, k=config.spring, climb=config.climb, method="improvedtangent")
    band.interpolate(method=config.interpolation, apply_constraint=True)
    optimizer = OPTIMIZERS[config.optimizer](band, logfile=None)
    bar = Progress(config.steps, "neb", enabled=progress)
    watch = Watch(last_good, noun="band")

    def observe() -> None:
        step = optimizer.nsteps
        n, problem = _first_problem(guards, images)
        watch.check(problem, step, f"step {step}, image {n}", [_snapshot(image) for image in images])
        if progress:
            start_energy = images[0].get_potential_energy()
            bar.update(step, barrier=max(i.get_potential_energy() for i in images[1:-1]) - start_energy)

    optimizer.attach(observe)
    with guards_in_charge([image.calc for image in images]):
        converged = bool(optimizer.run(fmax=config.fmax, steps=config.steps))
    bar.close()
    frames = [_snapshot(image) for image in images]
    energies = np.array([frame.get_potential_energy() for frame in frames])
    steps_between = [np.linalg.norm(b.positions - a.positions) for a, b in zip(images, images[1:])]
    path = np.concatenate([[0.0], np.cumsum(steps_between)])
    highest = int(np.argmax(energies[1:-1])) + 1
    return NEBResult(frames, energies, path, converged, optimizer.nsteps, highest)


def _first_problem(guards: Guards, images: list[Atoms]) -> tuple[int, str | None]:
    """The first image that fails the guards and what is wrong with it; ``(-1, None)`` when none does."""
    for n, image in enumerate(images):
        problem = check_structure(guards, image)
        if problem is not None:
            return n, problem
    return -1, None


def _snapshot(image: Atoms) -> Atoms:
    """A copy of an image with its energy and forces, without its calculator or constraints."""
    frame = Atoms(image.numbers, image.positions, cell=image.cell, pbc=image.pbc)
    frame.calc = SinglePointCalculator(frame, energy=image.get_potential_energy(), forces=image.get_forces())
    return frame
