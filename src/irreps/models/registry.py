"""Registry of model architectures, so model files name their architecture by a string.

A model class is registered with its frozen config dataclass::

    @register_model("tensornet", TensorNetConfig)
    class TensorNet(torch.nn.Module):
        def __init__(self, config: TensorNetConfig): ...

Every registered model maps an :class:`~irreps.data.graph.AtomicGraph` to a dict of
predictions (``energy`` [num_graphs], ``forces`` [num_atoms, 3], ...) and keeps its config
in ``self.config``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from irreps.config import config_from_dict


@dataclass(frozen=True)
class ModelEntry:
    name: str
    model_cls: type[torch.nn.Module]
    config_cls: type
    version: int
    evaluation_options: tuple[str, ...] = ()


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, config_cls: type, version: int = 1,
                   evaluation_options: tuple[str, ...] = ()) -> Callable[[type], type]:
    """Class decorator adding an architecture to the registry under ``name``.

    ``version`` is the architecture's computational version: bump it whenever a change makes
    the same weights compute something different, so that older model files are refused
    instead of silently predicting nonsense. ``evaluation_options`` are config fields that set a
    numerical resolution, not the network (a sphere grid's points): a trained model may be
    loaded with other values (:func:`~irreps.models.file.load_model`'s ``options``).
    """
    unknown = [f for f in evaluation_options if f not in getattr(config_cls, "__dataclass_fields__", {})]
    if unknown:
        raise ValueError(f"evaluation_options {unknown} are not fields of {config_cls.__name__}")

    def decorate(model_cls: type) -> type:
        if name in _REGISTRY and _REGISTRY[name].model_cls is not model_cls:
            raise ValueError(f"model name '{name}' is already registered")
        _REGISTRY[name] = ModelEntry(name, model_cls, config_cls, version, tuple(evaluation_options))
        model_cls.model_name = name
        model_cls.model_version = version
        return model_cls

    return decorate


def model_entry(name: str) -> ModelEntry:
    """Registry entry of ``name``; a ``ValueError`` lists the known names otherwise."""
    _import_builtin_models()
    if name not in _REGISTRY:
        raise ValueError(f"unknown model '{name}'; known models: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def available_models() -> list[str]:
    """Names of all registered architectures."""
    _import_builtin_models()
    return sorted(_REGISTRY)


def build_model(name: str, config: dict[str, Any] | Any) -> torch.nn.Module:
    """Instantiate architecture ``name`` from a config dataclass or a plain dict."""
    entry = model_entry(name)
    if isinstance(config, dict):
        config = config_from_dict(entry.config_cls, config, where=f"model ({name})")
    return entry.model_cls(config)


def _import_builtin_models() -> None:
    # Importing the package registers every architecture shipped with the library.
    import irreps.models  # noqa: F401
