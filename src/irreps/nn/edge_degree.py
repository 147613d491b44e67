"""EquiformerV2's edge-degree embedding: initial l > 0 node features from the geometry of the neighbours.

Each edge contributes, in its own frame, ``m = 0`` coefficients of every degree (a radial MLP of the
distance basis and, optionally, the two elements); rotated back these are ``Y_l(r_ij)`` times the
learned radial profile (degrees above ``m_max`` rescaled as EquiformerV2's rotations do). The sum
over a receiver's edges, divided by ``avg_degree`` and weighted by an optional envelope, gives each
atom features of all degrees before the first layer.
"""

from __future__ import annotations

import torch
from torch import Tensor

from irreps.nn.edge_inputs import EdgeInputs
from irreps.nn.mlp import RadialMLP
from irreps.ops.scatter import scatter_sum
from irreps.ops.sphere import EdgeFrames, m_primary_order


class EdgeDegreeEmbedding(torch.nn.Module):
    """``forward(D, basis, senders, receivers, species, envelope)`` -> ``[N, (L+1)^2, C]``.

    Parameters
    ----------
    lmax, mmax : int
        Degrees and edge-frame orders (``D`` comes from ``EdgeRotation(lmax, mmax)``).
    channels : int
    radial_dims : sequence of int
        Input and hidden widths of the radial MLP (its output, ``(L+1) C``, is appended).
    num_elements : int
        With ``> 0``, learned sender and receiver element embeddings (width ``radial_dims[-1]``)
        are concatenated to the edge features, as in the paper.
    avg_degree : float
        Divides the sum over edges.
    """

    def __init__(self, lmax: int, mmax: int, channels: int, radial_dims: list[int], num_elements: int,
                 avg_degree: float) -> None:
        super().__init__()
        self.lmax, self.channels, self.avg_degree = lmax, channels, float(avg_degree)
        self.num_kept = len(m_primary_order(lmax, mmax))
        width = radial_dims[-1]
        self.edge_inputs = EdgeInputs(num_elements, width) if num_elements else None
        dims = [radial_dims[0] + (2 * width if num_elements else 0), *radial_dims[1:], (lmax + 1) * channels]
        self.rad_func = RadialMLP(dims)

    def forward(self, D: EdgeFrames, basis: Tensor, senders: Tensor, receivers: Tensor, species: Tensor,
                envelope: Tensor | None = None) -> Tensor:
        inputs = basis if self.edge_inputs is None else self.edge_inputs(basis, species[senders], species[receivers])
        e = basis.shape[0]
        if D.D.shape[1:] != (self.num_kept, (self.lmax + 1) ** 2):
            raise ValueError(f"EdgeDegreeEmbedding: frames of shape {tuple(D.D.shape[1:])}, expected "
                             f"{(self.num_kept, (self.lmax + 1) ** 2)} (EdgeRotation(lmax, mmax) of this layer)")
        m0 = self.rad_func(inputs).reshape(e, self.lmax + 1, self.channels)
        if envelope is not None:
            m0 = m0 * envelope[:, None, None]
        back = D.from_edge(m0, rescaled=True)  # m0 is the m = 0 block, the first L + 1 edge-frame rows
        return scatter_sum(back, receivers, species.shape[0]) / self.avg_degree
