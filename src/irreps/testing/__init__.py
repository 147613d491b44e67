"""Public test helpers: numerical equivariance checks others reuse in their tests."""

from irreps.testing.equivariance import assert_equivariant, assert_equivariant_positions

__all__ = ["assert_equivariant", "assert_equivariant_positions"]
