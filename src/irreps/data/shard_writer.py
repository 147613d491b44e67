"""Converting an ASE-readable file into sharded HDF5 files that training reads lazily.

Why HDF5 (h5py) and not LMDB: the data are numeric arrays, which HDF5 stores as typed,
self-describing arrays that any HDF5 tool can inspect, read by slices without unpickling
anything (LMDB stores opaque byte strings: in practice pickled Python objects, which a model
library that loads only with ``weights_only`` should not unpickle); and a shard is one file
of fixed size, with no map size to guess in advance. MACE's preprocessed data are HDF5 too.

A converted dataset is a directory::

    meta.json            format, version, source, structures per shard, fields present
    shard_00000.h5 ...   up to ``shard_size`` structures each
    isolated_atoms.xyz   the isolated-atom frames of the source (E0s) under the standard
                         ``energy`` key, when it has any

A shard holds the structures concatenated (the layout of :mod:`irreps.data.keys`):
``num_atoms`` [G], ``positions`` [A, 3], ``atomic_numbers`` [A], ``cell`` [G, 3, 3],
``pbc`` [G, 3], and for each field of :data:`~irreps.data.keys.FIELDS` found in the source
``fields/NAME`` (per atom [A, ...], per structure [G, ...], Hessians [sum 9 N^2]) with
``present/NAME`` [G] saying which structures have it (zeros fill the others).
No neighbour list is stored: the cutoff is chosen when training, not when converting.

The source is read one frame at a time and a shard is written when full, so memory holds
one shard at most, whatever the size of the source.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import ase
import ase.io
from ase.calculators.singlepoint import SinglePointCalculator
import numpy as np

from irreps.data import keys as K
from irreps.data.close_pairs import overlapping_atoms
from irreps.data.reading import KeySpec, extract_fields, iter_frames
from irreps.data.statistics import is_isolated_atom

FORMAT = "irreps-shards"
VERSION = 1
META = "meta.json"
ISOLATED = "isolated_atoms.xyz"
STRUCTURE_ARRAYS = ("num_atoms", "positions", "atomic_numbers", "cell", "pbc")


def shard_name(index: int) -> str:
    return f"shard_{index:05d}.h5"


def _frames(source: Path, keys: KeySpec, allow_close_atoms: bool) -> Iterator[tuple[ase.Atoms, dict, dict]]:
    """Each frame of ``source`` with its checked values and string metadata."""
    for n, atoms in enumerate(iter_frames(source)):
        where = f"{source}, frame {n}"
        if not allow_close_atoms and (problem := overlapping_atoms(atoms)) is not None:
            raise ValueError(f"{where}: overlapping atoms: {problem}; if they are meant, pass --allow-close-atoms")
        values, info = extract_fields(atoms, keys, where=where)
        yield atoms, values, info


class _Shard:
    """The structures of one shard, gathered until it is written."""

    def __init__(self) -> None:
        # (positions, numbers, cell, pbc, values, info) of each structure: arrays, not ase.Atoms
        self.structures: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict, dict]] = []

    def add(self, atoms: ase.Atoms, values: dict[str, np.ndarray], info: dict[str, str]) -> None:
        self.structures.append((atoms.positions.copy(), atoms.numbers.astype(np.uint8), atoms.cell.array.copy(),
                                atoms.pbc.copy(), values, info))

    def __len__(self) -> int:
        return len(self.structures)

    def write(self, path: Path) -> list[str]:
        """Write the shard (see the module docstring); returns the fields it holds."""
        import h5py

        positions, numbers, cells, pbcs, values, infos = zip(*self.structures)
        names = [n for n in K.FIELDS if any(n in v or n in i for v, i in zip(values, infos))]
        with h5py.File(path, "w") as f:
            f.attrs["format"], f.attrs["version"] = FORMAT, VERSION
            f["num_atoms"] = np.array([len(z) for z in numbers], dtype=np.int64)
            f["positions"] = np.concatenate(positions).astype(np.float64)
            f["atomic_numbers"] = np.concatenate(numbers)
            f["cell"] = np.stack(cells).astype(np.float64)
            f["pbc"] = np.stack(pbcs).astype(bool)
            for name in names:
                f[f"present/{name}"] = np.array([name in v or name in i for v, i in zip(values, infos)])
                if K.FIELDS[name].kind == "str":
                    f.create_dataset(f"fields/{name}", data=[str(i.get(name) or "") for i in infos],
                                     dtype=h5py.string_dtype())
                    continue
                f[f"fields/{name}"] = np.concatenate([_filled(name, v, len(z)) for v, z in zip(values, numbers)])
        self.structures = []
        return names


def _filled(name: str, values: dict[str, np.ndarray], num_atoms: int) -> np.ndarray:
    """The value of ``name`` with a leading axis for concatenation; zeros when absent."""
    field = K.FIELDS[name]
    if field.level == "atom_pair":
        shape: tuple[int, ...] = (9 * num_atoms * num_atoms,)
    elif field.level == "atom":
        shape = (num_atoms, *field.shape)
    else:
        shape = (1, *field.shape)
    return values[name].reshape(shape) if name in values else np.zeros(shape)


def convert_to_shards(
    source: str | Path,
    out: str | Path,
    keys: KeySpec = KeySpec(),
    shard_size: int = 10000,
    allow_close_atoms: bool = False,
    log: Callable[[str], None] = print,
) -> dict:
    """Convert ``source`` (any ASE-readable file) into the directory ``out``; returns its metadata.

    Every frame is checked as :func:`~irreps.data.reading.read_atoms` checks it (and for
    overlapping atoms unless ``allow_close_atoms``); errors name the file and frame.
    Isolated-atom frames go to ``isolated_atoms.xyz``. ``out`` must not exist or be empty.
    """
    source, out = Path(source), Path(out)
    if not source.is_file():
        raise FileNotFoundError(f"no such data file: {source}")
    if shard_size < 1:
        raise ValueError(f"shard size must be >= 1, got {shard_size}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"output {out} exists and is not an empty directory")
    out.mkdir(parents=True, exist_ok=True)
    shard, isolated, shards, fields = _Shard(), [], [], set()
    for atoms, values, info in _frames(source, keys, allow_close_atoms):
        if is_isolated_atom(atoms, keys):  # kept with its energy under the standard key
            isolated.append(ase.Atoms(atoms.numbers, atoms.positions, info={K.CONFIG_TYPE: "IsolatedAtom"}))
            if K.ENERGY in values:
                isolated[-1].calc = SinglePointCalculator(isolated[-1], energy=float(values[K.ENERGY]))
            continue
        shard.add(atoms, values, info)
        if len(shard) == shard_size:
            shards.append({"file": shard_name(len(shards)), "structures": len(shard)})
            fields.update(shard.write(out / shards[-1]["file"]))
    if len(shard):
        shards.append({"file": shard_name(len(shards)), "structures": len(shard)})
        fields.update(shard.write(out / shards[-1]["file"]))
    if not shards:
        raise ValueError(f"{source}: holds no structures besides isolated atoms")
    if isolated:
        ase.io.write(out / ISOLATED, isolated, format="extxyz")
    meta = {
        "format": FORMAT, "version": VERSION, "source": str(source), "keys": keys.file_keys(),
        "num_structures": sum(s["structures"] for s in shards), "shards": shards,
        "fields": [n for n in K.FIELDS if n in fields], "isolated_atoms": len(isolated),
    }
    (out / META).write_text(json.dumps(meta, indent=1))
    log(f"{source}: {meta['num_structures']} structures in {len(shards)} shards, {len(isolated)} isolated atoms -> {out}")
    return meta
