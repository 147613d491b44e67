"""Pieces the TFN layer and the SE(3)-Transformer layer share: the edges of a forward pass, the
point convolution's per-edge filter, and the self-interaction + nonlinearity that ends a layer."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from irreps.nn.mlp import MLP, activation_module
from irreps.o3 import Irreps
from irreps.ops.cutoff import polynomial_cutoff
from irreps.ops.gate import Gate
from irreps.ops.linear import Linear
from irreps.ops.norm_activation import NormActivation
from irreps.ops.tensor_product import make_convolution


@dataclass
class Edges:
    """Edges ``j -> i`` of a forward pass: ``senders`` (j), ``receivers`` (i), ``vectors`` ``r_ij`` [E, 3],
    the distance ``basis`` [E, B] and the polynomial ``envelope`` [E] (zero beyond the cutoff)."""

    senders: Tensor
    receivers: Tensor
    vectors: Tensor
    basis: Tensor
    envelope: Tensor


def build_edges(edge_index: Tensor, positions: Tensor, shifts: Tensor, basis: torch.nn.Module, cutoff: float) -> Edges:
    """``r_ij = pos[j] - pos[i] + shift`` for ``edge_index = (i, j)``; edges past ``cutoff`` get envelope 0."""
    receivers, senders = edge_index
    vectors = positions.index_select(0, senders) - positions.index_select(0, receivers) + shifts
    length = vectors.square().sum(-1).clamp_min(1e-24).sqrt()  # guarded: zero-length edges stay finite
    return Edges(senders, receivers, vectors, basis(length), polynomial_cutoff(length, cutoff))


def reachable(irreps_in: Irreps, lmax_filter: int, candidates: Irreps, channels: int) -> Irreps:
    """``channels`` copies of each irrep of ``candidates`` that ``irreps_in x Y^(<= lmax_filter)`` can produce."""
    filters = [ir for _, ir in Irreps.spherical_harmonics(lmax_filter)]
    made = {out for _, ir in irreps_in for f in filters for out in ir * f}
    return Irreps([(channels, ir) for _, ir in candidates if ir in made])


class EdgeConvolution(torch.nn.Module):
    """The TFN filter applied on every edge: ``x_j (x) (R(|r_ij|) Y(r_ij / |r_ij|))`` -> ``[E, irreps_out.dim]``.

    The radial MLP of the distance basis gives one weight per channel and Clebsch-Gordan path
    (the CG engine's channel-wise convolution, :func:`~irreps.ops.tensor_product.make_convolution`);
    ``irreps_out`` must have the multiplicity of ``irreps_in``. Not multiplied by the envelope.
    """

    def __init__(self, irreps_in: Irreps, irreps_out: Irreps, lmax_filter: int, radial_dims: tuple[int, ...],
                 activation: str) -> None:
        super().__init__()
        self.conv = make_convolution("cg", irreps_in, irreps_out, lmax_filter)
        self.irreps_in, self.irreps_out = self.conv.irreps_in, self.conv.irreps_out
        self.radial = MLP((*radial_dims, self.conv.weight_numel), activation)

    def forward(self, x: Tensor, edges: Edges) -> Tensor:
        """``x [N, irreps_in.dim]`` (node features) -> ``[E, irreps_out.dim]``."""
        return self.conv(x.index_select(0, edges.senders), edges.vectors, self.radial(edges.basis))


class SelfInteraction(torch.nn.Module):
    """Ends a layer: an equivariant linear of ``[message_i, x_i]`` (biases on ``0e``: the paper's
    self-interaction, the ``x_i`` part being the self term), then the nonlinearity.

    ``normalize_norm`` picks the SE(3)-Transformer's norm nonlinearity (unit copies times
    ``act(LayerNorm(norm))``) over TFN's (``act(norm + b)`` times the copy); ``norm_eps`` smooths the
    norm (:class:`~irreps.ops.norm_activation.NormActivation`).
    """

    def __init__(self, irreps_message: Irreps, irreps_node: Irreps, irreps_out: Irreps, nonlinearity: str,
                 activation: str, normalize_norm: bool, norm_eps: float = 1e-6) -> None:
        super().__init__()
        act = activation_module(activation)
        if nonlinearity == "gate":
            scalars = Irreps([(mul, ir) for mul, ir in irreps_out if ir.is_scalar()])
            gated = Irreps([(mul, ir) for mul, ir in irreps_out if not ir.is_scalar()])
            self.act = Gate(scalars, gated, act=act)
            if self.act.irreps_out != irreps_out:
                raise ValueError(f"SelfInteraction: gated irreps must list 0e first, got {irreps_out}")
        else:
            self.act = NormActivation(irreps_out, act=act, normalize=normalize_norm, layer_norm=normalize_norm,
                                      eps=norm_eps)
        self.irreps_out = irreps_out
        self.linear = Linear(irreps_message + irreps_node, self.act.irreps_in, biases=True)

    def forward(self, message: Tensor, x: Tensor) -> Tensor:
        """``message [N, irreps_message.dim]``, ``x [N, irreps_node.dim]`` -> ``[N, irreps_out.dim]``."""
        return self.act(self.linear(torch.cat((message, x), dim=-1)))
