"""Simulation guards: stop a run whose physics has gone wrong instead of writing nonsense.

A model pushed outside its training domain (too long a time step, a geometry it never saw)
can send atoms on top of each other or fly a molecule apart while the run goes on and
reports a mean temperature of 19000 K at the end. :class:`Guards` checks every step for

- non-finite energies or forces (always),
- two atoms closer than ``min_distance`` times the sum of their covalent radii
  (``ase.data.covalent_radii``; 0.5 puts C-H at 0.53 Å, H-H at 0.31 Å),
- a force component beyond ``max_force_eV_A``,
- a temperature beyond ``max_temperature_K``,
- in NVE, a total energy that moved more than ``max_drift_meV_per_atom`` from its value at
  the first step checked (velocity Verlet conserves it to far less with a sound time step).

Each limit is ``None`` to switch that check off. A trip raises :class:`GuardTripped`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols, covalent_radii

from irreps.data.neighbors import neighbor_list


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
class Guards:
    """Limits checked at every step; ``None`` switches a check off (see the module docstring).

    Attributes
    ----------
    min_distance : float or None
        Floor on interatomic distances as a fraction of the sum of covalent radii.
    max_force_eV_A : float or None
        Largest allowed force component (eV/Å).
    max_temperature_K : float or None
    max_drift_meV_per_atom : float or None
        Largest allowed change of the total energy per atom in NVE (meV/atom).
    """

    min_distance: float | None = 0.5
    max_force_eV_A: float | None = 50.0
    max_temperature_K: float | None = 10000.0
    max_drift_meV_per_atom: float | None = 50.0

    def __post_init__(self) -> None:
        for name in ("min_distance", "max_force_eV_A", "max_temperature_K", "max_drift_meV_per_atom"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"guard {name} must be > 0 (or None to switch it off), got {value}")


def check_state(guards: Guards, atoms: Atoms, reference_etot: float | None) -> str | None:
    """What is wrong with the current state of ``atoms`` (with a calculator), or ``None``.

    ``reference_etot`` (eV) is the total energy the NVE drift is measured from; ``None``
    skips the drift check (NVT, or the first step).
    """
    energy = atoms.get_potential_energy()
    forces = atoms.get_forces()
    if not (np.isfinite(energy) and np.isfinite(forces).all()):
        return f"non-finite energy or forces (E_pot = {energy})"
    if guards.min_distance is not None:
        problem = _too_close(atoms, guards.min_distance)
        if problem is not None:
            return problem
    if guards.max_force_eV_A is not None:
        atom, component = np.unravel_index(np.abs(forces).argmax(), forces.shape)
        if abs(forces[atom, component]) > guards.max_force_eV_A:
            return (f"force {forces[atom, component]:.1f} eV/Å on atom {atom} ({atoms[atom].symbol}) exceeds "
                    f"the limit of {guards.max_force_eV_A:g} eV/Å")
    temperature = atoms.get_temperature()
    if guards.max_temperature_K is not None and temperature > guards.max_temperature_K:
        return f"temperature {temperature:.0f} K exceeds the limit of {guards.max_temperature_K:g} K"
    if guards.max_drift_meV_per_atom is not None and reference_etot is not None:
        drift = 1000 * (energy + atoms.get_kinetic_energy() - reference_etot) / len(atoms)
        if abs(drift) > guards.max_drift_meV_per_atom:
            return (f"NVE total energy drifted by {drift:+.1f} meV/atom, beyond the limit of "
                    f"{guards.max_drift_meV_per_atom:g} meV/atom (a time step too long for the model?)")
    return None


def _too_close(atoms: Atoms, fraction: float) -> str | None:
    """The closest pair below ``fraction`` of its summed covalent radii, described; or None."""
    radii = covalent_radii[atoms.numbers]
    positions = atoms.positions
    (i, j), shifts, _ = neighbor_list(positions, atoms.cell.array, atoms.pbc, 2 * fraction * float(radii.max()))
    d = np.linalg.norm(positions[j] - positions[i] + shifts, axis=1)
    floor = fraction * (radii[i] + radii[j])
    bad = np.flatnonzero(d < floor)
    if bad.size == 0:
        return None
    k = bad[np.argmin(d[bad] / floor[bad])]
    a, b = sorted((int(i[k]), int(j[k])))
    return (f"atoms {a} ({chemical_symbols[atoms.numbers[a]]}) and {b} ({chemical_symbols[atoms.numbers[b]]}) are "
            f"{d[k]:.3g} Å apart, below the floor of {floor[k]:.3f} Å ({fraction:g} x the sum of covalent radii)")
