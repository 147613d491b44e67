"""EquiformerV2's equivariant graph attention on eSCN convolutions (Liao et al., ICLR 2024, Sec. 3).

For edge ``j -> i`` the message input is ``[x_j, x_i]`` (2C channels) rotated into the edge frame.
A first SO(2) linear, modulated per input entry by a radial MLP of the distance basis and the two
elements, gives hidden features and, from ``m = 0``, invariant outputs: the attention logits'
inputs ``h_alpha`` and the gating scalars of the activation. Logits are ``a = dot(alpha_dot_h,
SmoothLeakyReLU(LayerNorm(h_alpha_h)))`` per head (the layer norm is the paper's attention
re-normalisation), normalised by a softmax over each receiver's edges. The hidden features pass
a separable S2 (or gate) activation and a second SO(2) linear to per-head values, which are
weighted, rotated back (degrees above ``m_max`` rescaled, as in the reference), summed per receiver
and projected by a degree-wise linear.

With an ``envelope`` the softmax weights each edge by it inside the normalisation and the
message by it again, so messages vanish smoothly at the cutoff (the paper has none: with
``envelope=None`` energies jump when an atom crosses the cutoff).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from irreps.models.equiformer.edges import EdgeContext
from irreps.nn.edge_inputs import EdgeInputs
from irreps.nn.mlp import RadialMLP, activation_module
from irreps.ops.scatter import edge_chunks, scatter_softmax
from irreps.ops.sphere import DegreeLinear, EdgeFrames, EdgeRotation, GateAct, SeparableS2Act, SO2Linear, SphereGrid


class SmoothLeakyReLU(torch.nn.Module):
    """``(1 + a) / 2 x + (1 - a) / 2 x (2 sigmoid(x) - 1)``: a smooth leaky ReLU (slope ``a`` far left)."""

    def __init__(self, negative_slope: float = 0.2) -> None:
        super().__init__()
        self.alpha = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        return 0.5 * (1 + self.alpha) * x + 0.5 * (1 - self.alpha) * x * (2 * torch.sigmoid(x) - 1)


class GraphAttention(torch.nn.Module):
    """``forward(x, edges) -> [N, (L+1)^2, out_channels]`` (see the module docstring).

    ``edges`` is the per-forward :class:`EdgeContext` (rotation matrices, distance basis, species,
    envelope), shared by all layers.
    """

    def __init__(self, lmax: int, mmax: int, channels: int, hidden_channels: int, num_heads: int,
                 alpha_channels: int, value_channels: int, out_channels: int, radial_dims: list[int],
                 num_elements: int, activation: str, use_gate_act: bool, use_attn_renorm: bool,
                 alpha_drop: float, grid_resolution: int | None, equivariance: Literal["SO(3)", "O(3)"]) -> None:
        super().__init__()
        self.lmax, self.num_heads, self.alpha_channels = lmax, num_heads, alpha_channels
        self.value_channels, self.use_gate_act = value_channels, use_gate_act
        self.edge_inputs = EdgeInputs(num_elements, radial_dims[-1]) if num_elements else None
        gating = lmax * hidden_channels if use_gate_act else hidden_channels
        self.so2_conv_1 = SO2Linear(lmax, mmax, 2 * channels, hidden_channels, num_heads * alpha_channels + gating,
                                    equivariance)
        dims = [radial_dims[0] + (2 * radial_dims[-1] if num_elements else 0), *radial_dims[1:]]
        self.rad_func = RadialMLP([*dims, self.so2_conv_1.radial_numel])
        self.alpha_norm = torch.nn.LayerNorm(alpha_channels) if use_attn_renorm else torch.nn.Identity()
        self.alpha_act = SmoothLeakyReLU()
        bound = alpha_channels**-0.5
        self.alpha_dot = torch.nn.Parameter(torch.empty(num_heads, alpha_channels).uniform_(-bound, bound))
        self.alpha_dropout = torch.nn.Dropout(alpha_drop) if alpha_drop else None
        rotation = EdgeRotation(lmax, mmax)
        if use_gate_act:
            self.act = GateAct([l for l, _ in rotation.order], hidden_channels, activation_module(activation))
        else:
            self.act = SeparableS2Act(SphereGrid(rotation.order, grid_resolution, rescale=True), activation_module(activation))
        self.so2_conv_2 = SO2Linear(lmax, mmax, hidden_channels, num_heads * value_channels, 0, equivariance)
        # the second convolution has internal weights only: its m = 0 bias is the reference's too
        self.proj = DegreeLinear(lmax, num_heads * value_channels, out_channels)

    def _values_and_logits(self, x: Tensor, edges: EdgeContext, frames: EdgeFrames, start: int,
                           stop: int) -> tuple[Tensor, Tensor]:
        """Per-head values ``[e, K, heads * value_channels]`` (edge frame) and logits ``[e, heads]`` of edges ``start:stop``."""
        senders, receivers = edges.senders[start:stop], edges.receivers[start:stop]
        inputs = edges.basis[start:stop]
        if self.edge_inputs is not None:
            inputs = self.edge_inputs(inputs, edges.species[senders], edges.species[receivers])
        # [x_sender, x_receiver] along channels from one gather: the gradient then reaches the
        # gather contiguous (a copy), where cat's slices made index_select's backward take the
        # strided scatter path, ~8x slower per element on the CPU
        e, (k, c) = senders.shape[0], x.shape[1:]
        pairs = x.index_select(0, torch.cat((senders, receivers))).view(2, e, k, c)
        message = pairs.permute(1, 2, 0, 3).reshape(e, k, 2 * c)
        message, extra = self.so2_conv_1(frames.to_edge(message), self.rad_func(inputs))
        n_alpha = self.num_heads * self.alpha_channels
        alpha_in, gating = extra.split([n_alpha, extra.shape[1] - n_alpha], 1)
        message, _ = self.so2_conv_2(self.act(gating, message))
        h = self.alpha_act(self.alpha_norm(alpha_in.reshape(-1, self.num_heads, self.alpha_channels)))
        return message, torch.einsum("ehc,hc->eh", h, self.alpha_dot)

    def forward(self, x: Tensor, edges: EdgeContext) -> Tensor:
        # Without autograd, edges go through in chunks of ~EDGE_CHUNK_ELEMENTS message entries: the
        # per-edge intermediates (gathered features, grid values) then stay a few MB and the
        # allocator reuses their memory instead of mapping fresh pages for every [E, ...] tensor
        # (E + direct F 0.88x the time at lmax 2, 0.76x at lmax 6, 3BPA x32). A recorded graph keeps
        # every chunk's intermediates for the backward anyway: chunked conservative forces measured
        # 1.27x the time with sliced chunks (each slice's gradient is a full-size zero tensor) and
        # no faster with split ones, so then all edges form one chunk.
        num_edges = edges.senders.shape[0]
        chunks = edge_chunks(num_edges, x.shape[1] * 2 * x.shape[2]) if not torch.is_grad_enabled() else [(0, num_edges)]
        frames = [edges.D.rescaled().narrow(a, b) for a, b in chunks]
        parts = [self._values_and_logits(x, edges, f, a, b) for f, (a, b) in zip(frames, chunks)]
        values, logits = (torch.cat(p) for p in zip(*parts)) if len(parts) > 1 else parts[0]  # the softmax needs all
        alpha = scatter_softmax(logits, edges.receivers, x.shape[0], edges.envelope)
        if edges.envelope is not None:
            alpha = alpha * edges.envelope[:, None]
        if self.alpha_dropout is not None:
            alpha = self.alpha_dropout(alpha)
        out = x.new_zeros(x.shape[0], x.shape[1], self.num_heads * self.value_channels)
        for f, (a, b) in zip(frames, chunks):
            v = values[a:b]
            weighted = (v.unflatten(2, (self.num_heads, self.value_channels)) * alpha[a:b, None, :, None]).flatten(2)
            out.index_add_(0, edges.receivers[a:b], f.from_edge(weighted, rescaled=True))
        return self.proj(out)
