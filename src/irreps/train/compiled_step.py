"""A training step captured once and compiled: energy, forces, loss and parameter gradients.

Fitting forces differentiates twice (``F = -dE/dx``, then the loss by the weights). In eager
PyTorch on a CPU that is thousands of small kernels per step, and for molecules of tens of
atoms their launch overhead, not arithmetic, sets the pace. :class:`CompiledStep` records the
whole step, both backward passes included, as one graph of tensor ops with ``make_fx`` and
hands it to ``torch.compile`` (inductor), which fuses the elementwise chains into a few loops.

Sizes that change from batch to batch (atoms, edges, reverse pairs, structures) are symbolic
in the recording and dynamic in the compiled program, so one capture serves every batch.
What cannot be recorded with symbolic sizes (looking up elements, pairing reverse edges,
finding the species present) the model computes eagerly in ``graph_indices`` and the step
passes in. A capture is made per dtype, set of loss terms and set of index names, and per
pattern of sizes that are 0 or 1 (the tracer fixes those: a batch of one structure gets its
own program).

Parameters and floating-point buffers (E0s, scale, shift: numbers that depend on the training
data) are inputs of the recorded graph, not constants in it, so the program of a model is
the same for every split and dataset with the same elements: torch's compile cache
(``TORCHINDUCTOR_CACHE_DIR``, by default a ``torchinductor_<user>`` folder in the system's
temporary directory) then serves a second run without compiling again.

Models opt in by defining ``graph_indices(graph)`` and accepting ``indices=`` in
``atomic_outputs`` (TensorNet does). Loss terms: energy and forces.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

import torch
from torch import Tensor

from irreps.capture import capturing
from irreps.data.graph import AtomicGraph
from irreps.nn.potential import EnergyModel
from irreps.nn.readout import sum_per_structure
from irreps.train.losses import WeightedLoss

SUPPORTED_TERMS = ("energy", "forces")


def _batch_sizes(data: list[Tensor]) -> list:
    """The sizes that change between batches: the first dimension of every data input (the
    second of ``edge_index``), for the step's data inputs in order (``positions``, ``shifts``,
    ``edge_index``, ``batch``, ``atomic_numbers``, ``cell``, ``pbc``, targets, indices)."""
    return [t.shape[1 if k == 2 else 0] for k, t in enumerate(data)]


def _no_constant_sizes(program: torch.fx.GraphModule, num_params: int) -> None:
    """Raise if recording fixed a batch size of 2 or more to the value it had in the recorded
    batch: the program would then be wrong for other batches. The usual cause is model code
    turning a size into a Python ``int`` (``len(tensor)``). Sizes 0 and 1 are always fixed
    by the tracer; they are part of a program's key instead."""
    data = [node.meta["val"] for node in program.graph.nodes if node.op == "placeholder"][num_params:]
    fixed = [str(n) for n in _batch_sizes(data)
             if (n.node.expr.is_number and int(n) > 1 if isinstance(n, torch.SymInt) else n > 1)]
    if fixed:
        raise RuntimeError(f"capturing the training step fixed batch sizes to {fixed}; it cannot be reused")


class _AtomicOutputs(torch.nn.Module):
    """``model.atomic_outputs`` as a module's forward, so ``torch.func.functional_call`` can
    evaluate it with the parameters given as inputs."""

    def __init__(self, model: EnergyModel):
        super().__init__()
        self.model = model

    def forward(self, graph: AtomicGraph, positions: Tensor, shifts: Tensor, indices: dict[str, Tensor]):
        return self.model.atomic_outputs(graph, positions, shifts, False, indices=indices)


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
        self.names = [name for name, p in model.named_parameters() if p.requires_grad]
        self.buffer_names = [name for name, b in model.named_buffers() if b.is_floating_point()]
        self._programs: dict[tuple, Callable[..., Any]] = {}

    def _function(self, index_names: tuple[str, ...], target_names: tuple[str, ...], template: AtomicGraph):
        """The step as a function of flat tensors (what gets recorded)."""
        loss, module = self.loss, _AtomicOutputs(self.model)
        names = [f"model.{name}" for name in self.names + self.buffer_names]

        def step(params, buffers, positions, shifts, edge_index, batch, atomic_numbers, cell, pbc, targets, indices):
            graph = replace(
                template, positions=positions, shifts=shifts, edge_index=edge_index, batch=batch,
                atomic_numbers=atomic_numbers, cell=cell, pbc=pbc, num_graphs=cell.shape[0],
                targets=dict(zip(target_names, targets)),
            )
            leaf = positions.detach().requires_grad_(True)
            out = torch.func.functional_call(
                module, dict(zip(names, [*params, *buffers])), (graph, leaf, shifts, dict(zip(index_names, indices)))
            )
            out["energy"] = sum_per_structure(out["node_energy"], batch, graph.num_graphs)
            if "forces" in loss.weights:
                out["forces"] = -torch.autograd.grad(out["energy"].sum(), leaf, create_graph=True)[0]
            total, terms = loss(out, graph)
            grads = torch.autograd.grad(total, params, allow_unused=True)
            grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
            return total, [terms[k] for k in loss.weights], grads

        return step

    def _capture(self, key: tuple, args: tuple, template: AtomicGraph) -> Callable[..., Any]:
        from torch.fx.experimental import _config as fx_config
        from torch.fx.experimental.proxy_tensor import make_fx

        function = self._function(key[0], key[1], template)
        # One eager evaluation first: constants that ops build lazily and cache (per dtype and
        # device) must be created as real tensors, not inside the recording.
        with torch.no_grad():
            self.model(template, compute_forces=False)
        params = [p.detach().requires_grad_(True) for p in args[0]]
        # Without duck sizing, sizes that happen to be equal in this batch stay distinct symbols.
        with fx_config.patch(use_duck_shape=False), capturing(), torch.enable_grad():
            program = make_fx(function, tracing_mode="symbolic", _allow_non_fake_inputs=True)(params, *args[1:])
        _no_constant_sizes(program, len(params) + len(args[1]))
        if self.backend == "eager":
            return program
        # On the CPU the inductor program is hundreds of small kernels per step; calling them
        # from generated C++ rather than Python takes 3-11% off a step (measured in docs/training.md).
        options = {"cpp_wrapper": True} if self.backend == "inductor" and args[2].device.type == "cpu" else None
        return torch.compile(program, dynamic=True, backend=self.backend, options=options)

    def __call__(self, graph: AtomicGraph) -> tuple[Tensor, dict[str, Tensor]]:
        if not torch.isfinite(graph.positions).all():
            raise ValueError("graph positions contain NaN or infinite values")
        missing = [k for k in self.loss.weights if k not in graph.targets]
        if missing:
            raise ValueError(f"loss term(s) {', '.join(missing)} weighted but the data has no such values")
        indices = self.model.graph_indices(graph)
        targets = tuple(self.loss.weights)
        parameters = dict(self.model.named_parameters())
        params = [parameters[name] for name in self.names]
        buffers = dict(self.model.named_buffers())
        args = (
            [p.detach() for p in params], [buffers[name] for name in self.buffer_names], graph.positions, graph.shifts, graph.edge_index, graph.batch,
            graph.atomic_numbers, graph.cell, graph.pbc, [graph.targets[k] for k in targets], list(indices.values()),
        )
        data = list(args[2:9]) + args[9] + args[10]
        small = tuple(min(n, 2) for n in _batch_sizes(data))  # sizes 0 and 1 are fixed when recorded
        key = (tuple(indices), targets, graph.positions.dtype, graph.positions.device.type, small)
        if key not in self._programs:
            self._programs[key] = self._capture(key, args, graph)
        with torch.no_grad():
            total, terms, grads = self._programs[key](*args)
        for p, g in zip(params, grads):
            p.grad = g if p.grad is None else p.grad + g
        return total, dict(zip(targets, terms))
