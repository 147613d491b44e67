"""Running irreps models inside other simulation engines (LAMMPS, i-PI, ...).

The adapters here are thin: they translate an engine's atoms, box and units to what
:class:`irreps.calculators.IrrepsCalculator` takes and its results back. They never import the
trainer, and each engine's package is imported only when its adapter is used (optional extras).
"""
