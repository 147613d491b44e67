"""Shared by the tests of trained models: the bundled isolated-atom energies and a lone atom's energy."""

from __future__ import annotations

import os

import ase.io
import torch
from ase import Atoms

from irreps.calculators import IrrepsCalculator
from irreps.data import bundled_path


def isolated_atom_energies() -> dict[int, float]:
    """E0 (eV) of each element in the bundled acac isolated-atoms file, read with ASE alone."""
    return {int(a.numbers[0]): a.get_potential_energy() for a in ase.io.read(bundled_path("acac_isolated_atoms"), ":")}


def lone_atom_energy(model: str | os.PathLike | torch.nn.Module, z: int) -> float:
    """Energy (eV, float64) of one atom of element ``z`` with no neighbours, through the ASE calculator."""
    atoms = Atoms(numbers=[z], positions=[[0.3, -1.0, 2.0]])
    atoms.calc = IrrepsCalculator(model, dtype="float64")
    return atoms.get_potential_energy()
