"""Build the other enol tautomer of acetylacetone from one: its mirror image, atoms relabelled.

The two enol forms (proton on one oxygen or the other) are mirror images through the plane that
bisects the O...O axis. Reflecting the positions moves every atom onto its symmetry partner's
place; relabelling by a minimum-distance assignment within each element keeps each atom near
where it was, so only the enol proton (and small heavy-atom shifts) moves between the two end
points, as a nudged elastic band needs.

    python examples/acac_mirror.py enol_a.extxyz enol_b_guess.extxyz
"""

from __future__ import annotations

import sys
from pathlib import Path

import ase.io
import numpy as np
from scipy.optimize import linear_sum_assignment


def mirror_tautomer(atoms):
    symbols = np.array(atoms.get_chemical_symbols())
    oxygens = np.flatnonzero(symbols == "O")
    if len(oxygens) != 2:
        raise ValueError(f"expected the two oxygens of acetylacetone, found {len(oxygens)}")
    o1, o2 = atoms.positions[oxygens]
    normal = (o2 - o1) / np.linalg.norm(o2 - o1)
    middle = 0.5 * (o1 + o2)
    offset = (atoms.positions - middle) @ normal
    reflected = atoms.positions - 2.0 * offset[:, None] * normal[None, :]
    positions = np.empty_like(atoms.positions)
    for element in np.unique(symbols):
        idx = np.flatnonzero(symbols == element)
        cost = np.linalg.norm(atoms.positions[idx][:, None, :] - reflected[idx][None, :, :], axis=-1)
        rows, cols = linear_sum_assignment(cost)
        positions[idx[rows]] = reflected[idx[cols]]
    other = atoms.copy()
    other.calc = None
    other.positions = positions
    return other


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    if target.exists():
        print(f"{target} exists: not overwriting it", file=sys.stderr)
        return 2
    atoms = ase.io.read(source)
    other = mirror_tautomer(atoms)
    moved = np.linalg.norm(other.positions - atoms.positions, axis=1)
    print(f"largest atomic displacement between the tautomers: {moved.max():.3f} Å (atom {moved.argmax()}, {atoms[moved.argmax()].symbol})")
    if moved.max() < 0.05:
        # The minimum is its own mirror image: the proton sits midway, the model has one well.
        print("the relaxed structure is symmetric (proton centred): this model has no proton-transfer barrier", file=sys.stderr)
        return 1
    ase.io.write(target, other)
    return 0


if __name__ == "__main__":
    sys.exit(main())
