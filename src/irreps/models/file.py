"""Model files: self-contained, safely loadable (``weights_only=True``), never pickled modules.

Layout: ``{format_version, library_version, model_name, model_version, config, state_dict,
metadata}``
where ``config`` is the architecture's config as a plain dict (it holds the elements, E0s and
normalisation a model was built with) and ``metadata`` is free-form provenance (training
data, metrics). Writes are atomic and refuse to overwrite unless asked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import torch

import irreps
from irreps.config import config_to_dict
from irreps.io import atomic_path
from irreps.models.registry import build_model, model_entry

FORMAT_VERSION = 1


def save_model(
    model: torch.nn.Module,
    path: str | os.PathLike,
    metadata: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``model`` to ``path`` atomically; refuse to replace an existing file unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (or choose another path)")
    payload = {
        "format_version": FORMAT_VERSION,
        "library_version": irreps.__version__,
        "model_name": model.model_name,
        "model_version": model.model_version,
        "config": config_to_dict(model.config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metadata": metadata or {},
    }
    atomic_torch_save(payload, path)
    return path


def load_model(
    path: str | os.PathLike,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
    options: Mapping[str, Any] | None = None,
) -> torch.nn.Module:
    """Load a model file written by :func:`save_model`, in eval mode.

    The file is read with ``weights_only=True``: loading never executes pickled code.
    The returned module carries the file's ``metadata`` dict as ``model.metadata``.
    ``options`` replaces config fields the architecture lists as ``evaluation_options`` (e.g. the
    sphere grids of eSCN and EquiformerV2, whose aliasing error finer grids remove); any other
    field raises ``ValueError``, since the weights were trained for it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    payload = read_torch_file(path, "irreps model file")
    _check_layout(path, payload)
    if payload["format_version"] > FORMAT_VERSION:
        raise ValueError(
            f"{path} has format version {payload['format_version']}; this irreps reads up to "
            f"{FORMAT_VERSION}: upgrade irreps"
        )
    saved_version = payload.get("model_version", 1)
    current_version = model_entry(payload["model_name"]).version
    if saved_version != current_version:
        raise ValueError(
            f"{path} holds '{payload['model_name']}' version {saved_version}, but this irreps "
            f"implements version {current_version}: the same weights would compute something "
            "else; retrain the model or use the irreps release that wrote it"
        )
    config = dict(payload["config"])
    if options:
        allowed = model_entry(payload["model_name"]).evaluation_options
        refused = [key for key in options if key not in allowed]
        if refused:
            raise ValueError(f"{path}: '{refused[0]}' cannot change after training; options of "
                             f"'{payload['model_name']}' at evaluation: {', '.join(allowed) or 'none'}")
        config.update(options)
    model = build_model(payload["model_name"], config)
    # Build in the saved precision first, so float64 weights are not rounded through float32.
    saved = [v.dtype for v in payload["state_dict"].values() if v.is_floating_point()]
    if saved:
        model.to(dtype=saved[0])
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:  # missing, unexpected or wrongly shaped weights
        cause = str(err).strip().splitlines()
        raise ValueError(f"{path}: the weights do not fit the model its config describes ({' '.join(cause[:2])})") from err
    model.metadata = dict(payload.get("metadata", {}))
    model.to(device=device, dtype=dtype) if dtype is not None else model.to(device=device)
    return model.eval()


# The entries of a model file and the type of each; the last three may be absent.
_LAYOUT = {"format_version": int, "model_name": str, "config": dict, "state_dict": dict,
           "model_version": int, "library_version": str, "metadata": dict}
_REQUIRED = ("format_version", "model_name", "config", "state_dict")


def _check_layout(path: Path, payload: Any) -> None:
    """``ValueError`` unless ``payload`` has the entries of a model file, each of its type."""
    if not isinstance(payload, dict):
        raise ValueError(f"{path} is not an irreps model file (it holds a {type(payload).__name__}, not a mapping)")
    missing = [k for k in _REQUIRED if k not in payload]
    if missing:
        raise ValueError(f"{path} is not an irreps model file (missing {', '.join(missing)})")
    for key, kind in _LAYOUT.items():
        value = payload.get(key, kind())
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"{path} is not a valid irreps model file: its {key} is a {type(value).__name__}, "
                             f"not a {kind.__name__}")
    for name, value in payload["state_dict"].items():
        if not (isinstance(name, str) and isinstance(value, torch.Tensor)):
            raise ValueError(f"{path} is not a valid irreps model file: state_dict entry {name!r} is not a named tensor")


def read_torch_file(path: Path, what: str) -> Any:
    """``torch.load(path, weights_only=True)`` onto the CPU (no pickled code runs).

    Any failure becomes one line, ``ValueError("{path} is not a readable {what}: {cause}")``,
    with a cause even where torch gives none (an empty file raises a bare ``EOFError``).
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt/unsafe files
        lines = str(err).strip().splitlines()
        cause = "the file is empty (0 bytes)" if path.stat().st_size == 0 else (lines[0] if lines else type(err).__name__)
        raise ValueError(f"{path} is not a readable {what}: {cause}") from err


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` written atomically (:func:`irreps.io.atomic_path`)."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
