"""ASE calculators running irreps models (never imports the trainer)."""

from irreps.calculators.ase_calculator import IrrepsCalculator, autograd_hessian

__all__ = ["IrrepsCalculator", "autograd_hessian"]
