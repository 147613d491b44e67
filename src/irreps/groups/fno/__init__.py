"""Group-equivariant Fourier neural operators (G-FNO, Helwig et al., ICML 2023) for p4 and p4m.

- `PlanarGroup`: the point group (trivial, C4, D4) of the square grid and its action on scalar,
  pseudoscalar and regular features.
- `GroupSpectralConv`: spectral group convolution (lift / group / project), 2D or 2D+time, on a
  centred, group-closed frequency window with a Hermitian kernel: exactly equivariant.
- `GroupPointwiseConv`: the 1x1 group convolutions (lift / group / project).
- `GFNO`: the full operator; ``group="trivial"`` is the plain FNO baseline.
"""

from .kernels import expand_kernel, field_signs
from .model import GFNO
from .planar import PlanarGroup
from .pointwise import GroupPointwiseConv
from .spectral import GroupSpectralConv

__all__ = ["GFNO", "GroupPointwiseConv", "GroupSpectralConv", "PlanarGroup", "expand_kernel", "field_signs"]
