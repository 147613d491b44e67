"""Multi-head graph attention with invariant logits (the SE(3)-Transformer's, Fuchs et al. 2020).

For a receiver ``i`` with query ``q_i`` and the keys ``k_ij`` and values ``v_ij`` of its edges,
head ``h`` computes

    a_ij^h = <q_i^h, k_ij^h> / sqrt(d_h),    alpha_ij^h = softmax_j(a_ij^h),    out_i^h = sum_j alpha_ij^h v_ij^h

where ``<., .>`` sums the products of matching components over every irrep entry of the head's
channels (each entry's ``mul`` channels are cut into ``num_heads`` equal groups). An inner product
of two copies of the same irrep is invariant, so the logits and weights are invariant and the
output transforms like the values. ``d_h`` is the number of key components per head.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from irreps.o3 import Irreps
from irreps.ops.scatter import scatter_softmax, scatter_sum


def head_assignment(irreps: Irreps, num_heads: int, owner: str) -> Tensor:
    """One-hot ``[irreps.dim, num_heads]``: the head of every component (channels split in equal groups per entry)."""
    rows = []
    for mul, ir in irreps:
        if mul % num_heads:
            raise ValueError(f"{owner}: every multiplicity must be divisible by num_heads={num_heads}, got {irreps}")
        heads = torch.arange(num_heads).repeat_interleave(mul // num_heads * ir.dim)
        rows.append(heads)
    index = torch.cat(rows) if rows else torch.zeros(0, dtype=torch.long)
    return torch.nn.functional.one_hot(index, num_heads).to(torch.get_default_dtype())


class InvariantAttention(torch.nn.Module):
    """``forward(query [N, key.dim], key [E, key.dim], value [E, value.dim], receivers [E]) -> [N, value.dim]``.

    Parameters
    ----------
    irreps_key : Irreps or str
        Layout of queries and keys (same irreps: only matching copies pair up).
    irreps_value : Irreps or str
    num_heads : int
        Every multiplicity of both irreps must be divisible by it.

    The module has no parameters: queries, keys and values come from the caller's layers.
    """

    def __init__(self, irreps_key: Irreps | str, irreps_value: Irreps | str, num_heads: int) -> None:
        super().__init__()
        if num_heads < 1:
            raise ValueError(f"InvariantAttention: num_heads must be >= 1, got {num_heads}")
        self.irreps_key, self.irreps_value = Irreps(irreps_key), Irreps(irreps_value)
        self.irreps_out = self.irreps_value
        self.num_heads = num_heads
        if self.irreps_key.dim == 0:
            raise ValueError("InvariantAttention: irreps_key is empty")
        self.register_buffer("_key_heads", head_assignment(self.irreps_key, num_heads, "InvariantAttention"), persistent=False)
        self.register_buffer("_value_heads", head_assignment(self.irreps_value, num_heads, "InvariantAttention").T.contiguous(),
                             persistent=False)
        self.scale = 1.0 / math.sqrt(self.irreps_key.dim // num_heads)

    def logits(self, query: Tensor, key: Tensor, receivers: Tensor) -> Tensor:
        """``[E, num_heads]``: scaled inner products of each edge's key with its receiver's query."""
        return (query.index_select(0, receivers) * key) @ self._key_heads.to(key.dtype) * self.scale

    def forward(
        self, query: Tensor, key: Tensor, value: Tensor, receivers: Tensor, weights: Tensor | None = None
    ) -> Tensor:
        """Attend.

        Parameters
        ----------
        query : Tensor [N, irreps_key.dim]
            One per receiving atom.
        key : Tensor [E, irreps_key.dim]
        value : Tensor [E, irreps_value.dim]
        receivers : Tensor [E] (int64)
            ``edge_index[0]``: the atom ``i`` whose softmax each edge enters.
        weights : Tensor [E], optional
            Edge weights in ``[0, 1]`` (a cutoff envelope): each term is weighted inside the
            softmax (:func:`~irreps.ops.scatter.scatter_softmax`) and the weights multiplied by
            it again, so an edge fades out smoothly at the cutoff even when it is its receiver's
            only one. Without weights every receiver's weights sum to one.

        Returns
        -------
        Tensor [N, irreps_value.dim]
            Zero for receivers without edges.
        """
        num_nodes = query.shape[0]
        if query.shape[-1] != self.irreps_key.dim or key.shape[-1] != self.irreps_key.dim:
            raise ValueError(
                f"InvariantAttention: query and key need last size {self.irreps_key.dim} ({self.irreps_key}), "
                f"got {query.shape[-1]} and {key.shape[-1]}"
            )
        if value.shape[-1] != self.irreps_value.dim:
            raise ValueError(f"InvariantAttention: value needs last size {self.irreps_value.dim} ({self.irreps_value}), got {value.shape[-1]}")
        if not key.shape[0] == value.shape[0] == receivers.shape[0]:
            raise ValueError(
                f"InvariantAttention: key, value and receivers must have one row per edge, got "
                f"{key.shape[0]}, {value.shape[0]} and {receivers.shape[0]}"
            )
        alpha = self.attention_weights(query, key, receivers, weights)
        weighted = value * (alpha @ self._value_heads.to(value.dtype))
        return scatter_sum(weighted, receivers, num_nodes)

    def attention_weights(self, query: Tensor, key: Tensor, receivers: Tensor, weights: Tensor | None = None) -> Tensor:
        """``alpha [E, num_heads]``: softmax of the logits over each receiver's edges (times ``weights``)."""
        alpha = scatter_softmax(self.logits(query, key, receivers), receivers, query.shape[0], weights)
        return alpha if weights is None else alpha * weights[:, None]

    def extra_repr(self) -> str:
        return f"key={self.irreps_key}, value={self.irreps_value}, num_heads={self.num_heads}"
