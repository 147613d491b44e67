"""``export_model``: one entry point for every format, from a model file or a built model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import torch

from irreps.models.file import load_model
from irreps.nn.potential import EnergyModel


def _torchscript(model, path, dtype):
    from irreps.export.torchscript import export_torchscript

    return export_torchscript(model, path, dtype)


def _metatomic(model, path, dtype):
    from irreps.export.metatomic import export_metatomic

    return export_metatomic(model, path, dtype)


def _aotinductor(model, path, dtype):
    from irreps.export.aotinductor import export_aotinductor

    return export_aotinductor(model, path, dtype)


# format -> (writer, what the artefact is, usual file suffix)
FORMATS: dict[str, tuple[Callable[[EnergyModel, Path, str], Path], str, str]] = {
    "metatomic": (_metatomic, "metatomic AtomisticModel (ASE, LAMMPS pair_style metatomic, i-PI, TorchSim)", ".pt"),
    "torchscript": (_torchscript, "TorchScript module for torch.jit.load (OpenMM TorchForce, C++)", ".pt"),
    "aotinductor": (_aotinductor, "AOTInductor package for torch._inductor.aoti_load_package", ".pt2"),
}


def export_model(model: str | os.PathLike | torch.nn.Module, path: str | os.PathLike, fmt: str,
                 dtype: str = "float32", overwrite: bool = False) -> Path:
    """Write ``model`` (a model file or a built model) as a ``fmt`` artefact at ``path``.

    ``ValueError`` for an unknown format or dtype, a model that is not an energy model, or one
    the format cannot hold (the message says why); ``FileExistsError`` if ``path`` exists and
    not ``overwrite``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (irreps export --force) or choose another path")
    if not isinstance(model, torch.nn.Module):
        model = load_model(model)
    if not isinstance(model, EnergyModel):
        raise ValueError(f"{type(model).__name__} is not an interatomic potential (irreps.nn.EnergyModel); "
                         "only potentials can be exported")
    writer, _, _ = FORMATS[fmt]
    return writer(model, path, dtype)
