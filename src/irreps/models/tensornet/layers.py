"""TensorNet's building blocks: the tensor embedding and the interaction layer.

Features are ``[N, 9, C]`` orthonormal components of 3x3 tensors (:mod:`irreps.ops.cartesian`);
see :mod:`irreps.models.tensornet.model` for the model and the paper.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from irreps.nn.edges import EdgePairing
from irreps.nn.mlp import MLP
from irreps.ops.cartesian import (
    PART_SIZES, PARTS, components_to_matrix, edge_components, matrix_square, matrix_to_components, o3_product,
    so3_product,
)
from irreps.ops.scatter import gather_scale_scatter


def _rows_linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``F.linear`` on the last dimension of ``[..., K, C_in]`` as one 2D product.

    A part of ``[N, 9, C]`` features is a strided slice that cannot be flattened as a view;
    reshaped here (a copy a compiler fuses into its producer), the product is one matrix
    multiply. Left to ``F.linear``, a graph recording with symbolic sizes turns it into a
    batched product with the weight expanded per atom (``[N, C, C]``), many times slower.
    """
    out = torch.nn.functional.linear(x.reshape(-1, x.shape[-1]), weight, bias)
    return out.view(*x.shape[:-1], weight.shape[0])


def _mix_parts(linears: torch.nn.ModuleList, x: Tensor) -> list[Tensor]:
    """Channel linear per part: ``[N, 9, C]`` -> I, A, S parts ``[N, 1|3|5, C]``, each with its own weights."""
    return [_rows_linear(part, linear.weight, linear.bias) for linear, part in zip(linears, x.split(PART_SIZES, dim=1))]


def _per_part(linear: torch.nn.Linear, h: Tensor) -> list[Tensor]:
    """The three ``C``-wide blocks of ``linear(h)`` (output ``3C``, part-major) as separate tensors.

    Slicing the weights rather than the ``[E, 3C]`` output keeps autograd from allocating
    full-size zero gradients for every slice of an edge tensor.
    """
    c = linear.out_features // 3
    return [
        torch.nn.functional.linear(h, linear.weight[p * c : (p + 1) * c], linear.bias[p * c : (p + 1) * c])
        for p in range(3)
    ]


def _expand(values: Tensor, pairing: EdgePairing | None) -> Tensor:
    """Per-pair values ``[E_half, ...]`` to every edge ``[E, ...]`` (identity without a pairing)."""
    return values if pairing is None else values.index_select(0, pairing.expand)


def _normalise(x: Tensor) -> Tensor:
    """``X / (||X||^2 + 1)`` per atom and channel, ``[N, 9, C]``.

    The reciprocal is taken of the ``[N, 1, C]`` norms and the features multiplied by it: a
    division of the ``[N, 9, C]`` tensor costs more, forward and backward (same value to rounding).
    """
    return x * (x.square().sum(1, keepdim=True) + 1.0).reciprocal()


class TensorEmbedding(torch.nn.Module):
    """Initial rank-2 features from the neighbourhood of each atom."""

    def __init__(self, num_elements: int, hidden_dim: int, num_rbf: int, activation: str):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.distance_proj = torch.nn.Linear(num_rbf, 3 * hidden_dim)
        self.emb = torch.nn.Embedding(num_elements, hidden_dim)
        self.emb2 = torch.nn.Linear(2 * hidden_dim, hidden_dim)
        self.linears_tensor = torch.nn.ModuleList(
            torch.nn.Linear(hidden_dim, hidden_dim, bias=False) for _ in range(3)
        )
        self.linears_scalar = MLP((hidden_dim, 2 * hidden_dim, 3 * hidden_dim), activation, activate_last=True)
        self.init_norm = torch.nn.LayerNorm(hidden_dim)

    def pair_table(self) -> Tensor:
        """``emb2([emb(Z_i), emb(Z_j)])`` for every element pair, ``[K * K, C]`` (row ``K * s_i + s_j``).

        The linear map of a concatenation is a sum of two maps, so the table costs K^2 C
        instead of a ``2C x C`` product per edge.
        """
        c = self.hidden_dim
        w = self.emb2.weight
        left = self.emb.weight @ w[:, :c].T
        right = self.emb.weight @ w[:, c:].T
        return (left[:, None, :] + right[None, :, :] + self.emb2.bias).reshape(-1, c)

    def forward(
        self, species: Tensor, edge_index: Tensor, unit: Tensor, rbf: Tensor, fcut: Tensor,
        pairing: EdgePairing | None, rbf_self: Tensor, present: Tensor, local: Tensor,
    ) -> Tensor:
        """Species [N], edges [2, E], unit vectors [E, 3], basis [E_half, R], cutoff [E],
        basis at r = 0 [1, R], the species present [G] and each atom's row among them [N]
        -> ``X`` [N, 9, C]."""
        k = self.emb.num_embeddings
        table = self.pair_table()
        num_atoms = species.shape[0]
        if present.shape[0] * num_atoms <= edge_index.shape[1]:
            parts = self._grouped_sums(local, present, table, edge_index, unit, rbf, fcut, pairing, num_atoms)
        else:
            parts = self._edge_sums(species, table, edge_index, unit, rbf, fcut, pairing, num_atoms)
        # The self-loop i -> i (r = 0, no direction) contributes to the identity part only.
        self_radial = _per_part(self.distance_proj, rbf_self)[0]
        parts[0] = parts[0] + (math.sqrt(3.0) * self_radial * table.index_select(0, species * (k + 1)))[:, None, :]
        x = torch.cat(parts, dim=1)
        scaling = self.linears_scalar(self.init_norm(x.square().sum(1))).unflatten(1, (3, self.hidden_dim))
        parts = _mix_parts(self.linears_tensor, x)
        return torch.cat([part * scaling[:, p : p + 1] for p, part in enumerate(parts)], dim=1)

    def _edge_sums(
        self, species: Tensor, table: Tensor, edge_index: Tensor, unit: Tensor, rbf: Tensor, fcut: Tensor,
        pairing: EdgePairing | None, num_atoms: int,
    ) -> list[Tensor]:
        """Neighbour sums of the I, A, S parts ``[N, 1|3|5, C]``, one ``[E, C]`` weight per part and edge."""
        i, j = edge_index
        zij = table.index_select(0, species[i] * self.emb.num_embeddings + species[j]) * fcut[:, None]
        geometry = edge_components(unit)
        edges = torch.arange(i.shape[0], device=i.device)
        return [
            gather_scale_scatter(geometry[:, part, None], _expand(radial, pairing) * zij, edges, i, num_atoms)
            for part, radial in zip(PARTS, _per_part(self.distance_proj, rbf))
        ]

    def _grouped_sums(
        self, local: Tensor, present: Tensor, table: Tensor, edge_index: Tensor, unit: Tensor, rbf: Tensor,
        fcut: Tensor, pairing: EdgePairing | None, num_atoms: int,
    ) -> list[Tensor]:
        """The same sums as :meth:`_edge_sums`, reordered to touch ``[E, R + 1]`` instead of ``[E, C]``.

        The radial projection is linear and the pair embedding depends on edge ij only through
        the species of j, so ``sum_j g(u_ij) fcut_ij (W rbf_ij + b) T[s_i, s_j]`` is computed as
        moments ``Q[i, s, :, r] = sum_{j of species s} g(u_ij) fcut_ij [rbf_ij, 1]_r``
        ``[N, G, 9, R + 1]`` (G species present), one product with ``[W, b]`` and a sum over
        ``s`` weighted by ``T[s_i, s]``. Chosen when ``G N <= E``.
        """
        i, j = edge_index
        g, c = present.shape[0], self.hidden_dim
        moments = torch.cat((rbf, rbf.new_ones(rbf.shape[0], 1)), dim=1)
        weights = fcut[:, None] * _expand(moments, pairing)
        edges = torch.arange(i.shape[0], device=i.device)
        geometry = edge_components(unit)[:, :, None]
        q = gather_scale_scatter(geometry, weights, edges, i * g + local[j], num_atoms * g)  # [N G, 9, R + 1]
        k = self.emb.num_embeddings
        pair = table.view(k, k, c)[present[local]][:, present]  # [N, G, C]: T[s_i, s]
        w, b = self.distance_proj.weight, self.distance_proj.bias
        return [
            (_rows_linear(q_part, torch.cat((w[p * c : (p + 1) * c], b[p * c : (p + 1) * c, None]), 1))
             .view(num_atoms, g, size, c) * pair[:, :, None, :]).sum(1)
            for p, (q_part, size) in enumerate(zip(q.split(PART_SIZES, dim=1), PART_SIZES))
        ]


class Interaction(torch.nn.Module):
    """One TensorNet interaction layer on ``[N, 9, C]`` component features."""

    def __init__(self, hidden_dim: int, num_rbf: int, activation: str, equivariance: str):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.linears_scalar = MLP((num_rbf, hidden_dim, 2 * hidden_dim, 3 * hidden_dim), activation, activate_last=True)
        self.linears_tensor = torch.nn.ModuleList(
            torch.nn.Linear(hidden_dim, hidden_dim, bias=False) for _ in range(6)
        )
        self.product = o3_product if equivariance == "O(3)" else so3_product

    def edge_weights(self, rbf: Tensor, fcut: Tensor, pairing: EdgePairing | None) -> list[Tensor]:
        """Radial MLP times cutoff for the I, A and S messages: three ``[E_half, C]`` tensors.

        Evaluated once per reverse pair (``rbf``, ``fcut`` are ``[E_half, ...]``); the
        message passing gathers them per edge through ``pairing.expand``. Three contiguous
        products (one ``[E_half, 3C]`` product split into strided views measured 5-7% slower
        for the whole model: the message passing gathers rows of these tensors).
        """
        *hidden, last, act = self.linears_scalar
        h = torch.nn.Sequential(*hidden)(rbf)
        return [act(w) * fcut[:, None] for w in _per_part(last, h)]

    def forward(
        self, x: Tensor, edge_index: Tensor, rbf: Tensor, fcut: Tensor, pairing: EdgePairing | None,
        rbf_self: Tensor,
    ) -> Tensor:
        i, j = edge_index
        x = _normalise(x)
        y = _mix_parts(self.linears_tensor[:3], x)
        self_weights = self.edge_weights(rbf_self, rbf_self.new_ones(1), None)
        expand = None if pairing is None else pairing.expand
        messages = torch.cat(
            [
                gather_scale_scatter(part, w, j, i, x.shape[0], expand) + w_self * part  # + the self-loop's message
                for part, w, w_self in zip(y, self.edge_weights(rbf, fcut, pairing), self_weights)
            ],
            dim=1,
        )
        y = torch.cat(y, dim=1)
        z = matrix_to_components(self.product(components_to_matrix(y), components_to_matrix(messages)))
        dx = torch.cat(_mix_parts(self.linears_tensor[3:], _normalise(z)), dim=1)
        return x + dx + matrix_to_components(matrix_square(components_to_matrix(dx)))


# version 2: self-loops as in TorchMD-Net (version 1 files predate them)
