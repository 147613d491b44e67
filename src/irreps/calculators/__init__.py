"""ASE calculators running irreps models (never imports the trainer)."""

from irreps.calculators.ase_calculator import IrrepsCalculator
from irreps.calculators.limits import StructureLimits, UnphysicalStructure

__all__ = ["IrrepsCalculator", "StructureLimits", "UnphysicalStructure"]
