"""One MACE interaction: atomic basis from an edge convolution, symmetric many-body product, update.

Per layer (Batatia et al., NeurIPS 2022, eqs. 8-11, with the residual "self-connection" of later
layers)::

    A_i = Linear( sum_j conv(Linear(h_j), r_ij, R(|r_ij|) u(|r_ij|)) / avg_degree )
    m_i = SymmetricProduct(A_i, z_i)                   (body orders 1 .. correlation)
    h_i' = Linear(m_i) [+ Linear(h_i) after the first layer]

``R`` is an MLP of the radial basis giving the convolution's per-edge weights, ``u`` the smooth envelope.
"""

from __future__ import annotations

import torch
from torch import Tensor

from irreps.o3 import Irreps
from irreps.ops.linear import Linear
from irreps.ops.many_body import ManyBodyEngine, SymmetricProduct
from irreps.ops.scatter import scatter_sum
from irreps.ops.tensor_product import make_convolution
from irreps.nn.mlp import RadialMLP


def natural_irreps(channels: int, lmax: int) -> Irreps:
    """``C x 0e + C x 1o + ... + C x (lmax, (-1)^lmax)``."""
    return Irreps([(channels, (l, (-1) ** l)) for l in range(lmax + 1)])


class Interaction(torch.nn.Module):
    """MACE interaction block ``h [N, irreps_in.dim] -> h' [N, irreps_out.dim]``; see the module docstring.

    Parameters
    ----------
    irreps_in : Irreps
        Node features (sphere functions, natural parity).
    channels, lmax : int
        The atomic basis is ``natural_irreps(channels, lmax)``; the filter has degree ``lmax``.
    lmax_out : int
        Degree of the updated features.
    correlation, num_elements : int
        Of the many-body product (element-dependent weights).
    radial_dims : tuple of int
        ``(num_basis, hidden...)`` of the radial MLP; its output width is the convolution's.
    engine : {'gaunt', 'cg'}
        Of both the convolution and the product.
    odd_paths : bool
        'cg' only: odd paths in the product.
    avg_degree : float
        Mean neighbours per atom; the neighbour sum is divided by it.
    residual : bool
        Add a linear self-connection of the input features.
    """

    def __init__(
        self, irreps_in: Irreps, channels: int, lmax: int, lmax_out: int, correlation: int, num_elements: int,
        radial_dims: tuple[int, ...], engine: ManyBodyEngine, odd_paths: bool, avg_degree: float, residual: bool,
    ) -> None:
        super().__init__()
        self.irreps_in = Irreps(irreps_in)
        irreps_basis = natural_irreps(channels, lmax)
        self.irreps_out = natural_irreps(channels, lmax_out)
        self.avg_degree = float(avg_degree)
        self.linear_up = Linear(self.irreps_in, self.irreps_in)
        self.conv = make_convolution(engine, self.irreps_in, irreps_basis, lmax_filter=lmax)
        # layer norms keep the hidden widths at unit scale whatever the basis' size; the envelope
        # multiplies the output (a layer norm would undo it on the input). Weights start near 1, so
        # the factorised Gaunt path weights (a product of three) do not start near 0.
        self.radial = RadialMLP((*radial_dims, self.conv.weight_numel))
        torch.nn.init.normal_(self.radial[-1].weight, std=0.5 * radial_dims[-1] ** -0.5)
        torch.nn.init.ones_(self.radial[-1].bias)
        self.linear_basis = Linear(irreps_basis, irreps_basis)
        self.product = SymmetricProduct(irreps_basis, lmax_out, correlation, num_elements, engine, odd_paths)
        self.linear_out = Linear(self.irreps_out, self.irreps_out)
        self.skip = Linear(self.irreps_in, self.irreps_out) if residual else None

    def forward(self, h: Tensor, species: Tensor, senders: Tensor, receivers: Tensor, vectors: Tensor,
                radial_basis: Tensor, envelope: Tensor) -> Tensor:
        """``h [N, irreps_in.dim]``, ``species [N]``, edges ``j -> i`` (``r_ij`` = ``vectors [E, 3]``),
        ``radial_basis [E, B]``, ``envelope [E]`` -> ``[N, irreps_out.dim]``."""
        weights = self.radial(radial_basis) * envelope[:, None]
        messages = self.conv(self.linear_up(h).index_select(0, senders), vectors, weights)
        basis = self.linear_basis(scatter_sum(messages, receivers, h.shape[0]) / self.avg_degree)
        out = self.linear_out(self.product(basis, species))
        return out if self.skip is None else out + self.skip(h)
