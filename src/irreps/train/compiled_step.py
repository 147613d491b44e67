"""A training step captured once and compiled: energy, forces, loss and parameter gradients.

Fitting forces differentiates twice (``F = -dE/dx``, then the loss by the weights). In eager
PyTorch on a CPU that is thousands of small kernels per step, and for molecules of tens of
atoms their launch overhead, not arithmetic, sets the pace. :class:`CompiledStep` records the
whole step, both backward passes included, as one graph of tensor ops with ``make_fx`` and
hands it to inductor (:func:`irreps.nn.recording.compile_program`), which fuses the
elementwise chains into a few loops.

Sizes that change from batch to batch (atoms, edges, reverse pairs, structures) are symbolic
in the recording and dynamic in the compiled program, so one capture serves every batch.
What cannot be recorded with symbolic sizes (looking up elements, pairing reverse edges,
finding the species present) the model computes eagerly in ``graph_indices`` and the step
passes in. A capture is made per dtype, set of loss terms and set of index names, and per
pattern of sizes that are 0 or 1 (the tracer fixes those: a batch of one structure gets its
own program).

Parameters and floating-point buffers (E0s, scale, shift: numbers that depend on the training
data) are inputs of the recorded graph, not constants in it, so the program of a model is
the same for every split and dataset with the same elements: the program store
(:mod:`irreps.nn.program_store`, ``$IRREPS_COMPILE_CACHE``) keeps it, and a second run loads
it, checked against one eager step, without recording or compiling again.

Each loss term is its sum of penalties times a scale given as an input: ``1 / entries`` in one
process (the mean, as in eager training); in a data-parallel run ``1 / entries of the whole
batch``, so that the ranks' gradients add up to the whole batch's
(:mod:`irreps.train.distributed`, which hands them to DDP with :meth:`CompiledStep.gradients`).

Models opt in by defining ``graph_indices(graph)`` and accepting ``indices=`` in
``atomic_outputs`` (TensorNet does). Loss terms: energy and forces.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

import torch
from torch import Tensor

from irreps.data.graph import AtomicGraph
from irreps.nn.recording import atomic_outputs_with, compile_program, record, small_sizes, weight_names
from irreps.nn.potential import EnergyModel
from irreps.nn.program_store import fingerprint, load_checked
from irreps.nn.readout import sum_per_structure
from irreps.train.losses import WeightedLoss

SUPPORTED_TERMS = ("energy", "forces")


class CompiledStep:
    """``step(graph) -> (total, terms)`` with gradients left in ``.grad``, like ``loss.backward()``.

    Parameters
    ----------
    model : EnergyModel
        A model with ``graph_indices`` (see the module docstring); it is not modified.
    loss : WeightedLoss
        Energy and force terms only (no direct forces).
    backend : str
        ``torch.compile`` backend; ``"eager"`` runs the recorded graph as it is, without
        ``torch.compile`` (for checks: no compilation time).
    """

    def __init__(self, model: EnergyModel, loss: WeightedLoss, backend: str = "inductor"):
        if not hasattr(model, "graph_indices"):
            raise ValueError(f"{type(model).__name__} does not support run.compile (it has no graph_indices)")
        unsupported = sorted(set(loss.weights) - set(SUPPORTED_TERMS))
        if unsupported or loss.direct_forces:
            terms = unsupported or ["direct forces"]
            raise ValueError(f"run.compile supports energy and force losses only, not {', '.join(terms)}")
        self.model = model
        self.loss = loss
        self.backend = backend
        self.names, self.buffer_names = weight_names(model, trainable_only=True)
        self._programs: dict[tuple, Callable[..., Any]] = {}

    def _function(self, index_names: tuple[str, ...], target_names: tuple[str, ...], template: AtomicGraph):
        """The step as a function of flat tensors (what gets recorded)."""
        loss, names = self.loss, self.names + self.buffer_names

        def step(params, buffers, scales, positions, shifts, edge_index, batch, atomic_numbers, cell, pbc, targets, indices):
            graph = replace(
                template, positions=positions, shifts=shifts, edge_index=edge_index, batch=batch,
                atomic_numbers=atomic_numbers, cell=cell, pbc=pbc, num_graphs=cell.shape[0],
                targets=dict(zip(target_names, targets)),
            )
            leaf = positions.detach().requires_grad_(True)
            out = atomic_outputs_with(self.model, dict(zip(names, [*params, *buffers])), graph, leaf, shifts,
                                      dict(zip(index_names, indices)))
            out["energy"] = sum_per_structure(out["node_energy"], batch, graph.num_graphs)
            if "forces" in loss.weights:
                out["forces"] = -torch.autograd.grad(out["energy"].sum(), leaf, create_graph=True)[0]
            sums, _ = loss.sums(out, graph)
            terms = {k: value * scale for (k, value), scale in zip(sums.items(), scales[0])}
            total = loss.total(terms)
            grads = torch.autograd.grad(total, params, allow_unused=True)
            grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
            return total, [terms[k] for k in loss.weights], grads

        return step

    def _capture(self, key: tuple, args: tuple, template: AtomicGraph) -> Callable[..., Any]:
        function = self._function(key[0], key[1], template)
        # the recording differentiates by the parameters; the compiled program does not (it is
        # compiled for inputs without grad, as it is called)
        recording_args = ([p.detach().requires_grad_(True) for p in args[0]], *args[1:])
        stored = None
        if self.backend == "inductor":
            loss = (sorted(self.loss.weights.items()), self.loss.kind, self.loss.huber_delta)
            stored = fingerprint(self.model, ("training step", *key, loss), args[3].device)
            program = load_checked(stored, function, recording_args, "the training step")
            if program is not None:
                return program
        # One eager evaluation first: constants that ops build lazily and cache (per dtype and
        # device) must be created as real tensors, not inside the recording.
        with torch.no_grad():
            self.model(template, compute_forces=False)
        program = record(function, recording_args, num_weights=3, what="the training step")
        return compile_program(program, self.backend, args, stored)

    def counts(self, graph: AtomicGraph) -> list[int]:
        """The number of entries of each loss term (in ``loss.weights``' order) in ``graph``."""
        missing = [k for k in self.loss.weights if k not in graph.targets]
        if missing:
            raise ValueError(f"loss term(s) {', '.join(missing)} weighted but the data has no such values")
        return [graph.targets[k].numel() for k in self.loss.weights]

    def gradients(
        self, graph: AtomicGraph, scales: Tensor | None = None
    ) -> tuple[Tensor, dict[str, Tensor], list[Tensor]]:
        """The loss, its terms and the gradients of the trainable parameters (in ``names``' order,
        zeros where one does not reach the loss); ``.grad`` is left alone. Term ``k`` is the sum
        of its penalties times ``scales[k]`` (one entry per term of ``loss.weights``; ``None``:
        one over the term's entries in ``graph``, the mean)."""
        if not torch.isfinite(graph.positions).all():
            raise ValueError("graph positions contain NaN or infinite values")
        targets = tuple(self.loss.weights)
        counts = self.counts(graph)
        scales = 1.0 / torch.tensor(counts, dtype=torch.float64) if scales is None else scales
        if scales.shape != (len(targets),):
            raise ValueError(f"scales must have one entry per loss term {targets}, got shape {tuple(scales.shape)}")
        indices = self.model.graph_indices(graph)
        parameters = dict(self.model.named_parameters())
        buffers = dict(self.model.named_buffers())
        args = (
            [parameters[name].detach() for name in self.names], [buffers[name] for name in self.buffer_names],
            [scales.to(device=graph.positions.device, dtype=torch.float64)],
            graph.positions, graph.shifts, graph.edge_index, graph.batch, graph.atomic_numbers, graph.cell, graph.pbc,
            [graph.targets[k] for k in targets], list(indices.values()),
        )
        small = small_sizes(list(args[3:10]) + args[10] + args[11])  # sizes 0 and 1 are fixed when recorded
        key = (tuple(indices), targets, graph.positions.dtype, graph.positions.device.type, small)
        if key not in self._programs:
            self._programs[key] = self._capture(key, args, graph)
        with torch.no_grad():
            total, terms, grads = self._programs[key](*args)
        return total, dict(zip(targets, terms)), list(grads)

    def __call__(self, graph: AtomicGraph) -> tuple[Tensor, dict[str, Tensor]]:
        total, terms, grads = self.gradients(graph)
        parameters = dict(self.model.named_parameters())
        for name, g in zip(self.names, grads):
            p = parameters[name]
            p.grad = g if p.grad is None else p.grad + g
        return total, terms
