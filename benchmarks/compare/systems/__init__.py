"""The systems the benchmark compares, one module each, registered by name in :data:`SYSTEMS`.

A module here must import nothing beyond the standard library at module level: the evaluation
worker imports it inside the peer's own virtualenv, where only that peer, numpy and ASE exist.
Modules are imported on first use (:func:`get_system`), so one peer's module never needs
another peer's packages.
"""

from __future__ import annotations

import importlib

from .base import Job, System

# name -> "module:class" under this package
SYSTEMS: dict[str, str] = {
    "irreps": "ours:Ours",
    "irreps-equiformer_v2": "ours:OursEquiformerV2",
    "irreps-escn": "ours:OursESCN",
    "irreps-gaunt_ace": "ours:OursGauntACE",
    "irreps-tfn": "ours:OursTFN",
    "irreps-se3_transformer": "ours:OursSE3Transformer",
    "mace": "mace:MACE",
    "nequip": "nequip:NequIP",
    "allegro": "nequip:Allegro",
    "torchmd-net": "torchmdnet:TorchMDNet",
}


def get_system(name: str) -> System:
    """The system registered as ``name``."""
    if name not in SYSTEMS:
        raise ValueError(f"unknown system {name!r}; known: {', '.join(SYSTEMS)}")
    module, cls = SYSTEMS[name].split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)()


__all__ = ["SYSTEMS", "Job", "System", "get_system"]
