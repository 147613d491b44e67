"""Lone-atom energies of trained models next to the isolated-atom energies (E0) they were trained with.

A model trained with an isolated-atoms file must give an atom with no neighbours exactly its E0,
or a dissociated molecule lands eV away from the sum of its atoms (issue 31 found 4.87 eV per
atom). For each model file and each element of the E0 file: the predicted energy of a lone atom
(float64, through the ASE calculator) and its difference from E0.

    python benchmarks/isolated_atoms.py runs/acac/model.pt --e0 bundled:acac_isolated_atoms \
        runs/3bpa/model.pt --e0 ../shared/data/botnet/3bpa/iso_atoms.xyz --json iso.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import ase.io
from ase import Atoms
from ase.data import chemical_symbols

from irreps.calculators import IrrepsCalculator
from irreps.data import bundled_path


def e0_table(path: str) -> dict[int, float]:
    """E0 (eV) per element of an isolated-atoms file (``bundled:NAME`` for the package's own)."""
    source = bundled_path(path.removeprefix("bundled:")) if path.startswith("bundled:") else Path(path)
    if not Path(source).is_file():
        raise SystemExit(f"no isolated-atoms file at {source} (the shared data is in ../shared/data)")
    return {int(atoms.numbers[0]): float(atoms.get_potential_energy()) for atoms in ase.io.read(source, ":")}


def lone_atom_rows(model: str, e0: dict[int, float]) -> list[dict]:
    calculator = IrrepsCalculator(model, dtype="float64")
    rows = []
    for z, reference in sorted(e0.items()):
        atoms = Atoms(numbers=[z], positions=[[0.0, 0.0, 0.0]])
        atoms.calc = calculator
        predicted = float(atoms.get_potential_energy())
        rows.append({"model": model, "element": chemical_symbols[z], "e0_eV": reference,
                     "lone_atom_eV": predicted, "difference_meV": 1000 * (predicted - reference)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", nargs="+", help="MODEL.pt, each followed by --e0 FILE")
    parser.add_argument("--e0", action="append", required=True, help="isolated-atoms file of the model before it")
    parser.add_argument("--json", type=Path)
    args = parser.parse_intermixed_args()
    if len(args.pairs) != len(args.e0):
        raise SystemExit(f"{len(args.pairs)} model file(s) but {len(args.e0)} --e0 file(s): give one --e0 per model")
    rows = [row for model, e0 in zip(args.pairs, args.e0) for row in lone_atom_rows(model, e0_table(e0))]
    print("| model | element | E0 (eV) | lone atom (eV) | difference (meV) |")
    print("| --- | --- | ---: | ---: | ---: |")
    for row in rows:
        print(f"| {row['model']} | {row['element']} | {row['e0_eV']:.6f} | {row['lone_atom_eV']:.6f} | "
              f"{row['difference_meV']:+.3g} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
