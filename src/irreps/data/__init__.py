"""Atomistic data: fields and units, reading, neighbour lists, graphs and batches, splits, statistics.

Typical use::

    from irreps.data import read_graphs, split_indices, GraphDataset, GraphLoader
    graphs = GraphDataset(read_graphs("train.xyz", cutoff=5.0, required=("energy", "forces")))
    train_idx, val_idx = split_indices(len(graphs), (0.9, 0.1), seed=1)
    for batch in GraphLoader(graphs.subset(train_idx), batch_size=8, shuffle=True, seed=1):
        ...
"""

from irreps.data.batch import collate, split_hessian
from irreps.data.bundled import BUNDLED_FILES, bundled_path, bundled_paths, resolve_data_path
from irreps.data.conversion import atoms_list_to_graphs, atoms_to_graph, read_graphs
from irreps.data.graph import AtomicGraph
from irreps.data.keys import FIELDS, TARGETS, Field, get_field
from irreps.data.loader import GraphDataset, GraphLoader
from irreps.data.neighbors import neighbor_list
from irreps.data.reading import KeySpec, extract_fields, read_atoms, validate_atoms
from irreps.data.splits import split_indices
from irreps.data.statistics import (
    DatasetStatistics,
    compute_statistics,
    e0s_from_isolated_atoms,
    fit_e0s,
    is_isolated_atom,
    reference_energy,
    split_isolated_atoms,
)

__all__ = [
    "AtomicGraph",
    "BUNDLED_FILES",
    "DatasetStatistics",
    "FIELDS",
    "Field",
    "GraphDataset",
    "GraphLoader",
    "KeySpec",
    "TARGETS",
    "atoms_list_to_graphs",
    "atoms_to_graph",
    "bundled_path",
    "bundled_paths",
    "resolve_data_path",
    "collate",
    "compute_statistics",
    "e0s_from_isolated_atoms",
    "extract_fields",
    "fit_e0s",
    "get_field",
    "is_isolated_atom",
    "neighbor_list",
    "read_atoms",
    "read_graphs",
    "reference_energy",
    "split_hessian",
    "split_indices",
    "split_isolated_atoms",
    "validate_atoms",
]
