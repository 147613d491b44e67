"""Errors of predictions against references: one code for every system."""

from __future__ import annotations

import numpy as np


def errors(pred_energy: np.ndarray, pred_forces: np.ndarray, ref_energy: np.ndarray, ref_forces: np.ndarray,
           natoms: np.ndarray) -> dict[str, float]:
    """MAE and RMSE of total energy (meV), energy per atom (meV/atom) and force components (meV/Å)."""
    if pred_forces.shape != ref_forces.shape or pred_energy.shape != ref_energy.shape:
        raise ValueError(f"prediction shapes {pred_energy.shape}, {pred_forces.shape} do not match the "
                         f"references {ref_energy.shape}, {ref_forces.shape}")
    de = 1000 * (pred_energy - ref_energy)
    dea = de / natoms
    df = 1000 * (pred_forces - ref_forces).ravel()
    out = {}
    for name, diff in (("e", de), ("e_per_atom", dea), ("f", df)):
        out[f"{name}_mae"] = float(np.abs(diff).mean())
        out[f"{name}_rmse"] = float(np.sqrt((diff**2).mean()))
    return out


def references(path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(energies, concatenated forces, atom counts) of a materialised test file."""
    import ase.io

    from .datasets import ENERGY_KEY, FORCES_KEY

    frames = ase.io.read(path, index=":")
    return (np.array([f.info[ENERGY_KEY] for f in frames]), np.concatenate([f.arrays[FORCES_KEY] for f in frames]),
            np.array([len(f) for f in frames]))
