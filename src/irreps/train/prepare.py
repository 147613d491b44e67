"""From a :class:`~irreps.train.config.DataConfig` to graphs, reference energies and statistics.

Paths are file paths or ``bundled:NAME`` (a dataset shipped with the package, see
:func:`irreps.data.bundled_path`). Isolated-atom frames found in the training file (labelled
``config_type=isolated_atom`` or single open atoms) are taken out of the training set and
used as E0s, as is common in published training files; an explicit ``isolated_atoms_file``
takes precedence and a least-squares fit is the fallback.

Energies stay in float64 whatever the training dtype: a total energy of ~1e4 eV has a float32
resolution of ~1 meV, the size of the errors being measured.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from ase.data import chemical_symbols

from irreps.data import (
    DatasetStatistics,
    GraphDataset,
    KeySpec,
    atoms_list_to_graphs,
    e0s_from_isolated_atoms,
    extract_fields,
    read_atoms,
    split_indices,
    split_isolated_atoms,
)
from irreps.data.shard_reader import ShardedDataset, read_meta
from irreps.data.shard_writer import ISOLATED
from irreps.data.statistics import DatasetSummary, summarise
from irreps.data import keys as K
from irreps.data.bundled import BUNDLED_PREFIX, resolve_data_path
from irreps.data.close_pairs import overlapping_atoms
from irreps.data.graph import AtomicGraph
from irreps.train.config import DataConfig
from irreps.train.distributed import World

FITTED_E0S = "least-squares fit"


def resolve_path(text: str) -> Path:
    """A file path, a directory written by ``irreps data convert``, or the path of the bundled
    dataset ``bundled:NAME``."""
    path = Path(text).expanduser()
    if not text.startswith(BUNDLED_PREFIX) and path.is_dir():
        read_meta(path)  # a clear error for a directory that is not a converted dataset
        return path
    return resolve_data_path(text)


@dataclass
class PreparedData:
    """What training needs from the data: the three sets, E0s and normalisation statistics.

    Attributes
    ----------
    train, valid : GraphDataset or ShardedDataset
    test : GraphDataset, ShardedDataset or None
        Structures in memory (from an extended-XYZ file), or read lazily from a directory
        that ``irreps data convert`` wrote.
    e0s : dict[int, float]
        Atomic number -> reference energy (eV).
    e0_source : str
        ``isolated_atoms_file``, ``training file`` or ``least-squares fit``
        (:data:`FITTED_E0S`).
    statistics : DatasetStatistics
        Of the training set after subtracting the E0s.
    """

    train: GraphDataset | ShardedDataset
    valid: GraphDataset | ShardedDataset
    test: GraphDataset | ShardedDataset | None
    e0s: dict[int, float]
    e0_source: str
    statistics: DatasetStatistics

    @property
    def isolated_e0s(self) -> bool:
        """Whether the E0s are energies of free atoms (from a file), not a least-squares fit."""
        return self.e0_source != FITTED_E0S

    def cast(self, dtype: torch.dtype, device: torch.device | str) -> "PreparedData":
        """Every set moved to ``device`` in floating ``dtype``, energies kept in float64."""
        return dataclasses.replace(
            self,
            train=_cast(self.train, dtype, device),
            valid=_cast(self.valid, dtype, device),
            test=_cast(self.test, dtype, device) if self.test is not None else None,
        )


def _cast(dataset: GraphDataset | ShardedDataset, dtype: torch.dtype, device: torch.device | str) -> GraphDataset | ShardedDataset:
    if isinstance(dataset, ShardedDataset):
        return dataset.to(device=device, dtype=dtype)  # a view: graphs are cast as they are read
    graphs = []
    for graph in dataset:
        moved = graph.to(device=device, dtype=dtype)
        if "energy" in graph.targets:
            moved.targets["energy"] = graph.targets["energy"].to(device=device, dtype=torch.float64)
        graphs.append(moved)
    return GraphDataset(graphs)


def read_structures(
    text: str, cutoff: float, keys: KeySpec, required: Collection[str], fields: Collection[str],
    allow_close_atoms: bool = False, elements: Collection[int] | None = None,
) -> tuple[list[AtomicGraph], list[Any]]:
    """Graphs (float64) of the non-isolated frames of a file, and its isolated-atom frames.

    Only ``fields`` (and ``required``) are read, so an unused value present in some frames
    only does not stop them from being batched together. A frame with an element outside
    ``elements`` (when given: a trained model's), then a frame with overlapping atoms
    (:func:`~irreps.data.close_pairs.overlapping_atoms`) raises ``ValueError`` naming it, unless
    ``allow_close_atoms`` for the latter. A converted directory gives a lazy
    :class:`~irreps.data.shard_reader.ShardedDataset` (checked for overlaps when converted).
    """
    path = resolve_path(text)
    if path.is_dir():
        isolated = path / ISOLATED
        frames = read_atoms(isolated, KeySpec(), fields=()) if isolated.is_file() else []
        return ShardedDataset(path, cutoff, required, fields), frames
    everything = read_atoms(path, keys, required=())
    if elements is not None:
        refuse_unknown_elements(everything, text, elements)
    if not allow_close_atoms:
        refuse_overlapping_atoms(everything, text)
    isolated, frames = split_isolated_atoms(everything, keys)
    if not frames:
        raise ValueError(f"{text}: holds only isolated atoms, no structures to train or test on")
    graphs = atoms_list_to_graphs(
        frames, cutoff, keys, required, dtype=torch.float64, source=text, fields=tuple(fields)
    )
    return graphs, isolated


def refuse_unknown_elements(frames: Sequence[Any], source: str, elements: Collection[int]) -> None:
    """``ValueError`` naming the first frame of ``source`` with an element outside ``elements``."""
    known = set(int(z) for z in elements)
    for n, atoms in enumerate(frames):
        unknown = sorted(set(atoms.numbers.tolist()) - known)
        if unknown:
            names = ", ".join(chemical_symbols[z] for z in unknown)
            raise ValueError(f"{source}, frame {n}: element(s) {names} not among the model's elements "
                             f"{', '.join(chemical_symbols[z] for z in sorted(known))}")


def refuse_overlapping_atoms(frames: Sequence[Any], source: str) -> None:
    """``ValueError`` naming the first frame of ``source`` with overlapping atoms and the pair."""
    for n, atoms in enumerate(frames):
        problem = overlapping_atoms(atoms)
        if problem is not None:
            raise ValueError(f"{source}, frame {n}: overlapping atoms: {problem}; if they are meant, allow them "
                             "with data.allow_close_atoms (irreps train) or --allow-close-atoms (irreps evaluate)")


def isolated_atoms_file_e0s(text: str, keys: KeySpec) -> dict[int, float]:
    """E0s of ``data.isolated_atoms_file`` (atomic number -> eV).

    ``data.keys`` describes the training data, while an E0 file is often a standard one
    shared between datasets: its energies are read under the standard ``energy`` key, or
    under ``data.keys.energy`` when its isolated atoms carry no standard energy.
    """
    path = resolve_data_path(text)
    isolated, _ = split_isolated_atoms(read_atoms(path, KeySpec(), fields=()))
    standard = all(K.ENERGY in extract_fields(atoms, fields=(K.ENERGY,))[0] for atoms in isolated)
    if standard or keys.energy_key == K.ENERGY:
        return e0s_from_isolated_atoms(path)
    return e0s_from_isolated_atoms(path, KeySpec(energy_key=keys.energy_key))


def prepare_data(
    data: DataConfig, required: Collection[str], seed: int, log=print, world: World | None = None,
) -> PreparedData:
    """Read, split and analyse the data of a training run (float64 graphs on the CPU).

    Parameters
    ----------
    data : DataConfig
    required : collection of str
        Fields every training and validation structure must have (``energy``, and the
        fields with a non-zero loss weight).
    seed : int
        Seed of the train/validation split.
    world : World, optional
        In a data-parallel run, the ranks share the statistics pass (see :func:`_summarise`).
    """
    if data.train_file is None:
        raise ValueError("data.train_file is not set: name an extended-XYZ file (or bundled:acac_train)")
    keys = data.key_spec()
    required = tuple(dict.fromkeys(("energy", *required)))
    allow = data.allow_close_atoms
    train, isolated = read_structures(data.train_file, data.cutoff, keys, required, required, allow)
    if data.valid_file is not None:
        valid, _ = read_structures(data.valid_file, data.cutoff, keys, required, required, allow)
        (train_idx,) = split_indices(len(train), (min(len(train), data.max_train or len(train)),), seed=seed)
    else:
        num_valid = max(1, round(data.valid_fraction * len(train)))
        if num_valid >= len(train):
            raise ValueError(f"{data.train_file}: {len(train)} structures are too few to hold out {num_valid} for validation")
        num_train = min(len(train) - num_valid, data.max_train or len(train))
        train_idx, valid_idx = split_indices(len(train), (num_train, num_valid), seed=seed)
        valid = _pick(train, valid_idx)
    train = _pick(train, train_idx)
    test = read_structures(data.test_file, data.cutoff, keys, ("energy",), required, allow)[0] if data.test_file else None

    summary = _summarise(train, world)  # one pass, so a converted dataset is read once
    if data.isolated_atoms_file is not None:
        e0s, source = isolated_atoms_file_e0s(data.isolated_atoms_file, keys), "isolated_atoms_file"
    elif isolated:  # a converted directory keeps them under the standard keys
        standard = isinstance(train, ShardedDataset)
        e0s, source = e0s_from_isolated_atoms(isolated, KeySpec() if standard else keys), "training file"
    else:
        e0s, source = summary.fit_e0s(), FITTED_E0S
    statistics = summary.statistics(e0s)
    log(
        f"data: {len(train)} train / {len(valid)} validation"
        + (f" / {len(test)} test" if test is not None else "")
        + f" structures; E0 from {source}; elements {list(statistics.elements)}"
    )
    return PreparedData(_dataset(train), _dataset(valid), _dataset(test) if test else None, e0s, source, statistics)


def _summarise(train: list[AtomicGraph] | ShardedDataset, world: World | None) -> DatasetSummary:
    """The training set's summary. With several ranks each summarises one consecutive share and
    every rank joins the shares in rank order: the pass over a large converted dataset is read
    once in all, not once per rank, and the result is the same on every rank."""
    if world is None or world.size == 1:
        return summarise(train, "the training set")
    start, stop = len(train) * world.rank // world.size, len(train) * (world.rank + 1) // world.size
    part, error = None, None
    try:
        if stop > start:
            part = summarise(_pick(train, range(start, stop)), "the training set")
    except Exception as err:  # raised on every rank by World.agree
        error = err
    world.agree(error, "summarising the training set")
    parts = [p for p in world.everyone(part) if p is not None]
    return DatasetSummary.join(parts) if parts else summarise(train, "the training set")


def _pick(structures: list[AtomicGraph] | ShardedDataset, indices) -> list[AtomicGraph] | ShardedDataset:
    """The structures at ``indices``: a list, or a view of a converted dataset."""
    if isinstance(structures, ShardedDataset):
        return structures.subset(indices)
    return [structures[int(i)] for i in indices]


def _dataset(structures: list[AtomicGraph] | ShardedDataset) -> GraphDataset | ShardedDataset:
    return structures if isinstance(structures, ShardedDataset) else GraphDataset(structures)
