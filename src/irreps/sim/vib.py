"""Harmonic vibrational analysis from a Hessian: frequencies, normal modes, zero-point energy.

The Hessian H (eV/Å^2) is mass-weighted, ``M^-1/2 H M^-1/2``, and diagonalised on the subspace
orthogonal to rigid motions (three translations; for molecules also the rotations, two for a
linear one), so those exact zero modes never mix into the vibrations. An eigenvalue λ
(eV/Å^2/amu) gives the angular frequency ``sqrt(λ)``; negative eigenvalues are imaginary
frequencies, reported as negative wavenumbers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from scipy.linalg import null_space

from irreps.sim.guards import Guards, GuardTripped, check_hessian, check_structure, guards_in_charge
from irreps.sim.io import check_outputs, write_frames

Projection = Literal["auto", "rigid", "translations", "none"]

# sqrt(eV / (Å^2 amu)) in rad/s, then in wavenumbers (cm^-1) and in eV of hbar*omega.
_OMEGA = np.sqrt(units._e / (1e-20 * units._amu))
CM1_PER_UNIT = _OMEGA / (2 * np.pi * units._c * 100)
EV_PER_UNIT = units._hbar * _OMEGA / units._e


@dataclass
class VibrationalModes:
    """Result of :func:`harmonic_analysis`; arrays are sorted by eigenvalue.

    Attributes
    ----------
    eigenvalues : np.ndarray [num_modes]
        Of the projected mass-weighted Hessian, eV/Å^2/amu.
    frequencies_cm1 : np.ndarray [num_modes]
        Wavenumbers; imaginary modes as negative numbers.
    modes : np.ndarray [num_modes, num_atoms, 3]
        Cartesian displacement patterns, each of unit norm.
    zpe_eV : float
        Zero-point energy, ``sum hbar omega / 2`` over real modes.
    num_imaginary : int
        Modes below ``-imaginary_threshold_cm1``.
    projection : str
        Which rigid motions were removed.
    """

    eigenvalues: np.ndarray
    frequencies_cm1: np.ndarray
    modes: np.ndarray
    zpe_eV: float
    num_imaginary: int
    projection: str

    def report(self) -> str:
        """Readable table of the frequencies with the imaginary modes flagged."""
        lines = [f"{'mode':>4}  {'cm^-1':>10}", *(
            f"{n:>4}  {f'{abs(f):.2f}' + ('i' if f < 0 else ' '):>11}" for n, f in enumerate(self.frequencies_cm1)
        )]
        lines.append(f"zero-point energy: {self.zpe_eV:.6f} eV")
        lines.append(f"imaginary modes: {self.num_imaginary}" + (
            " (" + ", ".join(f"{abs(f):.1f}i cm^-1" for f in self.frequencies_cm1[: self.num_imaginary]) + ")"
            if self.num_imaginary else ""
        ))
        return "\n".join(lines)


def resolve_projection(projection: Projection, pbc: np.ndarray) -> str:
    """``auto`` becomes ``rigid`` for molecules and ``translations`` for (partly) periodic cells."""
    if projection not in ("auto", "rigid", "translations", "none"):
        raise ValueError(f"projection must be 'auto', 'rigid', 'translations' or 'none', got '{projection}'")
    if projection == "auto":
        return "translations" if np.any(pbc) else "rigid"
    return projection


def rigid_basis(positions: np.ndarray, weights: np.ndarray, projection: Projection, pbc: np.ndarray) -> np.ndarray:
    """Orthonormal columns spanning the rigid motions to remove, [3N, k].

    ``weights`` are sqrt(masses) for mass-weighted coordinates (ones for Cartesian ones).
    ``auto`` removes translations and rotations of molecules and only translations of periodic
    structures; rotations of a linear molecule span two directions, of one atom none.
    """
    projection = resolve_projection(projection, pbc)
    if projection == "none":
        return np.zeros((positions.size, 0))
    n = len(positions)
    vectors = []
    for axis in np.eye(3):
        vectors.append((weights[:, None] * axis[None, :]).reshape(-1))
    if projection == "rigid":
        centre = (weights[:, None] ** 2 * positions).sum(0) / (weights**2).sum()
        for axis in np.eye(3):
            vectors.append((weights[:, None] * np.cross(axis, positions - centre)).reshape(-1))
    basis, singular, _ = np.linalg.svd(np.stack(vectors, axis=1), full_matrices=False)
    keep = singular > 1e-8 * singular.max() * np.sqrt(n)
    return basis[:, keep]


def harmonic_analysis(
    atoms: Atoms,
    hessian: np.ndarray,
    projection: Projection = "auto",
    imaginary_threshold_cm1: float = 10.0,
) -> VibrationalModes:
    """Frequencies and normal modes of ``atoms`` from its Cartesian Hessian [3N, 3N] (eV/Å^2)."""
    n = len(atoms)
    hessian = np.asarray(hessian, dtype=np.float64)
    if hessian.shape != (3 * n, 3 * n):
        raise ValueError(f"the Hessian of {n} atoms must have shape {(3 * n, 3 * n)}, got {hessian.shape}")
    if not np.isfinite(hessian).all():
        raise ValueError("the Hessian contains non-finite values")
    masses = atoms.get_masses()
    if np.any(masses <= 0):
        raise ValueError("all masses must be positive")
    sqrt_m = np.repeat(np.sqrt(masses), 3)
    weighted = hessian / np.outer(sqrt_m, sqrt_m)
    rigid = rigid_basis(atoms.positions, np.sqrt(masses), projection, atoms.pbc)
    internal = null_space(rigid.T) if rigid.shape[1] else np.eye(3 * n)
    eigenvalues, vectors = np.linalg.eigh(internal.T @ (0.5 * (weighted + weighted.T)) @ internal)
    frequencies = np.sign(eigenvalues) * np.sqrt(np.abs(eigenvalues)) * CM1_PER_UNIT
    cartesian = (internal @ vectors) / sqrt_m[:, None]
    cartesian /= np.linalg.norm(cartesian, axis=0, keepdims=True)
    zpe = 0.5 * EV_PER_UNIT * np.sqrt(eigenvalues[eigenvalues > 0]).sum()
    return VibrationalModes(
        eigenvalues=eigenvalues,
        frequencies_cm1=frequencies,
        modes=cartesian.T.reshape(-1, n, 3),
        zpe_eV=float(zpe),
        num_imaginary=int((frequencies < -imaginary_threshold_cm1).sum()),
        projection=resolve_projection(projection, atoms.pbc),
    )


def vibrate(
    atoms: Atoms,
    calculator: Calculator,
    projection: Projection = "auto",
    imaginary_threshold_cm1: float = 10.0,
    guards: Guards = Guards(),
) -> VibrationalModes:
    """Harmonic analysis with the Hessian the calculator predicts (its ``hessian`` property).

    The structure is checked against ``guards`` first, and the Hessian for non-finite values:
    either failing raises :class:`~irreps.sim.guards.GuardTripped`.
    """
    atoms = atoms.copy()
    atoms.calc = calculator
    with guards_in_charge([calculator]):
        problem = check_structure(guards, atoms)
        if problem is None:
            hessian = calculator.get_property("hessian", atoms)
            problem = check_hessian(hessian)
    if problem is not None:
        raise GuardTripped(f"stopped before the harmonic analysis: {problem}", 0, None)
    return harmonic_analysis(atoms, hessian, projection, imaginary_threshold_cm1)


def write_modes(
    path: str | os.PathLike,
    atoms: Atoms,
    vib: VibrationalModes,
    amplitude: float = 0.3,
    frames_per_mode: int = 12,
    overwrite: bool = False,
    indices: Sequence[int] | None = None,
) -> None:
    """Animations of the modes ``indices`` (default all), one after another, for a viewer (extxyz or ``.traj``).

    Each frame is the structure displaced by ``amplitude * sin(phase) * mode`` (Å, the mode of
    unit norm) and carries the mode as a per-atom vector array ``mode`` and ``info`` entries
    ``mode_index`` and ``frequency_cm1``; ``frames_per_mode=1`` writes the undisplaced structure
    with its arrows only.
    """
    check_outputs([path], overwrite)
    if frames_per_mode < 1:
        raise ValueError(f"frames_per_mode must be >= 1, got {frames_per_mode}")
    frames = []
    phases = 2 * np.pi * np.arange(frames_per_mode) / frames_per_mode
    for index in range(len(vib.modes)) if indices is None else indices:
        mode, frequency = vib.modes[index], vib.frequencies_cm1[index]
        for phase in phases:
            frame = Atoms(atoms.numbers, atoms.positions + amplitude * np.sin(phase) * mode, cell=atoms.cell, pbc=atoms.pbc)
            frame.set_array("mode", mode)
            frame.info.update(mode_index=index, frequency_cm1=float(frequency))
            frames.append(frame)
    write_frames(path, frames)
