"""Artefacts for other engines: TorchScript, metatomic, AOTInductor (see docs/export.md).

Every format records the same function of a model, atomic energies from the edge vectors of a
full neighbour list (:mod:`irreps.export.core`), and checks the artefact against the model
before writing it (:mod:`irreps.export.checks`). Nothing here imports ``irreps.train``.
"""

from irreps.export.formats import FORMATS, export_model

__all__ = ["FORMATS", "export_model"]
