"""Fixed (unlearned) descriptors of atomistic structures for kernel and baseline models.

- `polyatomic_complex`, `polyatomic_complex_features`: polyatomic complexes (Khorana et al.),
  following the published code's "fast" representation (composition only).
- `coulomb_matrix`, `coulomb_descriptor`, `coulomb_features`: Coulomb matrices, sorted or as
  eigenvalue spectra.

Imports nothing else from irreps (torch, numpy, ase).
"""

from .coulomb_matrix import coulomb_descriptor, coulomb_features, coulomb_matrix
from .polyatomic_complex import atomic_complex, polyatomic_complex, polyatomic_complex_features

__all__ = ["atomic_complex", "coulomb_descriptor", "coulomb_features", "coulomb_matrix", "polyatomic_complex",
           "polyatomic_complex_features"]
