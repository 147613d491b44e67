"""Transition-state search: partitioned rational-function optimisation (P-RFO) with model Hessians.

Eigenvector following after Baker (J. Comput. Chem. 7, 385 (1986)): at every step the exact
Hessian from the model is diagonalised on the internal subspace (rigid translations and
rotations projected out, as in :mod:`irreps.sim.vib`); energy is maximised along one eigenvector
(the lowest at the start, then the one that overlaps most with the mode followed so far) and
minimised along all others, each with its own rational-function shift, and the step is limited
by a trust radius updated from how well the quadratic model predicted the energy change.
The result is confirmed by a harmonic analysis: a first-order saddle has exactly one imaginary
frequency. Every step is checked by :mod:`irreps.sim.guards` (and its Hessian for non-finite
values); a trip raises :class:`~irreps.sim.guards.GuardTripped`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator
from scipy.linalg import null_space

from irreps.sim.guards import Guards, Watch, check_hessian, check_structure, guards_in_charge
from irreps.sim.progress import Progress
from irreps.sim.vib import Projection, VibrationalModes, harmonic_analysis, rigid_basis


# Curvature (eV/Å^2) below which an internal Hessian eigenvalue counts as negative: flat
# directions (e.g. atoms beyond the cutoff of each other) must not pass for the climbing mode.
NEGATIVE_CURVATURE = 1e-4


@dataclass(frozen=True)
class TSConfig:
    """Settings of the saddle search.

    Attributes
    ----------
    fmax : float
        Converged when the largest atomic force is below this (eV/Å) and the internal
        Hessian has exactly one eigenvalue below ``-NEGATIVE_CURVATURE``.
    steps : int
        Maximum number of steps (one Hessian each).
    trust_radius, trust_min, trust_max : float
        Initial, smallest and largest step length (Å, norm over all atoms).
    follow_mode : int
        Index (from the lowest) of the internal Hessian eigenvector to climb along at the start.
    projection : {"auto", "rigid", "translations", "none"}
        Rigid motions removed ("auto": translations and rotations for molecules, translations
        for periodic cells; "none" for potentials that are not translation invariant).
    imaginary_threshold_cm1 : float
        Frequencies below minus this count as imaginary in the final check.
    """

    fmax: float = 0.01
    steps: int = 200
    trust_radius: float = 0.1
    trust_min: float = 1e-4
    trust_max: float = 0.3
    follow_mode: int = 0
    projection: Projection = "auto"
    imaginary_threshold_cm1: float = 10.0

    def __post_init__(self) -> None:
        if not (self.fmax > 0 and 0 < self.trust_min <= self.trust_radius <= self.trust_max):
            raise ValueError("need fmax > 0 and 0 < trust_min <= trust_radius <= trust_max")
        if self.steps < 0 or self.follow_mode < 0:
            raise ValueError("steps and follow_mode must be >= 0")


@dataclass
class TSResult:
    """The saddle (a copy with a calculator holding its energy/forces), convergence and its modes.

    ``reason`` says why the search stopped, in words.
    """

    atoms: Atoms
    converged: bool
    steps: int
    energy: float
    fmax: float
    vib: VibrationalModes
    frames: list[Atoms]
    reason: str

    @property
    def is_first_order_saddle(self) -> bool:
        """Exactly one imaginary frequency."""
        return self.vib.num_imaginary == 1


def find_saddle(
    atoms: Atoms,
    calculator: Calculator,
    config: TSConfig = TSConfig(),
    progress: bool = False,
    guards: Guards = Guards(),
    last_good: str | os.PathLike | None = None,
) -> TSResult:
    """Search a first-order saddle point starting from the guess ``atoms``.

    Every step is checked against ``guards``; a step that fails (or whose Hessian is not
    finite) raises :class:`~irreps.sim.guards.GuardTripped` after the last step that passed
    is written to ``last_good`` (when given).
    """
    atoms = atoms.copy()
    atoms.calc = calculator
    n = len(atoms)
    internal_dim = 3 * n - rigid_basis(atoms.positions, np.ones(n), config.projection, atoms.pbc).shape[1]
    if config.follow_mode >= internal_dim:
        raise ValueError(f"follow_mode {config.follow_mode} is out of range: {internal_dim} internal coordinates")
    trust = config.trust_radius
    followed: np.ndarray | None = None
    predicted = previous_energy = None
    frames: list[Atoms] = []
    bar = Progress(config.steps, "ts p-rfo", enabled=progress)
    converged, step, reason = False, 0, ""
    watch = Watch(last_good)
    with guards_in_charge([calculator]):
        while True:
            energy = atoms.get_potential_energy()
            forces = atoms.get_forces()
            frames.append(_snapshot(atoms, energy, forces))
            full_hessian = calculator.get_property("hessian", atoms)
            problem = check_structure(guards, atoms) or check_hessian(full_hessian)
            watch.check(problem, step, f"step {step}", frames[-1:])
            fmax = float(np.sqrt((forces**2).sum(axis=1)).max())
            if predicted is not None:
                trust = _update_trust(trust, energy - previous_energy, predicted, config)
            basis = _internal_basis(atoms, config.projection)
            gradient = basis.T @ -forces.reshape(-1)
            hessian = basis.T @ full_hessian @ basis
            eigenvalues, vectors = np.linalg.eigh(0.5 * (hessian + hessian.T))
            if progress:
                bar.update(step, dE=energy - frames[0].get_potential_energy(), fmax=fmax, lowest=eigenvalues[0])
            negative = int((eigenvalues < -NEGATIVE_CURVATURE).sum())
            if fmax < config.fmax and negative == 1:
                converged, reason = True, "converged to a first-order saddle"
                break
            if fmax < config.fmax and negative == 0:
                # No gradient and no negative curvature: P-RFO has no direction to climb along.
                reason = "stopped at a stationary point without negative curvature (a minimum): start from a better guess"
                break
            if step >= config.steps:
                reason = f"step limit ({config.steps}) reached"
                break
            cartesian_modes = basis @ vectors
            mode = config.follow_mode if followed is None else int(np.argmax(np.abs(cartesian_modes.T @ followed)))
            followed = cartesian_modes[:, mode]
            internal_step = _prfo_step(gradient, eigenvalues, vectors, mode)
            displacement = basis @ internal_step
            length = np.linalg.norm(displacement)
            if length > trust:
                displacement *= trust / length
                internal_step *= trust / length
            predicted = float(gradient @ internal_step + 0.5 * internal_step @ hessian @ internal_step)
            previous_energy = energy
            atoms.positions = atoms.positions + displacement.reshape(n, 3)
            step += 1
    bar.close()
    vib = harmonic_analysis(atoms, full_hessian, config.projection, config.imaginary_threshold_cm1)
    result_atoms = atoms.copy()
    result_atoms.calc = SinglePointCalculator(result_atoms, energy=energy, forces=forces)
    return TSResult(result_atoms, converged, step, float(energy), fmax, vib, frames, reason)


def _internal_basis(atoms: Atoms, projection: Projection) -> np.ndarray:
    """Orthonormal Cartesian directions that are not rigid motions, [3N, 3N - k]."""
    rigid = rigid_basis(atoms.positions, np.ones(len(atoms)), projection, atoms.pbc)
    return null_space(rigid.T) if rigid.shape[1] else np.eye(3 * len(atoms))


def _prfo_step(gradient: np.ndarray, eigenvalues: np.ndarray, vectors: np.ndarray, mode: int) -> np.ndarray:
    """P-RFO step in the internal basis: maximise along ``mode``, minimise along the rest.

    With ``F = V^T g`` the components in the Hessian eigenbasis, the climbing shift is the
    largest eigenvalue of ``[[b_k, F_k], [F_k, 0]]`` and the descending shift the smallest
    eigenvalue of the augmented Hessian of the other modes; each component steps by
    ``-F_i / (b_i - shift)``.
    """
    f = vectors.T @ gradient
    b = eigenvalues
    others = np.arange(len(b)) != mode
    climb_shift = 0.5 * (b[mode] + np.sqrt(b[mode] ** 2 + 4 * f[mode] ** 2))
    augmented = np.zeros((others.sum() + 1,) * 2)
    augmented[:-1, :-1] = np.diag(b[others])
    augmented[:-1, -1] = augmented[-1, :-1] = f[others]
    descend_shift = np.linalg.eigvalsh(augmented)[0]
    shifts = np.where(others, descend_shift, climb_shift)
    denominators = b - shifts
    # A zero denominator only occurs with a zero gradient component: no step along it.
    safe = np.abs(denominators) > 1e-12
    components = np.where(safe, -f / np.where(safe, denominators, 1.0), 0.0)
    return vectors @ components


def _update_trust(trust: float, actual: float, predicted: float, config: TSConfig) -> float:
    """Grow the trust radius when the quadratic model predicted the energy change well, shrink it otherwise."""
    if abs(predicted) < 1e-12:
        return trust
    ratio = actual / predicted
    if 0.75 < ratio < 1.25:
        return min(2.0 * trust, config.trust_max)
    if ratio < 0.25 or ratio > 1.75:
        return max(0.5 * trust, config.trust_min)
    return trust


def _snapshot(atoms: Atoms, energy: float, forces: np.ndarray) -> Atoms:
    frame = Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    frame.calc = SinglePointCalculator(frame, energy=energy, forces=forces)
    return frame
