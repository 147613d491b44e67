"""Reading a dataset converted by :func:`~irreps.data.shard_writer.convert_to_shards`, lazily.

:class:`ShardedDataset` is a sequence of single-structure graphs that reads each structure
from its shard when asked for it and finds its neighbours at the cutoff given here, so memory
stays flat however many structures the directory holds: it keeps only the structures' atom
counts. Subsets (:meth:`ShardedDataset.subset`) and dtype views (:meth:`ShardedDataset.to`)
are views, not copies. The HDF5 files are opened on first use in each process (h5py handles
do not survive a fork), so a dataset can be handed to spawned or forked workers.
"""

from __future__ import annotations

import bisect
import json
import os
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from irreps.data import keys as K
from irreps.data.conversion import graph_from_arrays
from irreps.data.graph import AtomicGraph
from irreps.data.neighbors import ALL_PAIRS_MAX_ATOMS, neighbor_list, open_boundary_pairs
from irreps.data.shard_writer import FORMAT, META, VERSION

READ_BLOCK = 512  # most structures read together when iterating in order (memory: one block)


def is_sharded(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a directory written by ``irreps data convert``."""
    return (Path(path) / META).is_file()


def read_meta(path: str | os.PathLike) -> dict:
    """The metadata of a converted directory; ``ValueError`` when it is not one."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no such converted dataset: {path}")
    try:
        meta = json.loads((path / META).read_text())
    except FileNotFoundError:
        raise ValueError(f"{path} is not a converted dataset (no {META}): convert it with `irreps data convert`") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path / META} is not valid JSON ({err})") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ValueError(f"{path / META}: format {meta.get('format')!r} version {meta.get('version')!r}, "
                         f"expected {FORMAT!r} version {VERSION}")
    return meta


class ShardedDataset(Sequence[AtomicGraph]):
    """The structures of a converted directory as graphs at ``cutoff``, read on access.

    Parameters
    ----------
    path : path
        The directory.
    cutoff : float
        Neighbour-list radius in Å.
    required : collection of str
        Fields every structure must have: checked here, once, for the whole directory.
    fields : collection of str, optional
        Read only these fields (plus ``required``); ``None`` reads every field present.
    dtype : torch.dtype
        Floating dtype of positions and targets (energies stay float64, as
        :meth:`irreps.train.prepare.PreparedData.cast` keeps them).
    """

    def __init__(
        self, path: str | os.PathLike, cutoff: float, required: Collection[str] = (),
        fields: Collection[str] | None = None, dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu",
    ):
        self.path, self.cutoff, self.dtype, self.device = Path(path), float(cutoff), dtype, torch.device(device)
        self.meta = read_meta(path)
        self.files = [self.path / s["file"] for s in self.meta["shards"]]
        self.offsets = np.cumsum([0] + [s["structures"] for s in self.meta["shards"]])
        keep = set(self.meta["fields"]) if fields is None else {*fields, *required}
        self.fields = [n for n in self.meta["fields"] if n in keep or K.FIELDS[n].kind == "str"]
        self.indices: np.ndarray = np.arange(int(self.offsets[-1]))
        self._handles: dict[int, object] = {}
        self._pid = -1
        self._atom_starts = [np.cumsum(np.concatenate([[0], self._shard(s)["num_atoms"][:]])) for s in range(len(self.files))]
        self._check_required(required)

    def _check_required(self, required: Collection[str]) -> None:
        for name in required:
            if name not in self.meta["fields"]:
                raise ValueError(f"{self.path}: no structure has the required field '{name}'")
            for s in range(len(self.files)):
                missing = np.flatnonzero(~self._shard(s)[f"present/{name}"][:])
                if missing.size:
                    raise ValueError(f"{self.path}, structure {int(self.offsets[s] + missing[0])}: "
                                     f"missing required field '{name}'")

    def _shard(self, index: int) -> "_OpenShard":
        """Shard ``index``, opened in this process."""
        if self._pid != os.getpid():
            self._handles, self._pid = {}, os.getpid()
        if index not in self._handles:
            self._handles[index] = _OpenShard(self.files[index])
        return self._handles[index]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> AtomicGraph:
        if not -len(self) <= index < len(self):
            raise IndexError(f"structure {index} of a dataset of {len(self)}")
        s, j = self._locate(int(self.indices[index]))
        return self._read_block(s, j, j + 1, [j])[0]

    def __iter__(self) -> Iterator[AtomicGraph]:
        """The structures in order, read in blocks of nearby rows of one shard: one pass over
        the dataset (the statistics) then costs a few reads per block instead of per structure,
        and memory holds one block."""
        k = 0
        while k < len(self.indices):
            s, first = self._locate(int(self.indices[k]))
            limit = min(int(self.offsets[s + 1] - self.offsets[s]), first + 2 * READ_BLOCK)  # bounds the slice read
            rows = [first]
            for structure in self.indices[k + 1 : k + READ_BLOCK]:
                j = int(structure - self.offsets[s])
                if not rows[-1] < j < limit:
                    break
                rows.append(j)
            yield from self._read_block(s, first, rows[-1] + 1, rows)
            k += len(rows)

    def _locate(self, structure: int) -> tuple[int, int]:
        """(shard, row in the shard) of a structure of the directory."""
        s = bisect.bisect_right(self.offsets, structure) - 1
        return s, structure - int(self.offsets[s])

    def _read_block(self, s: int, start: int, stop: int, rows: Sequence[int]) -> list[AtomicGraph]:
        """The graphs of ``rows`` (increasing, within ``[start, stop)``) of shard ``s``, read with
        one slice of each dataset over ``[start, stop)``."""
        shard, starts = self._shard(s), self._atom_starts[s]
        first_atom = int(starts[start])
        atoms = slice(first_atom, int(starts[stop]))
        positions, numbers = shard["positions"][atoms], shard["atomic_numbers"][atoms].astype(np.int64)
        cell, pbc = shard["cell"][start:stop], shard["pbc"][start:stop]
        present = {name: shard[f"present/{name}"][start:stop] for name in self.fields}
        columns = {name: self._field_block(s, name, start, stop) for name in self.fields if present[name].any()}
        spans = [(int(starts[j]) - first_atom, int(starts[j + 1]) - first_atom) for j in rows]
        small = [n for n, (j, (a, b)) in enumerate(zip(rows, spans)) if not pbc[j - start].any() and b - a <= ALL_PAIRS_MAX_ATOMS]
        pairs = dict(zip(small, open_boundary_pairs([positions[spans[n][0] : spans[n][1]] for n in small], self.cutoff)))
        graphs = []
        for n, (j, (a, b)) in enumerate(zip(rows, spans)):
            r = j - start
            if n in pairs:
                edge_index, shifts = pairs[n], np.zeros((pairs[n].shape[1], 3))
            else:
                edge_index, shifts, _ = neighbor_list(positions[a:b], cell[r], pbc[r], self.cutoff)
            values, info = {}, {K.CONFIG_TYPE: None}
            for name, column in columns.items():
                if not present[name][r]:
                    continue
                field = K.FIELDS[name]
                if field.kind == "str":
                    info[name] = column[r].decode()
                elif field.level == "atom":
                    values[name] = column[a:b]
                elif field.level == "graph":
                    values[name] = column[r]
                else:  # atom_pair: rows 9 N^2 long, one after another
                    h0, h1 = 9 * self._pair_starts(s, start, j)
                    values[name] = column[h0:h1]
            graph = graph_from_arrays(positions[a:b], numbers[a:b], cell[r], pbc[r], edge_index, shifts, values, info, self.dtype)
            if K.ENERGY in values:
                graph.targets[K.ENERGY] = torch.as_tensor(values[K.ENERGY], dtype=torch.float64).reshape(1)
            graphs.append(graph if self.device.type == "cpu" else _to_device(graph, self.device))
        return graphs

    def _pair_starts(self, s: int, start: int, j: int) -> np.ndarray:
        """Start and end of structure ``j``'s atom-pair rows (units of 9) counted from structure ``start``."""
        counts = np.diff(self._atom_starts[s][start : j + 2]) ** 2
        return np.array([counts[:-1].sum(), counts.sum()], dtype=np.int64)

    def _field_block(self, s: int, name: str, start: int, stop: int) -> np.ndarray:
        """Rows ``[start, stop)`` of field ``name`` in shard ``s`` (atoms' rows for per-atom fields)."""
        shard, field, starts = self._shard(s), K.FIELDS[name], self._atom_starts[s]
        data = shard[f"fields/{name}"]
        if field.kind == "str" or field.level == "graph":
            return data[start:stop]
        if field.level == "atom":
            return data[int(starts[start]) : int(starts[stop])]
        before = int((np.diff(starts[: start + 1]) ** 2).sum())
        return data[9 * before : 9 * (before + int((np.diff(starts[start : stop + 1]) ** 2).sum()))]

    def _view(self, indices: np.ndarray, dtype: torch.dtype, device: torch.device) -> "ShardedDataset":
        view = object.__new__(ShardedDataset)
        view.__dict__.update({**self.__dict__, "indices": indices, "dtype": dtype, "device": device,
                              "_handles": {}, "_pid": -1})
        return view

    def subset(self, indices: Sequence[int]) -> "ShardedDataset":
        """A view of the structures at ``indices`` (positions in this dataset)."""
        return self._view(self.indices[np.asarray(indices, dtype=np.int64)], self.dtype, self.device)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "ShardedDataset":
        """A view whose graphs come in floating ``dtype`` on ``device`` (energies in float64)."""
        return self._view(self.indices, dtype or self.dtype, torch.device(device) if device is not None else self.device)


class _OpenShard:
    """An open shard file whose datasets are looked up once: h5py's lookup by name costs far
    more than reading a structure's rows, which are read as slices (h5py's fast path)."""

    def __init__(self, path: Path) -> None:
        import h5py

        try:
            self.file = h5py.File(path, "r")
        except (OSError, FileNotFoundError) as err:
            raise ValueError(f"cannot read shard {path} ({err})") from None
        self._datasets: dict[str, object] = {}

    def __getitem__(self, name: str):
        if name not in self._datasets:
            self._datasets[name] = self.file[name]
        return self._datasets[name]


def _to_device(graph: AtomicGraph, device: torch.device) -> AtomicGraph:
    energy = graph.targets.get(K.ENERGY)
    moved = graph.to(device=device)
    if energy is not None:
        moved.targets[K.ENERGY] = energy.to(device)
    return moved
