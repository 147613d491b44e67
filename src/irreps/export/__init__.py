"""Running irreps models in other engines (see docs/export.md and docs/engines_lammps_ipi.md).

Two routes. Artefacts (``irreps export``): every format records the same function of a model,
atomic energies from the edge vectors of a full neighbour list (:mod:`irreps.export.core`), for
TorchScript, metatomic and AOTInductor, and checks the artefact against the model before writing
it (:mod:`irreps.export.checks`). Adapters: thin couplings that drive
:class:`irreps.calculators.IrrepsCalculator` from an engine (LAMMPS ``fix external``, the i-PI
socket client). Nothing here imports ``irreps.train``; each engine's package is imported only
when its adapter or format is used (optional extras).
"""

from irreps.export.formats import FORMATS, export_model

__all__ = ["FORMATS", "export_model"]
