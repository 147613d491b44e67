"""Evaluating a model on a data set: errors, metrics JSON and parity plot.

Used at the end of a training run and by ``irreps evaluate MODEL DATA``. Evaluation runs in
float64 by default: a model trained in float32 is then measured without the ~1 meV rounding
of float32 total energies of ~1e4 eV (pass ``float32`` to measure float32 inference).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from irreps.data import GraphDataset, GraphLoader
from irreps.models import load_model
from irreps.models.domain import domain_distance_ratio, shortest_distances
from irreps.io import write_atomic
from irreps.train.config import key_spec
from irreps.train.distributed import World
from irreps.train.metrics import ErrorAccumulator
from irreps.train.plots import plot_parity
from irreps.train.prepare import read_structures
from irreps.train.trainer import collect_errors


def evaluate_set(
    model: torch.nn.Module, dataset: GraphDataset, batch_size: int, flags: dict[str, bool] | None = None,
    world: World | None = None,
) -> ErrorAccumulator | None:
    """Errors of ``model`` (switched to eval mode) over every structure of ``dataset``.

    In a data-parallel run (``world``) each rank evaluates its share of every batch of
    ``batch_size`` and rank 0 gets the errors of the whole set (the other ranks ``None``).
    """
    model.eval()
    if world is None:
        return collect_errors(model, GraphLoader(dataset, batch_size), flags)
    errors, error = None, None
    try:
        errors = collect_errors(model, GraphLoader(dataset, batch_size, share=(world.rank, world.size)), flags)
    except Exception as err:  # raised on every rank by World.agree, not left to the gather's timeout
        error = err
    world.agree(error, "evaluating the final model")
    parts = world.gather(errors)
    return ErrorAccumulator.joined(parts) if parts is not None else None


def evaluate_file(
    model_path: str | os.PathLike,
    data: str,
    keys: dict[str, str] | None = None,
    batch_size: int = 32,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
    forces: bool = True,
    allow_close_atoms: bool = False,
    options: dict[str, Any] | None = None,
) -> tuple[ErrorAccumulator, dict[str, Any]]:
    """Errors of a saved model on the structures of ``data`` (a path or ``bundled:NAME``).

    Parameters
    ----------
    keys : dict, optional
        Field -> file key; defaults to the keys the model was trained with (its metadata).
    forces : bool
        Compare forces too (when the file has them).
    allow_close_atoms : bool
        Evaluate structures with overlapping atoms instead of refusing them
        (:func:`~irreps.train.prepare.read_structures`).
    options : dict, optional
        Evaluation options of the model file (:func:`~irreps.models.file.load_model`).

    Returns
    -------
    (ErrorAccumulator, dict)
        The collected errors and their metrics (eV units, see :mod:`irreps.train.metrics`).
    """
    model = load_model(model_path, device=device, dtype=dtype, options=options)
    trained_keys = model.metadata.get("training", {}).get("keys", {})
    spec = key_spec(dict(trained_keys if keys is None else keys), "--key")
    cutoff = float(getattr(model, "cutoff", model.metadata.get("training", {}).get("cutoff", 0.0)))
    if cutoff <= 0.0:
        raise ValueError(f"{model_path}: the model declares no cutoff, cannot build neighbour lists")
    fields = ("energy", "forces") if forces else ("energy",)
    graphs, _ = read_structures(data, cutoff, spec, ("energy",), fields, allow_close_atoms,
                                elements=getattr(model, "elements", None))
    dataset = GraphDataset(graphs).to(device=device, dtype=dtype)
    flags = {"compute_forces": forces, "compute_stress": False}
    errors = evaluate_set(model, dataset, batch_size, flags)
    metrics = errors.result()
    domain = shortest_distances(model)
    if domain is not None:
        metrics["outside_training_domain"] = outside_domain(graphs, domain, cutoff)
    return errors, metrics


def outside_domain(graphs: list, domain: dict[tuple[int, int], float], cutoff: float) -> dict[str, Any]:
    """Frames with a pair closer than the training minimum for its elements, or elements that never
    met in training, within ``cutoff`` (:func:`irreps.models.domain.domain_distance_ratio`)."""
    frames, closest = [], float("inf")
    for index, graph in enumerate(graphs):
        i, j = graph.edge_index
        lengths = (graph.positions[j] - graph.positions[i] + graph.shifts).norm(dim=1)
        inside = lengths < cutoff
        ratio, unseen = domain_distance_ratio(domain, graph.atomic_numbers, graph.edge_index[:, inside], lengths[inside])
        closest = min(closest, ratio)
        if ratio < 1 or unseen:
            frames.append({"frame": index, "distance_ratio": ratio, "unseen_pairs": unseen})
    return {"count": len(frames), "closest_distance_ratio": closest, "frames": frames}


def write_evaluation(errors: ErrorAccumulator, metrics: dict[str, Any], out_dir: Path, name: str, title: str) -> list[Path]:
    """Write ``NAME_metrics.json`` and ``NAME_parity.png`` into ``out_dir``; returns the paths."""
    json_path, png_path = out_dir / f"{name}_metrics.json", out_dir / f"{name}_parity.png"
    write_atomic(json_path, json.dumps({"units": "eV, eV/atom, eV/Å", **metrics}, indent=1))
    plot_parity(errors, png_path, title)
    return [json_path, png_path]
