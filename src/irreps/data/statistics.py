"""Per-element reference energies (E0) and the scale/shift statistics of a training set.

Datasets hold total energies, dominated by the energies of the free atoms. Subtracting
``sum_a E0[Z_a]`` leaves the small interaction energy a model learns. E0 comes from an
isolated-atoms file computed with the same reference method, or, failing that, from a
least-squares fit of total energies to element counts over the training set.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import ase
import numpy as np
import torch
from ase.data import chemical_symbols
from torch import Tensor

from irreps.data import keys as K
from irreps.data.graph import AtomicGraph
from irreps.data.reading import KeySpec, extract_fields, read_atoms

_SIZE = len(chemical_symbols)  # atomic numbers 0..118
_PAIRS = _SIZE * _SIZE


def is_isolated_atom(atoms: ase.Atoms, keys: KeySpec = KeySpec()) -> bool:
    """Whether a frame is a free-atom reference: labelled ``isolated_atom``/``IsolatedAtom``
    (case, ``_``, ``-`` and spaces ignored), or a single atom without periodic boundaries."""
    label = str(atoms.info.get(keys.config_type_key, ""))
    if label.lower().replace("_", "").replace("-", "").replace(" ", "") == "isolatedatom":
        return True
    return len(atoms) == 1 and not np.any(atoms.pbc)


def split_isolated_atoms(
    frames: Sequence[ase.Atoms], keys: KeySpec = KeySpec()
) -> tuple[list[ase.Atoms], list[ase.Atoms]]:
    """``(isolated_atoms, others)`` of a list of frames, each in the original order."""
    isolated = [a for a in frames if is_isolated_atom(a, keys)]
    others = [a for a in frames if not is_isolated_atom(a, keys)]
    return isolated, others


def e0s_from_isolated_atoms(
    source: str | Path | Sequence[ase.Atoms], keys: KeySpec = KeySpec()
) -> dict[int, float]:
    """Reference energy of each element from its isolated-atom frames.

    Parameters
    ----------
    source : path or sequence of ase.Atoms
        A file (e.g. ``isolated_atoms.xyz``) or frames; frames that are not isolated atoms
        (see :func:`is_isolated_atom`) are ignored.
    keys : KeySpec

    Returns
    -------
    dict[int, float]
        Atomic number -> E0 in eV.

    Raises
    ------
    ValueError
        If there is no isolated atom, one lacks an energy, a frame labelled isolated holds
        several atoms, or one element has two different energies.
    """
    name = str(source) if isinstance(source, (str, Path)) else "frames"
    frames = read_atoms(source, keys) if isinstance(source, (str, Path)) else list(source)
    e0s: dict[int, float] = {}
    for n, atoms in enumerate(frames):
        if not is_isolated_atom(atoms, keys):
            continue
        where = f"{name}, frame {n}"
        if len(atoms) != 1:
            raise ValueError(f"{where}: labelled as an isolated atom but holds {len(atoms)} atoms")
        values, _ = extract_fields(atoms, keys, required=(K.ENERGY,), where=where)
        z, energy = int(atoms.numbers[0]), float(values[K.ENERGY])
        if z in e0s and not np.isclose(e0s[z], energy, rtol=0, atol=1e-8):
            raise ValueError(f"{where}: element {atoms[0].symbol} has two isolated-atom energies, {e0s[z]} and {energy}")
        e0s[z] = energy
    if not e0s:
        raise ValueError(f"{name}: no isolated-atom frames (config_type=isolated_atom or single open atoms)")
    return dict(sorted(e0s.items()))


def fit_e0s(graphs: Sequence[AtomicGraph]) -> dict[int, float]:
    """Least-squares E0 per element: minimise ``sum_g (E_g - sum_Z n_gZ E0_Z)^2``.

    When the compositions do not determine every E0 (e.g. all structures are the same
    molecule) the minimum-norm solution is returned with a warning: energies after
    subtraction are still centred, but the individual E0 values are not physical.

    Parameters
    ----------
    graphs : sequence of AtomicGraph
        Each with ``targets["energy"]``.

    Returns
    -------
    dict[int, float]
        Atomic number -> E0 in eV, for every element present.
    """
    return summarise(graphs, "fit_e0s").fit_e0s()


def reference_energy(graph: AtomicGraph, e0s: dict[int, float]) -> Tensor:
    """``sum_a E0[Z_a]`` of each structure, [num_graphs], float64.

    Kept in float64 because total energies of even small molecules (~1e4 eV) have a float32
    resolution of ~1 meV: subtract it from float64 energies before casting a batch to float32.
    """
    missing = sorted(set(graph.atomic_numbers.tolist()) - set(e0s))
    if missing:
        raise ValueError(
            f"no reference energy (E0) for atomic numbers {missing}; E0s known for {sorted(e0s)}: add those "
            "elements' isolated atoms to data.isolated_atoms_file, or leave that key out to fit every E0 "
            "from the training energies"
        )
    table = torch.zeros(max(e0s) + 1, dtype=torch.float64)
    table[list(e0s)] = torch.tensor(list(e0s.values()), dtype=torch.float64)
    per_atom = table[graph.atomic_numbers]
    total = torch.zeros(graph.num_graphs, dtype=torch.float64).index_add_(0, graph.batch, per_atom)
    return total


@dataclass(frozen=True)
class DatasetStatistics:
    """Normalisation constants of a training set.

    Attributes
    ----------
    num_graphs, num_atoms : int
    elements : tuple[int, ...]
        Sorted atomic numbers present.
    energy_shift : float
        Mean over structures of ``(E - sum E0) / N`` (eV/atom): the per-atom offset a model
        adds (with isolated-atom E0s weighted by each atom's neighbour occupancy, so that a
        lone atom keeps its E0: :func:`irreps.nn.neighbour_occupancy`).
    energy_per_atom_std : float
        Standard deviation of the same quantity (eV/atom).
    forces_rms : float or None
        Root mean square of all force components (eV/Å): the usual output scale; ``None``
        without forces.
    avg_num_neighbors : float
        Edges per atom at the graphs' cutoff, used to normalise message sums.
    shortest_distances : dict[tuple[int, int], float]
        ``(z_i, z_j)`` with ``z_i <= z_j`` -> the shortest distance (Å) between two such atoms
        (:func:`shortest_distances`): below it a model extrapolates.
    """

    num_graphs: int
    num_atoms: int
    elements: tuple[int, ...]
    energy_shift: float
    energy_per_atom_std: float
    forces_rms: float | None
    avg_num_neighbors: float
    shortest_distances: dict[tuple[int, int], float]


def compute_statistics(graphs: Sequence[AtomicGraph], e0s: dict[int, float]) -> DatasetStatistics:
    """Scale/shift statistics of ``graphs`` after subtracting the reference energies ``e0s``.

    Every graph needs ``targets["energy"]``; forces are used when every graph has them.
    """
    return summarise(graphs, "compute_statistics").statistics(e0s)


class DatasetSummary:
    """What E0 fits and statistics need, gathered in one pass over a dataset, so a dataset read
    lazily is read once. Memory per structure is 12 bytes (its energy and the index of its
    composition in a table of distinct compositions), not Python objects: a dataset of millions
    of structures summarises in a few tens of MB. Built by :func:`summarise`."""

    def __init__(self, graphs: Iterable[AtomicGraph], caller: str):
        self._energies = _Growing(np.float64)
        self._composition_ids = _Growing(np.int32)
        self._compositions: dict[tuple[tuple[int, int], ...], int] = {}  # ((Z, count), ...) -> id
        self.num_atoms, self.num_edges, self.force_sq, self.force_count = 0, 0, 0.0, 0
        self.with_forces = True
        self._best = torch.full((_PAIRS,), math.inf, dtype=torch.float64)
        for n, graph in enumerate(graphs):
            if K.ENERGY not in graph.targets:
                raise ValueError(f"{caller}: graph {n} has no energy target")
            self._energies.extend(graph.targets[K.ENERGY].double().cpu().numpy().reshape(-1))
            numbers, batch = graph.atomic_numbers.cpu(), graph.batch.cpu()
            for b in range(graph.num_graphs):
                z, c = torch.unique(numbers[batch == b], return_counts=True)
                key = tuple(zip(z.tolist(), c.tolist()))
                self._composition_ids.extend([self._compositions.setdefault(key, len(self._compositions))])
            self.num_atoms += graph.num_atoms
            self.num_edges += graph.num_edges
            self.with_forces = self.with_forces and K.FORCES in graph.targets
            if self.with_forces:
                forces = graph.targets[K.FORCES].double()
                self.force_sq += float((forces**2).sum())
                self.force_count += forces.numel()
            _update_shortest(self._best, graph)
        if not len(self._composition_ids):
            raise ValueError(f"{caller} needs at least one structure")
        self.elements = sorted({z for key in self._compositions for z, _ in key})

    @classmethod
    def join(cls, parts: Sequence["DatasetSummary"]) -> "DatasetSummary":
        """The summary of the concatenation of the datasets ``parts`` summarise, in their order
        (the energies keep that order, so statistics of consecutive parts equal those of one
        pass up to the summation order of the force sum). Used to split the pass across ranks."""
        if not parts:
            raise ValueError("DatasetSummary.join needs at least one part")
        whole = cls.__new__(cls)
        whole._energies, whole._composition_ids = _Growing(np.float64), _Growing(np.int32)
        whole._compositions = {}
        whole.num_atoms, whole.num_edges, whole.force_sq, whole.force_count = 0, 0, 0.0, 0
        whole.with_forces = all(part.with_forces for part in parts)
        whole._best = torch.full((_PAIRS,), math.inf, dtype=torch.float64)
        for part in parts:
            # this part's composition ids -> ids in the joined table
            remap = np.empty(len(part._compositions), dtype=np.int32)
            for key, old in part._compositions.items():
                remap[old] = whole._compositions.setdefault(key, len(whole._compositions))
            whole._energies.extend(part._energies.array())
            whole._composition_ids.extend(remap[part._composition_ids.array()])
            whole.num_atoms += part.num_atoms
            whole.num_edges += part.num_edges
            whole.force_sq += part.force_sq
            whole.force_count += part.force_count
            whole._best = torch.minimum(whole._best, part._best)
        whole.elements = sorted({z for key in whole._compositions for z, _ in key})
        return whole

    def _composition_matrix(self) -> np.ndarray:
        """Element counts of each distinct composition, [compositions, elements]."""
        column = {z: k for k, z in enumerate(self.elements)}
        matrix = np.zeros((len(self._compositions), len(self.elements)))
        for key, row in self._compositions.items():
            for z, c in key:
                matrix[row, column[z]] = c
        return matrix

    def fit_e0s(self) -> dict[int, float]:
        """The least-squares E0s (see :func:`fit_e0s`).

        Structures of one composition share a row of the design matrix, so the fit is the
        same as a weighted fit of each composition's mean energy (weight: its number of
        structures): the same normal equations, hence the same minimum-norm solution.
        """
        ids, energies = self._composition_ids.array(), self._energies.array()
        sizes = np.bincount(ids, minlength=len(self._compositions)).astype(np.float64)
        means = np.bincount(ids, weights=energies, minlength=len(self._compositions)) / sizes
        weights = np.sqrt(sizes)
        matrix = self._composition_matrix()
        solution, _, rank, _ = np.linalg.lstsq(matrix * weights[:, None], means * weights, rcond=None)
        if rank < len(self.elements):
            warnings.warn(
                f"fit_e0s: element counts have rank {rank} < {len(self.elements)} elements; E0s are the "
                "minimum-norm least-squares solution (use an isolated-atoms file for physical values)",
                stacklevel=3,
            )
        return {z: float(e) for z, e in zip(self.elements, solution)}

    def statistics(self, e0s: dict[int, float]) -> DatasetStatistics:
        """The statistics after subtracting ``e0s`` (see :class:`DatasetStatistics`)."""
        missing = sorted(set(self.elements) - set(e0s))
        if missing:
            raise ValueError(f"no reference energy (E0) for atomic numbers {missing}; E0s known for {sorted(e0s)}")
        matrix = torch.as_tensor(self._composition_matrix())
        reference = matrix @ torch.tensor([e0s[z] for z in self.elements], dtype=torch.float64)
        ids = torch.as_tensor(self._composition_ids.array(), dtype=torch.int64)
        per_atom = (torch.as_tensor(self._energies.array()) - reference[ids]) / matrix.sum(dim=1)[ids]
        found = torch.isfinite(self._best).nonzero().flatten().tolist()
        return DatasetStatistics(
            num_graphs=int(per_atom.numel()),
            num_atoms=self.num_atoms,
            elements=tuple(self.elements),
            energy_shift=float(per_atom.mean()),
            energy_per_atom_std=float(per_atom.std(unbiased=False)),
            forces_rms=float(np.sqrt(self.force_sq / self.force_count)) if self.with_forces and self.force_count else None,
            avg_num_neighbors=self.num_edges / self.num_atoms,
            shortest_distances={(k // _SIZE, k % _SIZE): float(self._best[k]) for k in found},
        )


class _Growing:
    """A 1-D numpy array appended to in amortised O(1), stored contiguously (no per-item objects)."""

    def __init__(self, dtype: type) -> None:
        self._data, self._size = np.empty(1024, dtype=dtype), 0

    def extend(self, values: Sequence[float] | np.ndarray) -> None:
        values = np.asarray(values, dtype=self._data.dtype)
        if self._size + len(values) > len(self._data):
            self._data = np.resize(self._data, max(2 * len(self._data), self._size + len(values)))
        self._data[self._size : self._size + len(values)] = values
        self._size += len(values)

    def array(self) -> np.ndarray:
        return self._data[: self._size]

    def __len__(self) -> int:
        return self._size


def summarise(graphs: Iterable[AtomicGraph], caller: str = "summarise") -> DatasetSummary:
    """One pass over ``graphs`` (each with an energy) for :meth:`DatasetSummary.fit_e0s` and
    :meth:`DatasetSummary.statistics`; ``caller`` names the function in error messages."""
    return DatasetSummary(graphs, caller)


def shortest_distances(graphs: Sequence[AtomicGraph]) -> dict[tuple[int, int], float]:
    """The shortest distance of each element pair over the edges of ``graphs``.

    Returns ``{(z_i, z_j): distance}`` with ``z_i <= z_j`` (Å); pairs never within the graphs'
    cutoff of each other are absent.
    """
    best = torch.full((_PAIRS,), math.inf, dtype=torch.float64)
    for graph in graphs:
        _update_shortest(best, graph)
    found = torch.isfinite(best).nonzero().flatten().tolist()
    return {(k // _SIZE, k % _SIZE): float(best[k]) for k in found}


def _update_shortest(best: Tensor, graph: AtomicGraph) -> None:
    """Lower ``best`` (flat [z_i * size + z_j] table) to the edge lengths of ``graph``."""
    i, j = graph.edge_index.cpu()
    vectors = (graph.positions[j] - graph.positions[i] + graph.shifts).cpu().double()
    numbers = graph.atomic_numbers.cpu()
    pair = torch.minimum(numbers[i], numbers[j]) * _SIZE + torch.maximum(numbers[i], numbers[j])
    best.scatter_reduce_(0, pair, torch.linalg.vector_norm(vectors, dim=1), reduce="amin")
