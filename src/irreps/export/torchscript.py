"""TorchScript export: one ``.pt`` file that ``torch.jit.load`` runs without irreps.

The file holds :class:`~irreps.export.potential.ExportedPotential` compiled with
``torch.jit.script`` around the recorded node-energy function, and a ``metadata.json`` extra
file with what :func:`declared_metadata` lists (read it with
``torch.jit.load(path, _extra_files={"metadata.json": ""})``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

import irreps
from irreps.export.checks import check_artefact
from irreps.export.core import trace_node_energy
from irreps.export.potential import ExportedPotential
from irreps.io import atomic_path
from irreps.nn.potential import EnergyModel

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def declared_metadata(model: EnergyModel, dtype: str) -> dict[str, Any]:
    """What an artefact declares: units, elements, cutoff, interaction range, dtype, provenance."""
    hops = getattr(model, "interaction_hops", None)
    if hops is None:
        raise ValueError(f"{type(model).__name__} does not declare interaction_hops, so its interaction range "
                         "(the ghost-atom depth engines need) is unknown; it cannot be exported")
    return {
        "model_name": getattr(model, "model_name", type(model).__name__),
        "library": f"irreps {irreps.__version__}",
        "length_unit": "angstrom",
        "energy_unit": "eV",
        "elements": [int(z) for z in model.elements],
        "cutoff": float(model.cutoff),
        "interaction_range": float(hops * model.cutoff),
        "dtype": dtype,
        "neighbor_list": "full list (i->j and j->i) with integer cell shifts, r_ij = pos[j] - pos[i] + "
                         "cell_shifts @ cell; pairs beyond the cutoff contribute exactly zero",
    }


def scripted_potential(model: EnergyModel, dtype: str) -> torch.jit.ScriptModule:
    """The checked TorchScript :class:`ExportedPotential` of ``model`` in ``dtype``."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    meta = declared_metadata(model, dtype)
    model = model.to(dtype=DTYPES[dtype]).eval()
    core = trace_node_energy(model, DTYPES[dtype])
    module = torch.jit.script(ExportedPotential(core, meta["elements"], meta["cutoff"], meta["interaction_range"],
                                                dtype, meta["model_name"]))

    def run(positions, numbers, cell, pbc, edge_index, cell_shifts):
        out = module(positions, numbers, cell, pbc, edge_index, cell_shifts)
        return out["energy"], out["forces"]

    check_artefact(model, run, DTYPES[dtype], "TorchScript")
    return module


def export_torchscript(model: EnergyModel, path: str | os.PathLike, dtype: str = "float32") -> Path:
    """Write the TorchScript artefact of ``model`` to ``path`` (atomically); returns the path."""
    module = scripted_potential(model, dtype)
    extra = {"metadata.json": json.dumps(declared_metadata(model, dtype), indent=1)}
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.jit.save(module, str(tmp), _extra_files=extra)
    return path
