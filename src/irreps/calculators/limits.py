"""Limits on what a prediction may look like before anyone uses it.

A model evaluated on a broken geometry (two atoms on top of each other, a molecule torn apart
by too long a time step) still returns numbers. :class:`StructureLimits` says when not to
trust them: non-finite energy or forces (always), two atoms closer than ``min_distance``
times a reference distance of their element pair, a force component beyond
``max_force_eV_A``. The reference of a pair is its shortest distance in the model's training
data where the model file records it (:mod:`irreps.models.domain`), the sum of the two
covalent radii otherwise (0.5 puts C-H at 0.53 Å, H-H at 0.31 Å).

The ASE calculator checks every evaluation against them and raises
:class:`UnphysicalStructure` (an ASE ``CalculationFailed``, so ASE code that catches
calculator failures catches it); the simulation workflows extend them with MD limits
(:mod:`irreps.sim.guards`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from ase import Atoms
from ase.calculators.calculator import CalculationFailed
from ase.data import chemical_symbols

from irreps.data.close_pairs import closest_pair_below, floor_table


class UnphysicalStructure(CalculationFailed, ValueError):
    """A prediction failed a :class:`StructureLimits` check; ``str(err)`` says which and where.

    Also a ``ValueError`` (the structure is bad input), so commands report it in one line."""


@dataclass(frozen=True)
class StructureLimits:
    """Limits every predicted structure must meet; ``None`` switches a limit off.

    Attributes
    ----------
    min_distance : float or None
        Floor on interatomic distances as a fraction of each element pair's reference distance.
    max_force_eV_A : float or None
        Largest allowed force component (eV/Å).
    training_distances : dict[tuple[int, int], float] or None
        ``(z_i, z_j) -> `` the shortest distance of that element pair in the model's training
        data (Å; :func:`irreps.models.domain.shortest_distances`): the reference of the
        distance floor; pairs it lacks (or all, when ``None``) use the sum of covalent radii.
    """

    min_distance: float | None = 0.5
    max_force_eV_A: float | None = 50.0
    training_distances: Mapping[tuple[int, int], float] | None = None

    def __post_init__(self) -> None:
        for name in self._positive_fields():
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 (or None to switch it off), got {value}")

    def _positive_fields(self) -> tuple[str, ...]:
        """Fields that must be positive when set (subclasses add theirs)."""
        return ("min_distance", "max_force_eV_A")

    @cached_property
    def _floors(self) -> np.ndarray:
        """Distance floors of every element pair, ``[119, 119]`` (Å)."""
        return floor_table(self.min_distance, self._references)

    @cached_property
    def _references(self) -> dict[tuple[int, int], float]:
        return {tuple(sorted(pair)): d for pair, d in (self.training_distances or {}).items()}

    def describe_floor(self) -> str:
        """Which distance floor is in use, in one line (for the start of a run)."""
        if self.min_distance is None:
            return "distance floor: off"
        covalent = f"{self.min_distance:g} x the sum of covalent radii"
        if not self._references:
            return f"distance floor: {covalent} (the model file records no training distances)"
        pairs = ", ".join(f"{pair_name(pair)} {d:.3f}" for pair, d in sorted(self._references.items()))
        return (f"distance floor: {self.min_distance:g} x the shortest distance of each element pair in the "
                f"training data ({pairs} Å); {covalent} for other pairs")

    def too_close(self, atoms: Atoms) -> str | None:
        """The pair of ``atoms`` furthest below its floor, described with the floor's origin; or None."""
        if self.min_distance is None:
            return None
        pair = closest_pair_below(atoms, self._floors)
        if pair is None:
            return None
        key = tuple(sorted((int(atoms.numbers[pair.i]), int(atoms.numbers[pair.j]))))
        if key in self._references:
            origin = (f"{self.min_distance:g} x the shortest {pair_name(key)} distance in the training data, "
                      f"{self._references[key]:.3f} Å")
        else:
            origin = f"{self.min_distance:g} x the sum of covalent radii"
        return f"{pair} ({origin})"

    def problem(self, atoms: Atoms, energy: float, forces: np.ndarray) -> str | None:
        """What is wrong with the prediction ``energy``, ``forces`` [N, 3] for ``atoms``, or ``None``:
        non-finite values, atoms below the distance floor, a force beyond the limit."""
        if not (np.isfinite(energy) and np.isfinite(forces).all()):
            return f"non-finite energy or forces (E_pot = {energy})"
        problem = self.too_close(atoms)
        if problem is not None:
            return problem
        if self.max_force_eV_A is not None and forces.size:
            atom, component = np.unravel_index(np.abs(forces).argmax(), forces.shape)
            if abs(forces[atom, component]) > self.max_force_eV_A:
                return (f"force {forces[atom, component]:.1f} eV/Å on atom {atom} ({atoms[atom].symbol}) exceeds "
                        f"the limit of {self.max_force_eV_A:g} eV/Å")
        return None


NO_LIMITS = StructureLimits(min_distance=None, max_force_eV_A=None)
"""Only the non-finite check: what a caller that checks the rest itself passes."""


def pair_name(pair: tuple[int, int]) -> str:
    """``C-H`` style: hydrogen last, as bonds to it are written; otherwise by atomic number."""
    a, b = sorted(pair)
    if a == 1:
        a, b = b, a
    return f"{chemical_symbols[a]}-{chemical_symbols[b]}"
