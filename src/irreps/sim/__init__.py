"""Simulation workflows with an ASE calculator: MD, relaxation, vibrations, saddle searches, NEB."""

from irreps.sim.md import MDConfig, MDResult, run_md
from irreps.sim.neb import NEBConfig, NEBResult, run_neb
from irreps.sim.relax import RelaxConfig, RelaxResult, relax
from irreps.sim.ts import TSConfig, TSResult, find_saddle
from irreps.sim.vib import VibrationalModes, harmonic_analysis, vibrate, write_modes

__all__ = [
    "MDConfig", "MDResult", "NEBConfig", "NEBResult", "RelaxConfig", "RelaxResult", "TSConfig", "TSResult",
    "VibrationalModes", "find_saddle", "harmonic_analysis", "relax", "run_md", "run_neb", "vibrate", "write_modes",
]
