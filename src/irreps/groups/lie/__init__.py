"""Equivariant layers for the non-compact groups GL+(n) and SL(n) by their polar decomposition
(Mironenco & Forré, ICLR 2024), with Monte-Carlo integration over Haar-weighted samples.

- `MatrixLieGroup`: membership, the global chart ``g = exp(X) R``, Haar-weighted sampling;
  `polar`, `haar_log_density`, `GroupSamples`.
- `AffineLiftingConv`, `AffineGroupConv`: image layers equivariant to ``R^2 x| GL+(2)`` or
  ``R^2 x| SL(2)`` (exactly when the samples move with the image, in expectation otherwise).
- `AffineGCNN`: an affine-invariant classifier built from them.
"""

from .decomposition import GroupSamples, MatrixLieGroup, exp_symmetric, haar_log_density, polar, symmetric_basis
from .layers import AffineGroupConv, AffineLiftingConv
from .model import AffineGCNN

__all__ = ["AffineGCNN", "AffineGroupConv", "AffineLiftingConv", "GroupSamples", "MatrixLieGroup", "exp_symmetric",
           "haar_log_density", "polar", "symmetric_basis"]
