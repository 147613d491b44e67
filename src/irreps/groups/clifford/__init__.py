"""Clifford-algebra equivariant layers: the algebra Cl(p, q, r), CGENN and GLGENN layers.

- `CliffordAlgebra`: products (geometric, outer, inner) from computed blade tables, grade
  projections, involutions, the extended quadratic form, versors and their twisted conjugation.
- `random_pseudo_orthogonal`, `outermorphism`, `versor_matrix`: group elements and their action
  on multivectors.
- `MultivectorLinear`, `GeometricProductLayer`, `MultivectorNormalization`, `MultivectorGate`:
  O(p, q)-equivariant layers; ``sharing="grade"`` is CGENN, ``sharing="quaternion"`` GLGENN.
- `CliffordRegressor`: the invariant regressor of the O(5) experiments.
"""

from .algebra import CliffordAlgebra
from .layers import GeometricProductLayer, MultivectorGate, MultivectorLinear, MultivectorNormalization, blade_blocks
from .models import CliffordRegressor
from .transforms import metric_matrix, outermorphism, random_pseudo_orthogonal, versor_matrix

__all__ = [
    "CliffordAlgebra", "CliffordRegressor", "GeometricProductLayer", "MultivectorGate", "MultivectorLinear",
    "MultivectorNormalization", "blade_blocks", "metric_matrix", "outermorphism", "random_pseudo_orthogonal",
    "versor_matrix",
]
