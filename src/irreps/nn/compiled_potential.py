"""``CompiledPotential``: energy, forces and stress of an ``EnergyModel`` as one compiled program.

The eager model (``model(graph, compute_forces=True)``) stays the reference; this is a faster
path with the same weights for inference (the ASE calculator's ``compile=True``, ``irreps md
--compile``). The energy, its backward pass to the positions (and to the strain, for stress)
are recorded once as one graph (:func:`irreps.nn.recording.record`) and compiled by
inductor, with atoms, edges and structures symbolic: structures of other sizes and
neighbour lists rebuilt during MD reuse the program. A new program is recorded only for a new
dtype or device, with or without stress, and when a size crosses 0, 1 or 2
(:func:`~irreps.nn.recording.small_sizes`); ``num_recordings`` counts them. Compiled programs
are kept on disk by architecture (:mod:`irreps.nn.program_store`): another process, or another
model file of the same architecture, loads them in seconds.

What needs data-dependent sizes (TensorNet's ``graph_indices``: element rows, reverse-edge
pairing) is computed eagerly and passed in; it is kept while the neighbour list, shifts and
atomic numbers are the same tensors, unmodified (the calculator's list between rebuilds).
The checks the recording cannot make (finite positions, known elements, a cell for stress)
run eagerly before every call. A model whose code cannot be recorded with symbolic sizes
raises :class:`NotCompilable` (a ``ValueError``) naming the reason at its first call.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

import torch
from torch import Tensor

from irreps.data.graph import AtomicGraph
from irreps.nn.recording import atomic_outputs_with, compile_program, record, small_sizes, weight_names
from irreps.nn.derivatives import strained_inputs
from irreps.nn.potential import EnergyModel
from irreps.nn.program_store import fingerprint, load_checked
from irreps.nn.readout import sum_per_structure


class NotCompilable(ValueError):
    """The model's energy and forces cannot be recorded or compiled; the message says why."""


class CompiledPotential:
    """``potential(graph, compute_stress=False) -> {"energy" [G], "node_energy" [N], "forces"
    [N, 3], "stress" [G, 3, 3] (when asked)}``, the eager model's values to rounding.

    Parameters
    ----------
    model : EnergyModel
        Evaluated in its current mode and with its current weights at every call (weights are
        inputs of the program, so changing them needs no new recording).
    backend : str
        ``torch.compile`` backend; ``"eager"`` runs the recording without compiling it (checks).
    """

    def __init__(self, model: EnergyModel, backend: str = "inductor"):
        if not isinstance(model, EnergyModel):
            raise ValueError(f"{type(model).__name__} is not an energy model (irreps.nn.EnergyModel); "
                             "only interatomic potentials can be compiled")
        self.model = model
        self.backend = backend
        self.names, self.buffer_names = weight_names(model)
        # Each weight as (owning module's parameter or buffer dict, attribute name), resolved
        # once: a weight replaced by a new Parameter is read at the next call, and a replaced
        # submodule would be new code the recording cannot run anyway. Looking up by dotted
        # name at every call (get_parameter) cost 3% of an MD step on a 15-atom molecule.
        self._weight_slots = [(model.get_submodule(owner)._parameters, leaf)
                              for owner, _, leaf in (name.rpartition(".") for name in self.names)]
        self._buffer_slots = [(model.get_submodule(owner)._buffers, leaf)
                              for owner, _, leaf in (name.rpartition(".") for name in self.buffer_names)]
        self._programs: dict[tuple, Callable[..., Any]] = {}
        self._indices: tuple[tuple, dict[str, Tensor]] | None = None
        self._failure: NotCompilable | None = None  # raised again at once: no second attempt

    @property
    def num_recordings(self) -> int:
        """How many programs this potential holds (recorded and compiled, or loaded from the
        program store, :mod:`irreps.nn.program_store`)."""
        return len(self._programs)

    def _function(self, index_names: tuple[str, ...] | None, stress: bool, template: AtomicGraph):
        """Energy and its derivatives as a function of flat tensors (what gets recorded)."""
        names = self.names + self.buffer_names

        def energy_and_derivatives(params, buffers, positions, shifts, edge_index, batch, atomic_numbers, cell, pbc,
                                   indices):
            num_graphs = cell.shape[0]
            graph = replace(template, positions=positions, shifts=shifts, edge_index=edge_index, batch=batch,
                            atomic_numbers=atomic_numbers, cell=cell, pbc=pbc, num_graphs=num_graphs)
            strained, strained_shifts, leaf, strain = strained_inputs(
                positions, shifts, batch, edge_index[0], num_graphs, True, stress)
            named = None if index_names is None else dict(zip(index_names, indices))
            out = atomic_outputs_with(self.model, dict(zip(names, [*params, *buffers])), graph, strained,
                                      strained_shifts, named)
            energy = sum_per_structure(out["node_energy"], batch, num_graphs)
            leaves = [leaf, strain] if stress else [leaf]
            grads = torch.autograd.grad(energy.sum(), leaves, allow_unused=True)
            grads = [torch.zeros_like(x) if g is None else g for x, g in zip(leaves, grads)]
            result = [energy, out["node_energy"], -grads[0]]
            if stress:
                result.append(grads[1] / torch.linalg.det(cell).abs()[:, None, None])
            return result

        return energy_and_derivatives

    def _graph_indices(self, graph: AtomicGraph) -> dict[str, Tensor] | None:
        """The model's ``graph_indices``, reused while their inputs are the same, unmodified tensors."""
        if not hasattr(self.model, "graph_indices"):
            return None
        inputs = (graph.edge_index, graph.shifts, graph.atomic_numbers)
        key = tuple((id(t), t._version) for t in inputs)
        if self._indices is None or self._indices[0] != key:
            self._indices = (key, self.model.graph_indices(graph))
        return self._indices[1]

    def _check(self, graph: AtomicGraph, compute_stress: bool) -> None:
        """The checks the recording cannot branch on, run eagerly."""
        if not torch.isfinite(graph.positions).all():
            raise ValueError("graph positions contain NaN or infinite values")
        known = torch.tensor(self.model.elements, device=graph.atomic_numbers.device)
        unknown = ~torch.isin(graph.atomic_numbers, known)
        if bool(unknown.any()):
            found = sorted(set(graph.atomic_numbers[unknown].tolist()))
            raise ValueError(f"atomic number(s) {found} not among the model's elements {list(self.model.elements)}")
        if compute_stress and bool((torch.linalg.det(graph.cell).abs() <= 0).any()):
            raise ValueError("stress requested for a structure without a cell (zero volume)")

    def _compile(self, key: tuple, args: tuple, template: AtomicGraph) -> Callable[..., Any]:
        function = self._function(key[0], key[1], template)
        what = f"{type(self.model).__name__}'s energy and forces"
        stored = None
        if self.backend == "inductor":
            stored = fingerprint(self.model, ("potential", *key), args[2].device)
            program = load_checked(stored, function, args, what)
            if program is not None:
                return program
        # One eager evaluation first: constants that ops build lazily and cache (per dtype and
        # device) must be created as real tensors, not inside the recording.
        with torch.no_grad():
            self.model(template, compute_forces=False)
        try:
            program = record(function, args, num_weights=2, what=what)
        except Exception as err:  # the tracer raises many types; the first line says why
            lines = str(err).strip().splitlines()
            raise NotCompilable(f"{type(self.model).__name__} cannot be compiled (its code cannot be recorded with "
                             f"symbolic sizes): {lines[0] if lines else type(err).__name__}") from err
        return compile_program(program, self.backend, args, stored)

    def __call__(self, graph: AtomicGraph, compute_stress: bool = False) -> dict[str, Tensor]:
        if self._failure is not None:
            raise self._failure
        self._check(graph, compute_stress)
        indices = self._graph_indices(graph)
        index_values = [] if indices is None else list(indices.values())
        args = (
            [slots[leaf].detach() for slots, leaf in self._weight_slots],
            [slots[leaf] for slots, leaf in self._buffer_slots],
            graph.positions, graph.shifts, graph.edge_index, graph.batch, graph.atomic_numbers, graph.cell,
            graph.pbc, index_values,
        )
        small = small_sizes(list(args[2:9]) + index_values)  # sizes 0 and 1 are fixed when recorded
        index_names = None if indices is None else tuple(indices)
        key = (index_names, bool(compute_stress), graph.positions.dtype, graph.positions.device.type, small)
        first = key not in self._programs
        try:
            if first:
                self._programs[key] = self._compile(key, args, graph)
            with torch.no_grad():
                values = self._programs[key](*args)
        except NotCompilable as err:
            self._failure = err
            raise
        except Exception as err:
            if not first:
                raise
            self._programs.pop(key, None)  # say which step failed, and do not try again
            lines = str(err).strip().splitlines()
            self._failure = NotCompilable(f"{self.backend} could not compile {type(self.model).__name__}: "
                                          f"{lines[0] if lines else type(err).__name__}")
            raise self._failure from err
        out = dict(zip(("energy", "node_energy", "forces"), values))
        if compute_stress:
            out["stress"] = values[3]
        return out

