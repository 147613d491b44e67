"""General groups: exact equivariant layers from partition and Brauer diagrams, frame averaging,
and deep weight-space layers. Imports nothing else from irreps.

The main entry points:

- `hom_basis`, `spanning_set`, `hom_dimension`: diagram bases of Hom_G((R^n)^{⊗k}, (R^n)^{⊗l})
  for G in S_n, A_n, O(n), SO(n), Sp(n) and their dimensions.
- `EquivariantLinear`: the layer with one coefficient per basis element, applied by the fast
  diagram algorithm.
"""

from .basis import HomBasis, hom_basis, spanning_set
from .counting import hom_dimension
from .diagrams import Diagram
from .layer import EquivariantLinear

__all__ = ["Diagram", "EquivariantLinear", "HomBasis", "hom_basis", "hom_dimension", "spanning_set"]
