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
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
import torch

from irreps.data import keys as K
from irreps.data.conversion import graph_from_arrays
from irreps.data.graph import AtomicGraph
from irreps.data.neighbors import ALL_PAIRS_MAX_ATOMS, neighbor_list, open_boundary_pairs
from irreps.data.shard_writer import FORMAT, META, VERSION


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

    def _shard(self, index: int):
        """The open h5py file of shard ``index`` in this process."""
        import h5py

        if self._pid != os.getpid():
            self._handles, self._pid = {}, os.getpid()
        if index not in self._handles:
            try:
                self._handles[index] = h5py.File(self.files[index], "r")
            except (OSError, FileNotFoundError) as err:
                raise ValueError(f"cannot read shard {self.files[index]} ({err})") from None
        return self._handles[index]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> AtomicGraph:
        if not -len(self) <= index < len(self):
            raise IndexError(f"structure {index} of a dataset of {len(self)}")
        structure = int(self.indices[index])
        s = bisect.bisect_right(self.offsets, structure) - 1
        j = structure - int(self.offsets[s])
        shard = self._shard(s)
        a, b = int(self._atom_starts[s][j]), int(self._atom_starts[s][j + 1])
        positions, numbers = shard["positions"][a:b], shard["atomic_numbers"][a:b].astype(np.int64)
        cell, pbc = shard["cell"][j], shard["pbc"][j]
        if not pbc.any() and b - a <= ALL_PAIRS_MAX_ATOMS:
            edge_index = open_boundary_pairs([positions], self.cutoff)[0]
            shifts = np.zeros((edge_index.shape[1], 3))
        else:
            edge_index, shifts, _ = neighbor_list(positions, cell, pbc, self.cutoff)
        values, info = {}, {K.CONFIG_TYPE: None}
        for name in self.fields:
            if not shard[f"present/{name}"][j]:
                continue
            field, data = K.FIELDS[name], shard[f"fields/{name}"]
            if field.kind == "str":
                info[name] = data[j].decode()
            elif field.level == "atom":
                values[name] = data[a:b]
            elif field.level == "graph":
                values[name] = data[j]
            else:  # atom_pair: the Hessians of the shard's structures one after another
                starts = 9 * np.concatenate([[0], np.cumsum(np.diff(self._atom_starts[s]) ** 2)])
                values[name] = data[int(starts[j]) : int(starts[j + 1])]
        graph = graph_from_arrays(positions, numbers, cell, pbc, edge_index, shifts, values, info, self.dtype)
        if K.ENERGY in values:
            graph.targets[K.ENERGY] = torch.as_tensor(values[K.ENERGY], dtype=torch.float64).reshape(1)
        return graph if self.device.type == "cpu" else _to_device(graph, self.device)

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


def _to_device(graph: AtomicGraph, device: torch.device) -> AtomicGraph:
    energy = graph.targets.get(K.ENERGY)
    moved = graph.to(device=device)
    if energy is not None:
        moved.targets[K.ENERGY] = energy.to(device)
    return moved
