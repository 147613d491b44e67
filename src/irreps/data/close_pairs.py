"""Atoms closer together than a floor that depends on their two elements.

Two atoms at one position (or 1e-4 Å apart) are a broken structure, not chemistry: at exact
overlap the zero-length pair drops out of a model's sum, and just off it the forces run to
thousands of eV/Å, yet a model evaluates either without a word. The floor of an element pair
is ``fraction x reference``: the reference is the sum of the two covalent radii
(``ase.data.covalent_radii``; a fraction of 0.5 puts C-H at 0.53 Å and H-H at 0.31 Å) unless
a distance is given for that pair (the simulation guards give the shortest distances of a
model's training data, :mod:`irreps.sim.guards`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols, covalent_radii

from irreps.data.neighbors import neighbor_list

# Input structures with atoms closer than this fraction of their summed covalent radii are
# refused as overlapping (H-H 0.31 Å, C-H 0.53 Å): no chemistry lives there.
COVALENT_FRACTION = 0.5


def floor_table(fraction: float, references: Mapping[tuple[int, int], float] | None = None) -> np.ndarray:
    """Floors (Å) of every element pair, ``[119, 119]`` indexed by atomic numbers.

    ``fraction`` times ``references[(z_i, z_j)]`` (either order) where given, times the sum of
    the covalent radii otherwise.
    """
    if not fraction > 0:
        raise ValueError(f"the distance floor's fraction must be > 0, got {fraction}")
    table = covalent_radii[:, None] + covalent_radii[None, :]
    for (a, b), distance in (references or {}).items():
        table[a, b] = table[b, a] = distance
    return fraction * table


@dataclass(frozen=True)
class ClosePair:
    """The pair of atoms furthest below its floor: indices ``i <= j``, distance and floor (Å)."""

    i: int
    j: int
    symbols: tuple[str, str]
    distance: float
    floor: float

    def __str__(self) -> str:
        second = "its periodic image" if self.i == self.j else f"{self.j} ({self.symbols[1]})"
        return (f"atoms {self.i} ({self.symbols[0]}) and {second} are {self.distance:.3g} Å apart, "
                f"below the floor of {self.floor:.3f} Å")


def closest_pair_below(atoms: Atoms, floors: np.ndarray) -> ClosePair | None:
    """The pair of ``atoms`` with the smallest ratio of distance to floor among those below
    their floor (``floors`` from :func:`floor_table`), or ``None`` when there is none."""
    numbers = atoms.numbers
    present = np.unique(numbers)
    radius = float(floors[np.ix_(present, present)].max()) if len(atoms) else 0.0
    if radius <= 0:
        return None
    positions = atoms.positions
    (i, j), shifts, _ = neighbor_list(positions, atoms.cell.array, atoms.pbc, radius)
    distances = np.linalg.norm(positions[j] - positions[i] + shifts, axis=1)
    floor = floors[numbers[i], numbers[j]]
    below = np.flatnonzero(distances < floor)
    if below.size == 0:
        return None
    k = below[np.argmin(distances[below] / floor[below])]
    a, b = sorted((int(i[k]), int(j[k])))
    return ClosePair(a, b, (chemical_symbols[numbers[a]], chemical_symbols[numbers[b]]), float(distances[k]), float(floor[k]))



def overlapping_atoms(atoms: Atoms, fraction: float = COVALENT_FRACTION) -> str | None:
    """The pair of ``atoms`` furthest below ``fraction`` of their summed covalent radii,
    described in words; ``None`` when there is none (a check of input structures)."""
    pair = closest_pair_below(atoms, floor_table(fraction))
    return None if pair is None else f"{pair} ({fraction:g} x the sum of their covalent radii)"
