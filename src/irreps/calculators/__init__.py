"""ASE calculators running irreps models (never imports the trainer)."""

from irreps.calculators.ase_calculator import IrrepsCalculator

__all__ = ["IrrepsCalculator"]
