"""Simulation guards: stop a run whose physics has gone wrong instead of writing nonsense.

A model pushed outside its training domain (too long a time step, a geometry it never saw)
can send atoms on top of each other or fly a molecule apart while the run goes on and
reports a mean temperature of 19000 K at the end. Every workflow (``md``, ``relax``, ``ts``,
``neb``, ``vib``) checks each state it computes with :func:`check_structure`:

- non-finite energies or forces (always),
- two atoms closer than ``min_distance`` times a reference distance of their element pair:
  the shortest distance of that pair in the model's training data where the model file
  records it (:mod:`irreps.models.domain`), the sum of their covalent radii otherwise
  (``ase.data.covalent_radii``; 0.5 puts C-H at 0.53 Å, H-H at 0.31 Å),
- a force component beyond ``max_force_eV_A``;

and MD also (:func:`check_state`)

- a temperature beyond ``max_temperature_K``,
- in NVE, a total energy that moved more than ``max_drift_meV_per_atom`` from its value at
  the first step checked (velocity Verlet conserves it to far less with a sound time step).

Each limit is ``None`` to switch that check off. :class:`Watch` keeps the last state that
passed; a trip writes it to a file and raises :class:`GuardTripped`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from irreps.calculators.limits import StructureLimits
from irreps.sim.io import write_frames


class GuardTripped(RuntimeError):
    """A guard stopped a simulation: ``str(err)`` says what tripped at which step.

    Attributes
    ----------
    step : int
        The step whose state failed the check.
    last_good : Path or None
        The file holding the last state that passed (``None`` when the first one failed).
    """

    def __init__(self, message: str, step: int, last_good: Path | None):
        super().__init__(message)
        self.step = step
        self.last_good = last_good


@dataclass(frozen=True)
class Guards(StructureLimits):
    """Limits checked at every step; ``None`` switches a check off (see the module docstring).

    The structure limits (``min_distance``, ``max_force_eV_A``, ``training_distances``) are
    those of :class:`~irreps.calculators.limits.StructureLimits`; MD adds:

    Attributes
    ----------
    max_temperature_K : float or None
    max_drift_meV_per_atom : float or None
        Largest allowed change of the total energy per atom in NVE (meV/atom).
    """

    max_temperature_K: float | None = 10000.0
    max_drift_meV_per_atom: float | None = 50.0

    def _positive_fields(self) -> tuple[str, ...]:
        return super()._positive_fields() + ("max_temperature_K", "max_drift_meV_per_atom")


def check_structure(guards: StructureLimits, atoms: Atoms) -> str | None:
    """What is wrong with ``atoms`` (with a calculator) at any step of any workflow, or ``None``:
    non-finite energy or forces, atoms below the distance floor, a force beyond the limit."""
    return guards.problem(atoms, atoms.get_potential_energy(), atoms.get_forces(apply_constraint=False))


def check_hessian(hessian: np.ndarray) -> str | None:
    """What is wrong with a predicted Hessian (vibrations, saddle searches), or ``None``."""
    return None if np.isfinite(hessian).all() else "non-finite Hessian"


def check_state(guards: Guards, atoms: Atoms, reference_etot: float | None) -> str | None:
    """:func:`check_structure` plus the MD checks (temperature, NVE drift), or ``None``.

    ``reference_etot`` (eV) is the total energy the NVE drift is measured from; ``None``
    skips the drift check (NVT).
    """
    problem = check_structure(guards, atoms)
    if problem is not None:
        return problem
    temperature = atoms.get_temperature()
    if guards.max_temperature_K is not None and temperature > guards.max_temperature_K:
        return f"temperature {temperature:.0f} K exceeds the limit of {guards.max_temperature_K:g} K"
    if guards.max_drift_meV_per_atom is not None and reference_etot is not None:
        drift = 1000 * (atoms.get_potential_energy() + atoms.get_kinetic_energy() - reference_etot) / len(atoms)
        if abs(drift) > guards.max_drift_meV_per_atom:
            return (f"NVE total energy drifted by {drift:+.1f} meV/atom, beyond the limit of "
                    f"{guards.max_drift_meV_per_atom:g} meV/atom (a time step too long for the model?)")
    return None


class Watch:
    """Follows the checked states of one run and keeps the last one that passed.

    Parameters
    ----------
    last_good_file : path or None
        Where a trip writes the last good state (extxyz or ``.traj``); ``None`` writes nothing.
    noun : str
        What one state is called in messages: ``frame`` (one structure), ``band`` (NEB images).
    """

    def __init__(self, last_good_file: str | os.PathLike | None, noun: str = "frame"):
        self.last_good_file = Path(last_good_file) if last_good_file is not None else None
        self.noun = noun
        self.last_good: list[Atoms] | None = None
        self.last_good_step: int | None = None

    def check(self, problem: str | None, step: int, where: str, frames: Sequence[Atoms]) -> None:
        """Record ``frames`` (the state at ``step``) as the last good one when ``problem`` is
        ``None``; otherwise write the last good state and raise :class:`GuardTripped` naming
        ``where`` (e.g. ``step 12 (6 fs)``) and the problem."""
        if problem is None:
            self.last_good, self.last_good_step = list(frames), step
            return
        stopped = f"stopped at {where}: {problem}"
        if self.last_good is None:
            raise GuardTripped(f"{stopped}; the first {self.noun} already fails, nothing was saved", step, None)
        if self.last_good_file is None:
            raise GuardTripped(f"{stopped}; the last good {self.noun} was step {self.last_good_step}", step, None)
        write_frames(self.last_good_file, self.last_good)
        raise GuardTripped(
            f"{stopped}; the last good {self.noun} (step {self.last_good_step}) is in {self.last_good_file}",
            step, self.last_good_file,
        )


@contextmanager
def guards_in_charge(calculators: Iterable[Calculator]) -> Iterator[None]:
    """Within the block the workflow's guards alone judge each state: the calculators' own
    limits (:class:`~irreps.calculators.IrrepsCalculator`'s ``limits``) are switched off, so
    a guard the user loosened is not enforced behind their back and a trip keeps the last good
    state; they are restored afterwards."""
    saved = [(calc, calc.limits) for calc in calculators if hasattr(calc, "limits")]
    for calc, _ in saved:
        calc.limits = None
    try:
        yield
    finally:
        for calc, limits in saved:
            calc.limits = limits


def last_good_path(output: str | os.PathLike) -> Path:
    """Where a run stopped by a guard leaves its last good state: ``<stem>.last_good<suffix>``
    beside its main output (the trajectory, relaxed structure, saddle or band)."""
    output = Path(output)
    return output.with_name(f"{output.stem}.last_good{output.suffix}")
