"""Layers on *sphere features* ``x [N, (L+1)^2, C]``: the coefficient-major layout of eSCN and EquiformerV2.

Coefficient ``k = l^2 + l + m`` holds the real spherical-harmonic component ``(l, m)`` of all ``C``
channels (so every channel is one function on the sphere, parities ``(-1)^l``). In this layout the
rotation of every edge into its own frame is one batched matmul over coefficients, and the
per-``m`` blocks of eSCN's SO(2) convolution are contiguous rows, which is why these models keep
it instead of the library's irreps layout (:func:`to_irreps_layout` converts).

- :class:`EdgeRotation` rotates node features into edge frames (edge along +y) keeping
  ``|m| <= m_max`` in *m-primary* order, and back; one per forward pass, shared by all layers.
- :class:`SO2Linear` is eSCN's SO(2) convolution: per ``m``, a dense map over (degree, channel)
  that commutes with rotations about the edge axis (EquiformerV2's form); :class:`SO2Bottleneck`
  is the original eSCN block, a gated bottleneck of the same symmetry.
- :class:`DegreeLinear` mixes channels with one matrix per degree (bias on ``l = 0``).
- :class:`SphereGrid` samples sphere features on a product grid and projects back;
  :class:`S2Act`, :class:`SeparableS2Act` and :class:`GateAct` are the activations built on it.
- :class:`SphereLayerNorm` and :class:`SphereRMSNorm` are EquiformerV2's ``layer_norm_sh`` and
  ``rms_norm_sh``.
"""

from irreps.ops.sphere.activation import GateAct, S2Act, SeparableS2Act
from irreps.ops.sphere.degree_linear import DegreeLinear
from irreps.ops.sphere.edge_rotation import EdgeFrames, EdgeRotation, m_primary_order
from irreps.ops.sphere.grid import SphereGrid
from irreps.ops.sphere.layout import from_irreps_layout, sphere_irreps, to_irreps_layout, to_rank2_components
from irreps.ops.sphere.norm import SphereLayerNorm, SphereRMSNorm
from irreps.ops.sphere.so2_bottleneck import SO2Bottleneck
from irreps.ops.sphere.so2_linear import SO2Linear

__all__ = [
    "DegreeLinear", "EdgeFrames", "EdgeRotation", "GateAct", "S2Act", "SO2Bottleneck", "SO2Linear", "SeparableS2Act", "SphereGrid",
    "SphereLayerNorm", "SphereRMSNorm", "from_irreps_layout", "m_primary_order", "sphere_irreps",
    "to_irreps_layout", "to_rank2_components",
]
