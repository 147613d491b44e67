"""From ``ase.Atoms`` to :class:`~irreps.data.graph.AtomicGraph`: validation, neighbour list, targets."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import ase
import numpy as np
import torch

from irreps.data import keys as K
from irreps.data.graph import AtomicGraph
from irreps.data.neighbors import ALL_PAIRS_MAX_ATOMS, neighbor_list, open_boundary_pairs
from irreps.data.reading import KeySpec, extract_fields, read_atoms, validate_atoms


def atoms_to_graph(
    atoms: ase.Atoms,
    cutoff: float,
    keys: KeySpec | None = KeySpec(),
    required: Collection[str] = (),
    dtype: torch.dtype | None = None,
    where: str = "structure",
    fields: Collection[str] | None = None,
) -> AtomicGraph:
    """One structure as a single-graph :class:`AtomicGraph` (``num_graphs == 1``).

    Parameters
    ----------
    atoms : ase.Atoms
    cutoff : float
        Neighbour-list radius in Å.
    keys : KeySpec or None
        Where the reference values live; ``None`` reads no targets (what a calculator wants,
        since ``atoms.calc.results`` may hold stale predictions).
    required : collection of str
        Fields that must be present (``ValueError`` otherwise).
    dtype : torch.dtype, optional
        Floating dtype of positions, shifts, cell and targets; ``torch.get_default_dtype()``
        when omitted. Neighbours are always found in float64.
    where : str
        Names the structure in error messages.
    fields : collection of str, optional
        Read only these fields (plus ``required``); ``None`` reads every field present.

    Returns
    -------
    AtomicGraph
        ``targets`` holds the fields present with a leading graph axis for per-structure
        fields: ``energy`` [1], ``forces`` [N, 3], ``stress`` [1, 3, 3], ``hessian`` [9 N^2], ...;
        ``info["config_type"]`` is a one-element list (``[None]`` when the structure has none,
        omitted when ``keys`` is ``None``).
    """
    validate_atoms(atoms, where)
    edge_index, shifts, _ = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff)
    return _graph(atoms, edge_index, shifts, keys, required, dtype, where, fields)


def _graph(
    atoms: ase.Atoms,
    edge_index: np.ndarray,
    shifts: np.ndarray,
    keys: KeySpec | None,
    required: Collection[str],
    dtype: torch.dtype | None,
    where: str,
    fields: Collection[str] | None,
) -> AtomicGraph:
    """:func:`atoms_to_graph` of a validated structure whose neighbour list is known."""
    values, info = extract_fields(atoms, keys, required, where, fields) if keys is not None else ({}, {})
    if keys is not None:
        info.setdefault(K.CONFIG_TYPE, None)
    return graph_from_arrays(atoms.positions, atoms.numbers, atoms.cell.array, atoms.pbc, edge_index, shifts,
                             values, info, dtype)


def graph_from_arrays(
    positions: np.ndarray,
    numbers: np.ndarray,
    cell: np.ndarray,
    pbc: np.ndarray,
    edge_index: np.ndarray,
    shifts: np.ndarray,
    values: dict[str, np.ndarray],
    info: dict[str, str | None],
    dtype: torch.dtype | None = None,
) -> AtomicGraph:
    """A single-structure :class:`AtomicGraph` from checked arrays: ``values`` in the canonical
    shapes of :func:`~irreps.data.reading.extract_fields`, ``info`` the string metadata."""
    dtype = dtype or torch.get_default_dtype()
    targets = {}
    for name, value in values.items():
        tensor = torch.as_tensor(value, dtype=dtype)
        targets[name] = tensor.unsqueeze(0) if K.FIELDS[name].level == "graph" else tensor
    return AtomicGraph(
        positions=torch.as_tensor(np.asarray(positions), dtype=dtype),
        atomic_numbers=torch.as_tensor(np.asarray(numbers), dtype=torch.int64),
        edge_index=torch.as_tensor(edge_index),
        shifts=torch.as_tensor(shifts, dtype=dtype),
        batch=torch.zeros(len(numbers), dtype=torch.int64),
        cell=torch.as_tensor(np.asarray(cell, dtype=np.float64), dtype=dtype).unsqueeze(0),
        pbc=torch.as_tensor(np.asarray(pbc, dtype=bool)).unsqueeze(0),
        num_graphs=1,
        targets=targets,
        info={name: [value] for name, value in info.items()},
    )


def atoms_list_to_graphs(
    frames: Sequence[ase.Atoms],
    cutoff: float,
    keys: KeySpec | None = KeySpec(),
    required: Collection[str] = (),
    dtype: torch.dtype | None = None,
    source: str = "structures",
    fields: Collection[str] | None = None,
) -> list[AtomicGraph]:
    """:func:`atoms_to_graph` for each frame; errors name ``source`` and the frame index.

    The neighbour lists of all small open-boundary frames are found together in one vectorised
    pass (:func:`~irreps.data.neighbors.open_boundary_pairs`); the graphs are the same as
    :func:`atoms_to_graph`'s.
    """
    wheres = [f"{source}, frame {n}" for n in range(len(frames))]
    for atoms, where in zip(frames, wheres):
        validate_atoms(atoms, where)
    small = [n for n, atoms in enumerate(frames) if not atoms.pbc.any() and len(atoms) <= ALL_PAIRS_MAX_ATOMS]
    pairs = dict(zip(small, open_boundary_pairs([frames[n].positions for n in small], cutoff)))
    graphs = []
    for n, (atoms, where) in enumerate(zip(frames, wheres)):
        if n in pairs:
            edge_index, shifts = pairs[n], np.zeros((pairs[n].shape[1], 3))
        else:
            edge_index, shifts, _ = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff)
        graphs.append(_graph(atoms, edge_index, shifts, keys, required, dtype, where, fields))
    return graphs


def read_graphs(
    path: str | Path,
    cutoff: float,
    keys: KeySpec = KeySpec(),
    required: Collection[str] = (K.ENERGY,),
    index: str | int | slice = ":",
    format: str | None = None,
    dtype: torch.dtype | None = None,
    fields: Collection[str] | None = None,
) -> list[AtomicGraph]:
    """Read an ASE-readable file into graphs.

    Arguments as in :func:`~irreps.data.reading.read_atoms` and :func:`atoms_to_graph`; note
    that ``required`` defaults to ``("energy",)`` here.
    """
    frames = read_atoms(path, keys, required, index, format, fields)
    return atoms_list_to_graphs(frames, cutoff, keys, required, dtype, str(path), fields)
