"""SE(3)-Transformer (Fuchs, Worrall, Fischer & Welling, NeurIPS 2020) as an interatomic potential.

Each layer is the paper's equivariant self-attention (its eq. 10) followed by the norm nonlinearity:

    q_i = W_Q x_i,    k_ij = W_K(x_j (x) F_K(r_ij)),    v_ij = x_j (x) F_V(r_ij),
    a_i = sum_j alpha_ij v_ij,    alpha_ij = softmax_j(<q_i, k_ij> / sqrt(d)) per head,
    x_i <- eta(W [a_i, x_i])

Keys and values are TFN point convolutions (:class:`~irreps.models.tfn.blocks.EdgeConvolution`,
radial MLPs of a Gaussian basis, separate for keys and values), queries an equivariant linear
of the receiver's features; the logits are inner products summed over every irrep of a head, so
they are invariant (:class:`~irreps.ops.attention.InvariantAttention`). ``W [a_i, x_i]`` is the
value self-interaction ``W_V^{ll} x_i`` of the paper's eq. 10 plus the linear projection its code
applies to the attention output; ``eta`` is the paper's norm nonlinearity
``act(LayerNorm(|x|)) x / |x|`` with the layer norm over the channels of each irrep (or a gate).

Differences from the paper, each deliberate: O(3) irreps (``parity="full"`` keeps the
pseudo-tensors, hence every SO(3) path); edges within ``cutoff`` only, each weighted by a
polynomial envelope inside the softmax and again on its weight, so energies are smooth when an
atom crosses the cutoff (the paper attends over fully connected graphs); the key convolution is
channel-wise with a linear mixing of its output instead of one radial weight per pair of
channels; SiLU instead of ReLU in the radial MLPs and the nonlinearity, so forces are smooth;
no attentive self-interaction; energy from an MLP of the last layer's scalars with per-element
E0, scale and shift; forces are ``-dE/dx``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from irreps.models.registry import register_model
from irreps.models.tfn.backbone import PointCloudModel
from irreps.models.tfn.blocks import EdgeConvolution, Edges, SelfInteraction, reachable
from irreps.models.tfn.config import PointCloudConfig
from irreps.o3 import Irreps
from irreps.ops.attention import InvariantAttention
from irreps.ops.linear import Linear


@dataclass(frozen=True)
class SE3TransformerConfig(PointCloudConfig):
    """Hyperparameters of the SE(3)-Transformer: those of
    :class:`~irreps.models.tfn.config.PointCloudConfig` and

    Attributes
    ----------
    num_heads : int
        Attention heads; ``channels`` and ``key_channels`` must be multiples of it.
    key_channels : int
        Copies of each irrep in queries and keys (the paper's QM9 model: half the channels).
    norm_eps : float
        The norm nonlinearity divides by ``sqrt(|x|^2 + norm_eps^2)``: the paper's ``x / |x|`` turns
        by 180 degrees as a copy passes through zero, and forces through it blew up in training
        (validation force RMSE 1.09 -> 15.7 eV/Å in the second epoch on acac with 1e-6).

    The radial MLPs default to two hidden layers, as in the paper (32 wide).
    """

    radial_layers: int = 2
    num_heads: int = 4
    key_channels: int = 8
    norm_eps: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_heads < 1 or self.key_channels < 1:
            raise ValueError(f"num_heads and key_channels must be >= 1, got {self.num_heads} and {self.key_channels}")
        for name in ("channels", "key_channels"):
            if getattr(self, name) % self.num_heads:
                raise ValueError(f"{name}={getattr(self, name)} is not a multiple of num_heads={self.num_heads}")
        if not self.norm_eps > 0:
            raise ValueError(f"norm_eps must be > 0, got {self.norm_eps}")


class SE3TransformerLayer(torch.nn.Module):
    """``forward(x [N, irreps_in.dim], edges) -> [N, irreps_out.dim]`` (see the module docstring)."""

    def __init__(self, irreps_in: Irreps, irreps_out: Irreps, config: SE3TransformerConfig) -> None:
        super().__init__()
        self.irreps_in, self.irreps_out = irreps_in, irreps_out
        mul = irreps_in[0].mul
        values = reachable(irreps_in, config.lmax_filter, irreps_out, mul)
        # keys pair with queries, which are linear in x_i: only the irreps x_i has can score
        keys = reachable(irreps_in, config.lmax_filter, irreps_in, mul)
        irreps_key = Irreps([(config.key_channels, ir) for _, ir in keys])
        self.query = Linear(irreps_in, irreps_key)
        self.key_convolution = EdgeConvolution(irreps_in, keys, config.lmax_filter, config.radial_dims, config.activation)
        self.key_mix = Linear(keys, irreps_key)
        self.value_convolution = EdgeConvolution(irreps_in, values, config.lmax_filter, config.radial_dims,
                                                 config.activation)
        self.attention = InvariantAttention(irreps_key, values, config.num_heads)
        self.update = SelfInteraction(values, irreps_in, irreps_out, config.nonlinearity, config.activation,
                                      normalize_norm=True, norm_eps=config.norm_eps)

    def forward(self, x: Tensor, edges: Edges) -> Tensor:
        key = self.key_mix(self.key_convolution(x, edges))
        attended = self.attention(self.query(x), key, self.value_convolution(x, edges), edges.receivers, edges.envelope)
        return self.update(attended, x)


@register_model("se3_transformer", SE3TransformerConfig)
class SE3Transformer(PointCloudModel):
    """SE(3)-Transformer potential; ``model(graph)`` as in :class:`~irreps.nn.potential.EnergyModel`."""

    def __init__(self, config: SE3TransformerConfig) -> None:
        super().__init__(config)
        self.layers.extend(
            SE3TransformerLayer(irreps_in, irreps_out, config) for irreps_in, irreps_out in self.layer_irreps()
        )
