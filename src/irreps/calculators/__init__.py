"""calculators layer."""
