"""AOTInductor export: a ``.pt2`` package of compiled C++ that runs without Python model code.

NequIP's deployment route since TorchScript's deprecation. ``torch.export`` cannot hold an
autograd call, so the whole computation, energy and its backward pass, is first recorded as
plain aten ops with symbolic sizes (``make_fx``, as :mod:`irreps.train.compiled_step` does),
then exported with dynamic numbers of atoms and edges and compiled by Inductor::

    runner = torch._inductor.aoti_load_package("model.pt2")
    energy, forces, virial, energies = runner(positions, atomic_numbers, cell, edge_index, cell_shifts)

Same inputs and units as the TorchScript artefact (:mod:`irreps.export.potential`) less
``pbc``; always computes the virial. Compiled code cannot raise: atomic numbers the model does
not know make the energy and forces NaN. The package's metadata (``runner.get_metadata()``)
holds what :func:`~irreps.export.torchscript.declared_metadata` lists, as strings.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import Tensor

from irreps.capture import capturing
from irreps.export.checks import Runner, check_artefact, probe_structure, with_neighbours
from irreps.export.core import NodeEnergy
from irreps.export.potential import lookup_table, strained_edge_vectors, zeros_if_none
from irreps.export.torchscript import DTYPES, declared_metadata
from irreps.io import atomic_path
from irreps.nn.potential import EnergyModel


class _EnergyAndDerivatives(torch.nn.Module):
    """``(positions, atomic_numbers, cell, edge_index, cell_shifts) -> (energy, forces, virial, energies)``."""

    def __init__(self, model: EnergyModel):
        super().__init__()
        self.core = NodeEnergy(model)
        self.register_buffer("lookup", lookup_table(list(model.elements)))

    def forward(self, positions: Tensor, atomic_numbers: Tensor, cell: Tensor, edge_index: Tensor,
                cell_shifts: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        rows = self.lookup[atomic_numbers.clamp(0, self.lookup.shape[0] - 1)]
        unknown = (rows < 0) | (atomic_numbers >= self.lookup.shape[0])
        with torch.enable_grad():
            leaf = positions.detach().requires_grad_(True)
            strain = torch.zeros(3, 3, dtype=positions.dtype, device=positions.device, requires_grad=True)
            vectors = strained_edge_vectors(leaf, cell, edge_index, cell_shifts, strain)
            node_energy = self.core(vectors, edge_index, rows.clamp(min=0))
            energy = node_energy.sum()
            grads = [None, None]
            if energy.requires_grad:  # false only for a model without any edge term
                grads = torch.autograd.grad(energy, (leaf, strain), allow_unused=True)
        grad_pos, grad_strain = zeros_if_none(grads[0], leaf), zeros_if_none(grads[1], strain)
        poison = torch.where(unknown.any(), float("nan"), 0.0)
        return energy + poison, -grad_pos + poison, -grad_strain, node_energy


def export_aotinductor(model: EnergyModel, path: str | os.PathLike, dtype: str = "float32") -> Path:
    """Compile ``model`` into an AOTInductor package at ``path`` (``.pt2``); returns the path.

    Takes a minute or more: Inductor generates and compiles C++. ``ValueError`` names the
    cause when the model cannot be recorded with symbolic sizes or exported.
    """
    from torch._inductor import aoti_compile_and_package, aoti_load_package
    from torch.fx.experimental.proxy_tensor import make_fx

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    meta = declared_metadata(model, dtype)
    model = model.to(dtype=DTYPES[dtype]).eval()
    module = _EnergyAndDerivatives(model)
    example = _example(model, DTYPES[dtype])
    # One eager pass first: constants built on first use and cached (basis matrices) are then
    # plain tensors to the recording, not ops that Inductor would have to lower. The check of the
    # uncompiled module refuses a model of more than edge vectors before minutes of compiling.
    module(*example)
    check_artefact(model, _runner(module), DTYPES[dtype], "AOTInductor")
    try:
        with capturing(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            recorded = make_fx(module, tracing_mode="symbolic", _allow_non_fake_inputs=True)(*example)
            atoms, edges = torch.export.Dim("atoms", min=2), torch.export.Dim("edges", min=2)
            program = torch.export.export(recorded, example, dynamic_shapes=(
                {0: atoms}, {0: atoms}, None, {1: edges}, {0: edges}), strict=False)
    except Exception as err:  # recording and export raise many types; the message says why
        lines = str(err).strip().splitlines()
        raise ValueError(f"{type(model).__name__} cannot be exported with torch.export: "
                         f"{lines[0] if lines else type(err).__name__}") from err
    path = Path(path)
    with atomic_path(path) as tmp:
        package = tmp.with_name(tmp.name + ".pt2")  # Inductor reads and writes only *.pt2 names
        try:
            try:
                aoti_compile_and_package(program, package_path=str(package), inductor_configs={
                    "aot_inductor.metadata": {key: str(value) for key, value in meta.items()}})
            except Exception as err:  # Inductor raises its own types; say which step failed
                lines = str(err).strip().splitlines()
                raise ValueError(f"Inductor could not compile {type(model).__name__}: "
                                 f"{lines[0] if lines else type(err).__name__}") from err
            check_artefact(model, _runner(aoti_load_package(str(package))), DTYPES[dtype], "AOTInductor")
            os.replace(package, tmp)
        finally:
            package.unlink(missing_ok=True)
    return path


def _runner(package) -> Runner:
    """``package`` (the module or its compiled form) as the exporter's check calls an artefact."""
    def run(positions, numbers, cell, pbc, edge_index, cell_shifts):
        energy, forces, _, _ = package(positions, numbers, cell, edge_index, cell_shifts)
        return energy.detach(), forces.detach()

    return run


def _example(model: EnergyModel, dtype: torch.dtype) -> tuple[Tensor, ...]:
    """Inputs to record with: 8 atoms of the model's elements, open boundaries (sizes above 1)."""
    structure = probe_structure(model, dtype, seed=3, num_atoms=8, periodic=False)
    edge_index, cell_shifts = with_neighbours(structure, float(model.cutoff))
    return (structure["positions"], structure["atomic_numbers"], structure["cell"], edge_index, cell_shifts)
