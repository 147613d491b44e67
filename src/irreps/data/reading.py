"""Reading structures and their reference values from any ASE-readable file.

Files differ in where they keep reference values: extended XYZ stores them as ``info`` entries
(per structure) and ``arrays`` (per atom), and ASE's reader moves the standard ones (``energy``,
``forces``, ``stress``, ``dipole``, ``charges``) into a ``SinglePointCalculator``. Values are
therefore looked up in ``atoms.arrays``, then ``atoms.info``, then ``atoms.calc.results`` under
the file key that :class:`KeySpec` maps each field to. Every value is checked (shape, finite
numbers) and brought to the canonical shape declared in :mod:`irreps.data.keys`, so a problem is
reported once, at reading time, with the file and frame it comes from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import ase
import ase.io
import numpy as np

from irreps.data import keys as K

_VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))  # ASE Voigt order xx yy zz yz xz xy
_MAX_Z = 118


@dataclass(frozen=True)
class KeySpec:
    """Which key in the file holds each field (field names are those of :mod:`irreps.data.keys`).

    The defaults are the standard names of extended XYZ / ASE. Set a key to the name your file
    uses, e.g. ``KeySpec(energy_key="REF_energy", forces_key="REF_forces")``.
    """

    energy_key: str = "energy"
    forces_key: str = "forces"
    stress_key: str = "stress"
    virials_key: str = "virials"
    charges_key: str = "charges"
    total_charge_key: str = "total_charge"
    dipole_key: str = "dipole"
    polarizability_key: str = "polarizability"
    hessian_key: str = "hessian"
    weights_key: str = "weights"
    config_type_key: str = "config_type"

    def file_keys(self) -> dict[str, str]:
        """Mapping field name -> key in the file, for every field this spec covers."""
        return {f.name.removesuffix("_key"): getattr(self, f.name) for f in dataclasses.fields(self)}


def validate_atoms(atoms: ase.Atoms, where: str) -> None:
    """Raise ``ValueError`` for non-finite positions/cell or unknown elements in ``atoms``.

    ``where`` names the structure in the message (e.g. ``"train.xyz, frame 12"``).
    """
    positions = np.asarray(atoms.positions)
    bad = ~np.isfinite(positions).all(axis=1)
    if bad.any():
        raise ValueError(f"{where}: non-finite positions for atoms {np.flatnonzero(bad).tolist()}")
    if not np.isfinite(np.asarray(atoms.cell.array)).all():
        raise ValueError(f"{where}: non-finite cell {atoms.cell.array.tolist()}")
    numbers = np.asarray(atoms.numbers)
    unknown = (numbers < 1) | (numbers > _MAX_Z)
    if unknown.any():
        symbols = sorted({atoms[int(i)].symbol for i in np.flatnonzero(unknown)})
        raise ValueError(f"{where}: unknown elements {symbols} (atomic numbers must be 1..{_MAX_Z})")


def extract_fields(
    atoms: ase.Atoms,
    keys: KeySpec = KeySpec(),
    required: Collection[str] = (),
    where: str = "structure",
    fields: Collection[str] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Reference values of one structure in canonical shapes, and its string metadata.

    Parameters
    ----------
    atoms : ase.Atoms
    keys : KeySpec
        File key of each field.
    required : collection of str
        Field names (e.g. ``("energy", "forces")``) that must be present.
    where : str
        Names the structure in error messages.
    fields : collection of str, optional
        Read only these fields (plus ``required``); ``None`` reads every field present. Use it
        to ignore values some frames of a file lack, since a batch needs the same fields
        in every structure. String metadata (``config_type``) is always read.

    Returns
    -------
    values : dict[str, np.ndarray]
        float64 arrays: ``energy`` (), ``forces`` [N, 3], ``stress``/``virials``/
        ``polarizability`` [3, 3], ``charges`` [N], ``total_charge`` (), ``dipole`` [3],
        ``hessian`` [9 N^2] (row-major 3N x 3N), ``weights`` (); only the fields present.
    info : dict[str, str]
        ``config_type`` when present.
    """
    file_keys = keys.file_keys()
    for name in [*required, *(fields or ())]:
        if name not in file_keys:
            raise ValueError(f"field '{name}' is not a field KeySpec maps; known: {', '.join(file_keys)}")
    if fields is not None:
        keep = {*fields, *required}
        file_keys = {n: k for n, k in file_keys.items() if n in keep or K.FIELDS[n].kind == "str"}
    values: dict[str, np.ndarray] = {}
    info: dict[str, str] = {}
    for name, key in file_keys.items():
        raw = _lookup(atoms, key)
        if raw is None:
            if name in required:
                raise ValueError(f"{where}: missing required field '{name}' (key '{key}')")
            continue
        if K.FIELDS[name].kind == "str":
            info[name] = str(raw)
        else:
            values[name] = _canonical(name, raw, len(atoms), f"{where}: field '{name}' (key '{key}')")
    return values, info


def read_atoms(
    path: str | Path,
    keys: KeySpec = KeySpec(),
    required: Collection[str] = (),
    index: str | int | slice = ":",
    format: str | None = None,
    fields: Collection[str] | None = None,
) -> list[ase.Atoms]:
    """Read and validate the structures of an ASE-readable file.

    Every frame is checked with :func:`validate_atoms` and :func:`extract_fields` (required fields
    present, values finite and of the right shape), so later conversion cannot fail on bad data.

    Parameters
    ----------
    path : str or Path
    keys : KeySpec
    required : collection of str
        Fields every frame must have, e.g. ``("energy", "forces")``.
    index : str, int or slice
        ASE frame selection (``":"`` for all, ``"10:20"``, ``-1``).
    format : str, optional
        ASE format name; guessed from the file name when omitted (``.xyz`` -> extended XYZ).
    fields : collection of str, optional
        Validate only these fields (plus ``required``); ``None`` checks every field present.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        For a malformed file, an empty selection, unknown elements, non-finite values,
        wrongly shaped values or missing required fields; the message names file and frame.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such data file: {path}")
    frames: list[ase.Atoms] = []
    for atoms in iter_frames(path, index, format):
        extract_fields(atoms, keys, required, f"{path}, frame {len(frames)}", fields)
        frames.append(atoms)
    if not frames:
        raise ValueError(f"{path}: no structures found (index {index!r})")
    return frames


def iter_frames(path: Path, index: str | int | slice = ":", format: str | None = None) -> Iterator[ase.Atoms]:
    """The frames of ``path`` one at a time, each checked with :func:`validate_atoms`; a frame
    ASE cannot parse raises ``ValueError`` naming the file and frame."""
    iterator = ase.io.iread(str(path), index=index, format=format)
    n = 0
    while True:
        try:
            atoms = next(iterator)
        except StopIteration:
            return
        except KeyError as err:  # ASE reports an unknown chemical symbol as a bare KeyError
            raise ValueError(f"{path}, frame {n}: unknown element symbol {err}") from err
        except Exception as err:
            raise ValueError(f"{path}: cannot read frame {n} ({type(err).__name__}: {err})") from err
        validate_atoms(atoms, f"{path}, frame {n}")
        yield atoms
        n += 1


def _lookup(atoms: ase.Atoms, key: str) -> object | None:
    if key in atoms.arrays and key not in ("numbers", "positions"):
        return atoms.arrays[key]
    if key in atoms.info:
        return atoms.info[key]
    results = getattr(atoms.calc, "results", None) or {}
    return results.get(key)


def _canonical(name: str, raw: object, num_atoms: int, what: str) -> np.ndarray:
    try:
        value = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what} is not numeric: {raw!r}") from None
    field = K.FIELDS[name]
    if field.level == "atom_pair":
        expected = 9 * num_atoms * num_atoms
        if value.size != expected:
            raise ValueError(f"{what} has {value.size} numbers, expected (3N)^2 = {expected} for N = {num_atoms}")
        value = value.reshape(expected)
    elif field.shape == (3, 3) and value.size == 6:
        value = _from_voigt(value.reshape(6))
    else:
        shape = ((num_atoms,) if field.level == "atom" else ()) + field.shape
        if value.size != int(np.prod(shape)):
            raise ValueError(f"{what} has shape {value.shape}, expected {shape}")
        value = value.reshape(shape)
    if not np.isfinite(value).all():
        raise ValueError(f"{what} contains non-finite values (NaN or inf)")
    return value


def _from_voigt(voigt: np.ndarray) -> np.ndarray:
    matrix = np.empty((3, 3))
    for v, (a, b) in zip(voigt, _VOIGT):
        matrix[a, b] = matrix[b, a] = v
    return matrix
